"""The probe's records, typed: one system's checks and verdict (SystemRecord), the status document
(data/status.json: Status) and one history line (data/status-history.jsonl: HistoryLine).

The probe (labdocs/probe/) builds them; STATUS.md, the badges, the charts and the site's hooks read them.
Only what every version wrote is required (a run's time and target, a record's system, a drift item's kind
and message); every other field has a default, so a file written before a field existed still reads. A value
of the wrong type, or a key no version wrote, fails with the file, the line (history) and the key
(StatusInvalid).

The files keep the keys each check set, in the order they are declared here (`exclude_unset`): a host
that is down has no speed figures, not a row of nulls. Declare a new field where it is set in the
check's code path, so the order of the written keys stays that of the code.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from labdocs.paths import write_atomic

Num = int | float          # kept as written: 3 stays 3, 3.0 stays 3.0
FORMAT = "labdocs/observed/records.py"

# What a drift item's `kind` says (labdocs/probe/verdict.py decides which apply).
DRIFT_KINDS = {
    "not_vllm": "not a vLLM server",
    "garbage": "garbage response",
    "model_id": "model id mismatch",
    "context_length": "context length mismatch",
    "model_file": "model file mismatch",
    "speed": "decode speed below tolerance",
    "ttft": "time to first token above tolerance",
    "tool_format": "tool-call format mismatch",
    "check_failed": "a check failed",
}


class StatusInvalid(ValueError):
    """A status or history file that does not follow the records below: `path[:line]: key: why`."""

    def __init__(self, path: Path | str, line: int | None, key: str, why: str):
        self.path, self.line, self.key, self.why = str(path), line, key, why
        where = f"{path}:{line}" if line else str(path)
        super().__init__(f"{where}: {key}: {why} (format: {FORMAT})")


class Record(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    def dump(self) -> dict:
        """The record as the files hold it: the keys that were set, JSON types."""
        return self.model_dump(mode="json", by_alias=True, exclude_unset=True)


# --- the checks -------------------------------------------------------------------------------------

class Evidence(Record):
    """Why an answer is not what vLLM sends: kind not_vllm (well-formed, another server) or garbage."""

    kind: str
    message: str


class Drift(Record):
    """One fact the server contradicts; kind is a key of DRIFT_KINDS."""

    kind: str
    message: str


class HttpCheck(Record):
    """What every check of one endpoint records first (fields keep this order in the files: base first)."""

    ok: bool | None = None
    skipped: str | None = None
    status: int | None = None
    latency_ms: Num | None = None
    error: str | None = None
    evidence: list[Evidence] = Field(default_factory=list)


class HealthCheck(HttpCheck):
    down: bool = False
    summary: str | None = None


class VersionCheck(HttpCheck):
    version: str | None = None
    summary: str | None = None


class ModelsCheck(HttpCheck):
    served: list[str] = Field(default_factory=list)
    expected_id: str | None = None
    id_match: bool | None = None
    max_model_len: int | None = None
    expected_context: int | None = None
    context_match: bool | None = None
    owned_by: str | None = None
    summary: str | None = None


class PropsCheck(HttpCheck):
    """llama-server's /props: the model file it opened, its context and chat template (llama.cpp systems only)."""

    build: str | None = None
    model_file: str | None = None                        # the file name of model_path
    expected_model_file: str | None = None               # the data's first GGUF file
    model_file_match: bool | None = None
    n_ctx: int | None = None
    expected_context: int | None = None
    context_match: bool | None = None
    chat_template_chars: int | None = None               # the template it applies (--jinja: the model's own)
    chat_template_sha256: str | None = None              # its first 12 hex digits: a changed template shows
    supports_tool_calls: bool | None = None              # chat_template_caps: the template renders tool calls
    summary: str | None = None


class MetricsCheck(HttpCheck):
    vllm_series: int | None = None
    sources: dict[str, str] = Field(default_factory=dict)      # value -> the metric name it was read from
    requests_running: Num | None = None
    requests_waiting: Num | None = None
    kv_cache_usage_pct: Num | None = None
    generation_tokens_total: Num | None = None
    prompt_tokens_total: Num | None = None
    prefix_cache_hit_rate_pct: Num | None = None
    summary: str | None = None


