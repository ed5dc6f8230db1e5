"""From a system's checks to its verdict: up, down or drift, with the list of drift items. The only
place that decides a verdict: the probe records checks, this module concludes.

down   the host does not answer /health (refused, timed out, unreachable) or says it is unhealthy (5xx)
drift  it answers, but not as the data declares; each item is a Drift(kind, message) with kind one of
       DRIFT_KINDS; a bug in the probe itself (record.probe_error) is drift too (check_failed)
up     everything that was checked is as declared (checks that could not conclude are not drift)
"""

from __future__ import annotations

from labdocs.observed.records import (DRIFT_KINDS, Checks, Drift, ModelsCheck, SpeedCheck, SystemRecord,
                                      ToolFormatCheck)

__all__ = ["DRIFT_KINDS", "decide", "exit_code"]


def decide(record: SystemRecord) -> SystemRecord:
    """Fill record.verdict, .drift and .down_reason from record.checks (and .probe_error); returns it."""
    health = record.checks.health
    record.drift = []
    record.down_reason = None
    if health is not None and health.down:
        record.verdict = "down"
        record.down_reason = health.error or "no answer"
        record.drift = _probe_error(record)      # listed, though down says more
        return record
    items = _evidence(record.checks) + _declared(record.checks)
    if not any(i.kind in ("not_vllm", "garbage") for i in items):
        items += _failed(record.checks)
    record.drift = items + _probe_error(record)
    record.verdict = "drift" if record.drift else "up"
    return record


def _probe_error(record: SystemRecord) -> list[Drift]:
    """A bug in the probe itself: what it did check may be fine, but the system was not fully checked."""
    return [Drift(kind="check_failed", message=f"probe error: {record.probe_error}")] if record.probe_error else []


def _evidence(checks: Checks) -> list[Drift]:
    """The server is not vLLM, or answers garbage: the checks' evidence, one item per kind."""
    evidence: dict[str, list[str]] = {}
    for check in (checks.health, checks.version, checks.models, checks.props, checks.metrics):
        for ev in (check.evidence if check is not None else []):
            evidence.setdefault(ev.kind, []).append(ev.message)
    speed = checks.speed or SpeedCheck()
    if speed.error_kind == "garbage":
        evidence.setdefault("garbage", []).append(f"chat stream: {speed.error}")
    return [Drift(kind=kind, message=f"{DRIFT_KINDS[kind]}: " + "; ".join(evidence[kind]))
            for kind in ("not_vllm", "garbage") if kind in evidence]


def _declared(checks: Checks) -> list[Drift]:
    """The facts the data declares that the server contradicts."""
    items = []
    models = checks.models or ModelsCheck()
    if models.served and not models.id_match:
        items.append(Drift(kind="model_id", message=(
            f"serves {', '.join(models.served)}, not the documented {models.expected_id}")))
    if models.context_match is False:
        items.append(Drift(kind="context_length", message=(
            f"max_model_len {models.max_model_len}, documented context_length {models.expected_context}")))
    props = checks.props
    if props is not None and props.model_file_match is False:
        items.append(Drift(kind="model_file", message=(
            f"/props: serves {props.model_file}, not the documented {props.expected_model_file}")))
    if props is not None and props.context_match is False and models.context_match is not False:
        items.append(Drift(kind="context_length", message=(
            f"/props n_ctx {props.n_ctx}, documented context_length {props.expected_context}")))
    speed = checks.speed or SpeedCheck()
    if speed.compared:
        if speed.below_tolerance:
            items.append(Drift(kind="speed", message=(
                f"decode {speed.decode_tokens_per_s:.1f} tok/s, below {speed.min_allowed_tokens_per_s:.1f} "
                f"(documented {speed.documented_tokens_per_s:g} tok/s less {speed.drop_tolerance_pct:g}%)")))
        if speed.ttft_above_tolerance:
            items.append(Drift(kind="ttft", message=(
                f"time to first token {speed.ttft_s:.2f} s, above the {speed.ttft_limit_s:g} s tolerance")))
    tool = checks.tool_format or ToolFormatCheck()
    if tool.status == "mismatch":
        items.append(Drift(kind="tool_format", message="; ".join(tool.mismatches or ["mismatch"])))
    return items


def _failed(checks: Checks) -> list[Drift]:
    """Checks that failed without evidence of another server (a model list that names models is
    already judged by model_id)."""
    failed = []
    for name in ("version", "models", "props", "metrics", "speed"):
        check = getattr(checks, name)
        if check is not None and check.ok is False and check.error and not (name == "models" and check.served):
            failed.append(f"{name}: {check.error}")
    return [Drift(kind="check_failed", message="; ".join(failed))] if failed else []


def exit_code(records: list[SystemRecord]) -> int:
    """0 when every system is up and as declared, 1 otherwise."""
    return 0 if records and all(r.verdict == "up" for r in records) else 1