class SpeedCheck(Record):
    """A streamed chat completion, timed (labdocs/probe/speed.py), then read against the documented
    speed and the bandwidth ceiling (labdocs/probe/run.py)."""

    ok: bool | None = None
    skipped: str | None = None
    # the measurement
    model: str | None = None
    max_tokens: int | None = None
    ttft_s: Num | None = None
    decode_tokens_per_s: Num | None = None
    completion_tokens: int | None = None
    tokens_counted_from: str | None = None               # usage | chunks
    chunks_with_text: int = 0
    total_s: Num | None = None
    finish_reason: str | None = None
    sample: str = ""
    error: str | None = None
    # timeout, refused, unreachable, protocol, garbage, http, not_streamed, empty, too_short
    error_kind: str | None = None
    status: int | None = None
    # the reading
    documented_tokens_per_s: Num | None = None
    ceiling: dict[str, Any] | None = None                # labdocs/model/ceiling.py's bandwidth_ceiling
    documented_pct_of_ceiling: Num | None = None
    documented_summary: str | None = None
    ttft_limit_s: Num | None = None
    drop_tolerance_pct: Num | None = None
    min_allowed_tokens_per_s: Num | None = None
    compared: bool = False
    below_tolerance: bool | None = None
    ttft_above_tolerance: bool | None = None
    not_compared_why: str | None = None
    measured_pct_of_ceiling: Num | None = None
    summary: str | None = None


class ToolCall(Record):
    name: str | None = None
    arguments: Any = None


class ForcedCall(Record):
    """tool_choice=auto with the output forced to one call in `format`."""

    format: str
    outcome: str = "error"        # parsed | content | not_honored | auto_rejected | error
    param: str | None = None      # structured_outputs | guided_regex
    tool_calls: list[ToolCall] = Field(default_factory=list)
    content: str = ""
    error: str | None = None      # after content: a second try may fail after a first one answered


class RequiredCut(Record):
    """tool_choice=required, cut at a few tokens: which syntax the server forces calls into."""

    outcome: str                  # parsed | cut | error
    error: str | None = None
    syntax: str | None = None
    text: str = ""
    tool_calls: list[ToolCall] = Field(default_factory=list)
    max_tokens: int | None = None


class RequiredCall(Record):
    """tool_choice=required with a strict tool, to the end."""

    outcome: str                  # tool_calls | content | empty | error
    error: str | None = None
    tool_calls: list[ToolCall] = Field(default_factory=list)
    content: str = ""
    syntax: str | None = None


class UnforcedCall(Record):
    """tool_choice=auto, nothing forced: does the model call the tool by itself?"""

    outcome: str                  # tool_calls | text_call | no_call | auto_rejected | error
    error: str | None = None
    tool_calls: list[ToolCall] = Field(default_factory=list)
    syntax: str | None = None
    content: str = ""


class ToolObservations(Record):
    forced_hermes: ForcedCall | None = None
    forced_qwen3_xml: ForcedCall | None = Field(default=None, alias="forced_qwen3-xml")
    required_cut: RequiredCut | None = None
    required: RequiredCall | None = None
    harmony_client_view: str | None = None       # openai | harmony-text | None (not seen)
    unforced: UnforcedCall | None = None

    def forced(self, fmt: str) -> ForcedCall | None:
        return getattr(self, "forced_" + fmt.replace("-", "_"), None)

    def set_forced(self, fmt: str, call: ForcedCall) -> None:
        setattr(self, "forced_" + fmt.replace("-", "_"), call)

    def requests(self) -> list[ForcedCall | RequiredCut | RequiredCall | UnforcedCall]:
        """The observations that were requests (not the conclusion drawn from them)."""
        return [o for o in (self.forced_hermes, self.forced_qwen3_xml, self.required_cut, self.required,
                            self.unforced) if o is not None]


class ToolFormatCheck(Record):
    ok: bool | None = None
    skipped: str | None = None
    status: str | None = None          # confirmed | mismatch | inconclusive | error
    declared_format: str | None = None
    declared_parser: str | None = None
    auto_tool_choice_declared: bool | None = None
    native_format: str | None = None
    native_format_source: str | None = None
    observed_format: str | None = None
    checked: list[str] = Field(default_factory=list)
    not_concluded: list[str] = Field(default_factory=list)
    mismatches: list[str] = Field(default_factory=list)
    observations: ToolObservations = Field(default_factory=ToolObservations)
    error: str | None = None
    summary: str | None = None


class InternalCheck(Record):
    """A bug in the probe itself, recorded instead of a check's result."""

    ok: bool | None = None
    error: str | None = None
    summary: str | None = None


class Checks(Record):
    health: HealthCheck | None = None
    version: VersionCheck | None = None
    models: ModelsCheck | None = None
    props: PropsCheck | None = None
    metrics: MetricsCheck | None = None
    speed: SpeedCheck | None = None
    tool_format: ToolFormatCheck | None = None
    internal: InternalCheck | None = None


class SystemRecord(Record):
    """One system's probe: where, what was checked, and the verdict (labdocs/probe/verdict.py)."""

    system: str
    name: str | None = None
    host: str | None = None
    port: int | None = None
    url: str | None = None
    probed_url: str | None = None
    model_id: str | None = None
    engine: str | None = None          # the engine the data names (labdocs/engines): vllm | llama.cpp
    started_at: str | None = None
    verdict: str | None = None         # up | down | drift
    drift: list[Drift] = Field(default_factory=list)
    down_reason: str | None = None
    checks: Checks = Field(default_factory=Checks)
    probe_error: str | None = None
    duration_s: Num | None = None


# --- the files ----------------------------------------------------------------------------------------

_UNION_TAGS = {"int", "float", "str", "bool"}


def _invalid(path: Path | str, line: int | None, exc: ValidationError) -> StatusInvalid:
    """The first problem pydantic found, as `key: why` in the file's own terms."""
    err = exc.errors()[0]
    # a union (Num) adds its member's name to the location: not a key of the file
    loc = [p for p in err["loc"] if p not in _UNION_TAGS]
    key = ".".join(str(p) for p in loc) or "top level"
    why = "no such key in this format" if err["type"] == "extra_forbidden" else err["msg"]
    if len(loc) < len(err["loc"]) and err["loc"][-1] in ("int", "float"):
        why = "Input should be a number"
    if err["type"] not in ("extra_forbidden", "missing"):
        why += f" (found {err.get('input')!r})"
    return StatusInvalid(path, line, key, why)


class Status(Record):
    """data/status.json: the last run (test-results/status/status.json for the lab)."""

    checked_at: str
    target: str                        # lab | live
    run_url: str | None = None         # the CI run that probed; the status page links it
    systems: dict[str, SystemRecord] = Field(default_factory=dict)

    @classmethod
    def of(cls, records: list[SystemRecord], target: str, checked_at: str, run_url: str | None = None) -> Status:
        fields: dict[str, Any] = {"checked_at": checked_at, "target": target}
        if run_url:
            fields["run_url"] = run_url
        return cls(**fields, systems={r.system: r for r in records})

    @classmethod
    def load(cls, path: Path | str) -> Status | None:
        """The last run's document, None if there is none yet; StatusInvalid names what is wrong."""
        try:
            text = Path(path).read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        try:
            raw = json.loads(text)
        except ValueError as exc:
            raise StatusInvalid(path, None, "top level", f"not JSON: {exc}") from None
        if not isinstance(raw, dict):
            raise StatusInvalid(path, None, "top level", f"expected an object, found {type(raw).__name__}")
        try:
            return cls.model_validate(raw)
        except ValidationError as exc:
            raise _invalid(path, None, exc) from None

    def write(self, path: Path | str) -> None:
        write_atomic(path, json.dumps(self.dump(), indent=2, ensure_ascii=False) + "\n")


class HistorySystem(Record):
    verdict: str | None = None
    drift: list[str] = Field(default_factory=list)     # the drift kinds
    health_latency_ms: Num | None = None
    ttft_s: Num | None = None
    decode_tokens_per_s: Num | None = None
    measured_pct_of_ceiling: Num | None = None
    tool_format: str | None = None                     # the tool-format check's status
    served_model: str | None = None
    version: str | None = None

    @classmethod
    def of(cls, rec: SystemRecord) -> HistorySystem:
        checks = rec.checks
        speed, models = checks.speed or SpeedCheck(), checks.models or ModelsCheck()
        return cls(verdict=rec.verdict, drift=[d.kind for d in rec.drift],
                   health_latency_ms=(checks.health or HealthCheck()).latency_ms,
                   ttft_s=speed.ttft_s, decode_tokens_per_s=speed.decode_tokens_per_s,
                   measured_pct_of_ceiling=speed.measured_pct_of_ceiling,
                   tool_format=(checks.tool_format or ToolFormatCheck()).status,
                   served_model=(models.served or [None])[0],
                   version=(checks.version or VersionCheck()).version)


class HistoryLine(Record):
    """One line of data/status-history.jsonl: a run, compact."""

    checked_at: str | None = None
    target: str | None = None
    systems: dict[str, HistorySystem] = Field(default_factory=dict)

    @classmethod
    def of(cls, status: Status) -> HistoryLine:
        return cls(checked_at=status.checked_at, target=status.target,
                   systems={key: HistorySystem.of(rec) for key, rec in status.systems.items()})

    def line(self) -> str:
        return json.dumps(self.model_dump(mode="json"), separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def load_all(cls, path: Path | str) -> list[HistoryLine]:
        """Every run in the file, oldest first. A line that is not JSON (cut short) is skipped, as the
        history is only a chart's input; a JSON line of the wrong shape fails with its number and key."""
        try:
            text = Path(path).read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        out = []
        for number, line in enumerate(text.splitlines(), start=1):
            try:
                raw = json.loads(line)
            except ValueError:
                continue
            if not isinstance(raw, dict):
                raise StatusInvalid(path, number, "top level", f"expected an object, found {type(raw).__name__}")
            try:
                out.append(cls.model_validate(raw))
            except ValidationError as exc:
                raise _invalid(path, number, exc) from None
        return out
