"""The shape of data/systems.yaml: Pydantic models that refuse unknown keys.

Field descriptions double as the hints shown when a key is missing. Rules that involve more than one
field (uniqueness, references, parser vs vLLM version) live in rules.py so each error can name its key.
Keys that other keys determine are derived, not declared (DERIVED, LabData._derive).
"""

from __future__ import annotations

import datetime
import math
from typing import Annotated, ClassVar, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, PrivateAttr, model_validator
from pydantic_core import PydanticCustomError

from labdocs.engines import engine_of
from labdocs.engines.vllm import REASONING_FIELDS
from labdocs import hf_cache
from labdocs.model.safe import (
    CHECKS, AbsPath, ContainerName, Cron, Email, FlagName, HfRepo, HomePath, Hostname, Identifier, ImageRef,
    IPv4, NpmPackage, Program, SecretName, Sha, Text, Url, Word,
)


def _check_port(value: int) -> int:
    if not 1 <= value <= 65535:
        raise PydanticCustomError(
            "port", "{value} is not a valid port (1-65535)",
            {"value": value, "hint": "vLLM's default is 8000"},
        )
    return value


Port = Annotated[int, AfterValidator(_check_port)]
# A count, size or duration: whole, positive and within what the tools reading it take (a C int).
Count = Annotated[int, Field(gt=0, le=2**31 - 1)]
Positive = Annotated[float, Field(gt=0)]


ToolFormat = Literal["openai", "hermes", "qwen3-xml"]


ReasoningField = Literal[REASONING_FIELDS]   # vLLM's names for the reasoning text


class Strict(BaseModel):
    # defer_build: the validator is built once, for LabData when it first validates, instead of once
    # per class at import (which built the nested models' schemas again inside each parent).
    # strict: `true` is not port 1 and "8000" is not a number; allow_inf_nan: .inf minutes or .nan
    # memory fractions are not numbers a page or a flag can use.
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True, strict=True, allow_inf_nan=False)


class Lab(Strict):
    name: Text = Field(description="the lab's display name")
    summary: Text = Field(description="one paragraph for the home page")
    workstation: Text = Field(description="where operators ssh from, e.g. Mac")
    workstation_os: Literal["macos", "linux"] = Field(
        description="the workstation's system as installed: the doc-tests refuse workstation blocks that need "
                    "commands it lacks (labdocs/doctests/workstation.py), unless the page lists how to install them")


class Resolver(Strict):
    name: Text
    address: IPv4


class Dns(Strict):
    domain: Hostname = Field(description="the local DNS domain, e.g. home.arpa")
    resolver: Resolver


class Nfs(Strict):
    server: Hostname
    export: AbsPath
    mount_point: AbsPath = Field(description="where every host mounts the export")
    fstype: Literal["nfs", "nfs4"]
    options: list[Word] = Field(min_length=1)
    container_path: AbsPath = Field(description="where compose mounts mount_point inside the container")
    layout: Literal["hf-hub-cache"]
    local_copy_dir: AbsPath = Field(description="where a host keeps pre-staged copies of models, same layout")


class Container(Strict):
    privileged: bool = Field(description="run containers with --privileged")
    log_max_size: Word = Field(description="json-file log rotation size, e.g. 100m")
    log_max_files: Count
    restart_max_retries: Annotated[int, Field(gt=0, le=10)] = Field(
        description="restart: on-failure:N; a vLLM that cannot start must stop retrying (on GB10 an endless "
                    "restart loop leaked unified memory until the host needed a power cycle)")


class Infrastructure(Strict):
    dns: Dns
    nfs: Nfs
    container: Container


class InterconnectPort(Strict):
    """One physical port as `ibdev2netdev` lists it. On DGX Spark each physical ConnectX-7 port shows up
    twice (two PCIe functions): two Ethernet interfaces and two RoCE devices for the same cable."""

    interface: Word = Field(description="the interface that gets the address and that every transport is given, e.g. enp1s0f1np1")
    twin: Word = Field(description="the same port's second Ethernet interface, e.g. enP2p1s0f1np1 (no address on it)")
    rdma_devices: list[Word] = Field(
        min_length=1, description="the port's RoCE devices, both twins, e.g. [rocep1s0f1, roceP2p1s0f1] (NCCL_IB_HCA)")


class Interconnect(Strict):
    ports: list[InterconnectPort] = Field(min_length=1)
    source: Identifier = Field(description="a key of sources: (where the names come from)")


class Platform(Strict):
    name: Text
    arch: Literal["aarch64", "x86_64"]
    gpu_arch: Word
    compute_capability: Word
    cuda: Word
    memory_gb: Positive
    memory: Text
    memory_bandwidth_gbs: Positive = Field(description="documented memory bandwidth, GB/s")
    gpu_direct_storage: bool
    source: Identifier = Field(description="a key of sources: (the vendor's page for these figures)")
    interconnect: Interconnect | None = Field(
        default=None, description="the ports that join two machines directly (ConnectX-7 on GB10), as the OS names them")


class ImageBuild(Strict):
    """How vllm-gb10/ builds an image; rendered into vllm-gb10/build.env."""

    platform: Identifier = Field(description="a key of platforms: (sets the docker --platform)")
    vllm_ref: Word = Field(description="the vLLM git tag or commit to build")
    base_image: ImageRef = Field(description="the CUDA/PyTorch image to build on")
    torch_cuda_arch_list: Word = Field(description="TORCH_CUDA_ARCH_LIST, e.g. 12.1a for GB10")
    max_jobs: Count
    kit_dir: HomePath = Field(description="where the kit lives on the host")
    trial_container: ContainerName
    trial_port: Port


class OfflineFile(Strict):
    """A file the model's tokenizer fetches at start-up unless it is local (gpt-oss: the Harmony vocabulary)."""

    name: Word = Field(description="the file name the loader asks for, e.g. o200k_base.tiktoken")
    dir: Word = Field(description="its folder on the model share (nfs mount_point on hosts, container_path inside)")
    env: Literal["TIKTOKEN_ENCODINGS_BASE"] = Field(description="the variable that points the loader at its folder")
    url: Url = Field(description="where the file is published (fetched once, on the workstation)")
    sha256: Word = Field(description="the published file's sha256, 64 hex digits")
    source: Identifier = Field(description="a key of sources:")


class ModelFamily(Strict):
    tool_format: ToolFormat = Field(description="the tool-call format the family's chat template makes models emit")
    parsers: list[Word] = Field(min_length=1, description="vLLM --tool-call-parser values that read that format")
    offline_files: list[OfflineFile] = Field(default_factory=list)
    forced_tool_choice: bool = Field(
        default=True, description="whether vLLM reliably honours a named or required tool_choice for this family")


class Quantization(Strict):
    bits_per_weight: Positive


class Tolerances(Strict):
    decode_speed_drop_pct: Annotated[float, Field(ge=0, le=100)]
    ttft_s: Positive


class Probe(Strict):
    timeout_s: Positive
    prompt: Text
    max_tokens: Count
    tolerances: Tolerances
    stale_after_hours: Positive = Field(
        description="an observation older than this is shown as stale, e.g. 36 for a nightly probe")


class Image(Strict):
    ref: ImageRef = Field(description="the image reference compose pulls or the kit builds")
    vllm: Word | None = Field(default=None, description="the vLLM version inside, a key of vllm_versions:")
    version_source: Identifier | None = Field(default=None, description="a key of sources: for the vLLM version")
    source: Text
    repository: Url | None = Field(default=None, description="the repository the image is built from")
    build_command: Text | None = Field(
        default=None, description="the command that built it, run in the repository's clone (shown, never run)")
    why: Text
    build: ImageBuild | None = None


def _iso_date(value: object) -> object:
    """A date written as quoted "YYYY-MM-DD" text (the data file's reader takes no YAML dates)."""
    if isinstance(value, str):
        try:
            return datetime.date.fromisoformat(value)
        except ValueError:
            raise PydanticCustomError("date", "{value!r} is not a date", {
                "value": value, "hint": 'write it as "YYYY-MM-DD", quoted'}) from None
    return value


IsoDate = Annotated[datetime.date, BeforeValidator(_iso_date)]


class LogMount(Strict):
    """A host folder the container writes logs into (a read-write bind mount)."""

    source: AbsPath = Field(description="the folder on the host")
    target: AbsPath = Field(description="where the container sees it")


class Measured(Strict):
    host: Hostname = Field(description="the machine the value was measured on")
    date: IsoDate = Field(description='when, quoted: "YYYY-MM-DD"')
    by: Text = Field(description="the command, log or probe that measured it")


class Source(Strict):
    """Where facts come from: a measurement, or a vendor's page (exactly one)."""

    measured: Measured | None = None
    vendor: Url | None = None
    record: Url | None = Field(default=None, description="where a measurement was written down")


class VllmVersion(Strict):
    """What one vLLM version does where a flag or a client depends on it."""

    source: Identifier = Field(description="a key of sources: (that version's source code)")
    reasoning_fields: list[ReasoningField] = Field(
        min_length=1, description="the fields chat responses carry reasoning in")
    tool_parsers: list[Word] = Field(min_length=1, description="every --tool-call-parser name it registers")
    flags: list[FlagName] = Field(min_length=1, description="`vllm serve` flags it accepts (those this data uses)")


class Ssh(Strict):
    alias: Identifier = Field(description="the ssh alias from the workstation's ~/.ssh/config")
    user: Identifier


class Hardware(Strict):
    platform: Identifier = Field(description="a key of platforms:")
    vendor: Text
    model: Text


class TensorGroup(Strict):
    name: Text
    params_b: Positive = Field(description="parameters of the group read per token, billions")
    quantization: Word = Field(description="a key of quantizations:")


class ModelFiles(Strict):
    size_gib: Positive = Field(description="the snapshot's size on disk, GiB")
    safetensors: Annotated[int, Field(gt=0)]
    source: Identifier = Field(description="a key of sources:")


class Model(Strict):
    # Keys the data must not declare: LabData derives them (the error says so and how).
    DERIVED: ClassVar[dict[str, str]] = {
        "id": f"the model id the server reports: vLLM's is the served folder {hf_cache.LAYOUT} (ROOT: "
              "infrastructure.nfs.container_path; ORG/NAME: model.repo; SHA: model.snapshot), llama.cpp's its "
              "--alias (llamacpp.alias)"}

    repo: HfRepo = Field(description="Hugging Face repo, ORG/NAME (a GGUF repo for llama.cpp)")
    snapshot: Sha = Field(description=f"the snapshot commit sha, SHA in {hf_cache.LAYOUT}")
    gguf: list[Word] | None = Field(
        default=None, min_length=1,
        description="llama.cpp: the snapshot's GGUF file(s) llama-server loads, a split GGUF's shards in order")
    family: Identifier = Field(description="a key of model_families:, e.g. gpt-oss or qwen3-coder-moe")
    params_b: Positive = Field(description="total parameters, billions")
    active_params_b: Positive = Field(description="parameters active per token, billions")
    quantization: Word = Field(description="a key of quantizations:, e.g. MXFP4 or BF16")
    source: Identifier = Field(description="a key of sources: for the parameter counts")
    read_per_token: list[TensorGroup] | None = Field(
        default=None, description="the tensors one generated token reads, by precision; default: all active at quantization")
    files: ModelFiles | None = None
    _id: str = PrivateAttr(default="")

    @property
    def id(self) -> str:
        """Derived (LabData._derive): the model id the server reports (its engine's model_id)."""
        return self._id


class Speed(Strict):
    decode_tokens_per_s: Positive | None = Field(description="documented decode speed; null if not measured yet")
    source: Identifier | None = Field(default=None, description="a key of sources: (where the speed was measured)")
    estimate: Text | None = Field(default=None, description="how the figure was estimated, if it was not measured")


class ToolCalling(Strict):
    DERIVED: ClassVar[dict[str, str]] = {
        "format": "what a client sees for a tool call (openai: tool_calls; hermes or qwen3-xml: text in content), "
                  "from tool_calling.parser and the model family's tool_format"}

    parser: Word | None = Field(default=None, description="vLLM --tool-call-parser value, e.g. hermes or qwen3_coder "
                                                      "(vllm; llama.cpp parses calls with the chat template, --jinja)")
    auto_tool_choice: bool = True
    _format: ToolFormat | None = PrivateAttr(default=None)

    @property
    def format(self) -> ToolFormat | None:
        """Derived (LabData._derive): openai when the parser reads the family's native format, else that
        format, left as text in content. None only for an unknown family, which rules.check refuses."""
        return self._format


class Reasoning(Strict):
    """The model writes reasoning; the response field carrying it comes from the image's vLLM version."""

    parser: Word | None = Field(default=None, description="vLLM --reasoning-parser value, if any")


class Load(Strict):
    minutes: Positive = Field(description="time from start to /health 200, loading from NFS")
    phases: dict[Word, Positive] = Field(default_factory=dict, description="seconds per start-up phase")
    source: Identifier | None = Field(default=None, description="a key of sources: (where it was measured)")
    estimate: Text | None = Field(default=None, description="how the figure was estimated, if it was not measured")


class Evaluation(Strict):
    """One model tried on a system (the lab kept a table per model switch): how fast, how big, what was decided."""

    model: Text = Field(description="the model tried, as the lab names it, e.g. Qwen3-8B Q8_0")
    date: IsoDate = Field(description='when it was measured, quoted: "YYYY-MM-DD"')
    decode_tok_s: Positive = Field(description="decode speed, tokens/s")
    prompt_tok_s: Positive | None = Field(default=None, description="prompt processing speed, tokens/s")
    size_gib: Positive | None = Field(default=None, description="the model files' size, GiB")
    verdict: Text = Field(description="what was decided, e.g. kept, or replaced by a faster model")
    source: Identifier = Field(description="a key of sources: (where it was measured)")


class Memory(Strict):
    weights_gib: Positive = Field(description="weights in GPU memory, GiB")
    kv_cache_gib: Positive
    kv_cache_tokens: Annotated[int, Field(gt=0)]
    used_gib: Positive | None = None
    source: Identifier = Field(description="a key of sources:")


# Strings vLLM's argparse would read as a boolean or a number other than what YAML meant.
_WORD_VALUES = {"yes": "true", "no": "false", "on": "true", "off": "false", "y": "true", "n": "false",
                "true": "true", "false": "false"}
_NUMBER_WORDS = {"nan", "inf", "+inf", "-inf", "infinity", "+infinity", "-infinity"}


def _check_arg(value: object) -> object:
    """A vllm_args value: true/false, a finite number, or one word that cannot be read as an option."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        if isinstance(value, float) and not math.isfinite(value) or abs(value) >= 2**63:
            raise PydanticCustomError(
                "flag_value_finite", "{shown} is not a finite number in range",
                {"shown": repr(value), "hint": "vLLM reads the flag's value as a number: write one such as 0.9"})
        return value
    if isinstance(value, str):
        if value.lower() in _WORD_VALUES:
            raise PydanticCustomError(
                "flag_value_boolean", "{shown} is a boolean written as text",
                {"shown": repr(value), "hint": f"write {_WORD_VALUES[value.lower()]} without quotes: true adds "
                 "--flag, false adds --no-flag"})
        if value.lower() in _NUMBER_WORDS:
            raise PydanticCustomError(
                "flag_value_finite", "{shown} is not a finite number",
                {"shown": repr(value), "hint": "write a number such as 0.9"})
        return CHECKS["flag_value"](value)
    raise PydanticCustomError(
        "flag_value_type", "expected true, a number or a single word, got {shown}",
        {"shown": repr(value), "hint": "lists and mappings are not flag values; write one flag per key"},
    )


# One validator, not a Union, so a bad value gives one error instead of one per member type.
ServeArgValue = Annotated[object, AfterValidator(_check_arg)]


def _check_llamacpp_arg(value: object) -> object:
    """A llama-server flag's value: as for vLLM, except that on/off are words llama-server's own flags take
    (`--flash-attn on`); whether a flag takes a value at all is checked against its flag list."""
    if isinstance(value, str) and value.lower() in ("on", "off"):
        return value
    return _check_arg(value)


LlamaArgValue = Annotated[object, AfterValidator(_check_llamacpp_arg)]


class Worker(Strict):
    """A Ray worker node. It runs what the head runs; a worker may restate a shared value (as its own
    inventory records it), and validation refuses one that differs from the head's."""

    host: Hostname = Field(description="the worker node's host name")
    address: IPv4 = Field(description="the worker's address on the interconnect")
    ssh: Ssh
    gpus: Count = Field(description="the GPUs this node gives the cluster (one per GB10)")
    interface: Word | None = Field(default=None, description="must be the head's cluster.interface")
    ray_port: Port | None = Field(default=None, description="must be the head's cluster.ray_port")
    image: Identifier | None = Field(default=None, description="must be the head's image")
    model_snapshot: Sha | None = Field(default=None, description="must be the head's model.snapshot")
    tensor_parallel_size: Count | None = Field(default=None, description="must be the head's cluster.tensor_parallel_size")
    pipeline_parallel_size: Count | None = Field(default=None, description="must be the head's cluster.pipeline_parallel_size")


class Cluster(Strict):
    """A system served by several GB10 machines with Ray, as vLLM documents for multi-node serving.
    The system's host, ssh and container are the head node's; the API is served there."""

    interface: Word = Field(description="the interconnect's interface, given to every transport (NCCL, Gloo, "
                                        "TensorPipe, UCX, Open MPI), e.g. enp1s0f1np1")
    head_address: IPv4 = Field(description="the head node's address on the interconnect")
    ray_port: Port = 6379
    workers: list[Worker] = Field(min_length=1)
    tensor_parallel_size: Count
    pipeline_parallel_size: Count = 1
    ready_timeout_s: Count = Field(
        default=600, description="how long the QUICKSTART's check waits for every node and GPU in Ray before it "
                                 "gives up (the head itself keeps waiting for late workers)")
    source: Identifier = Field(description="a key of sources: the multi-node procedure the generated files follow")


class LlamaCpp(Strict):
    """How a llama.cpp system runs llama-server under systemd (the lab's units, February 2026)."""

    alias: Word = Field(description="--alias: the model id /v1/models reports and clients send, e.g. gpt-oss-120b")
    source_dir: AbsPath = Field(description="where llama.cpp is cloned and built on the host (CUDA, sm_121); the unit "
                                            "runs its build/bin/llama-server, e.g. /home/llm-agent/llama.cpp")
    args: dict[FlagName, LlamaArgValue] = Field(
        default_factory=dict, description="llama-server flags (long names without '--'), checked against the "
                                          "pinned build's own list (labdocs/engines/llamacpp_flags.json)")
    restart_sec: Count = Field(default=10, description="systemd RestartSec: seconds between restarts after a failure")


ENGINE_SERVICE = {"vllm": "docker-compose", "llama.cpp": "systemd"}   # the service manager each engine runs under


class System(Strict):
    name: Text
    role: Text
    status: Literal["production", "staging", "retired"]
    host: Hostname = Field(description="fully qualified host name, e.g. stella.home.arpa")
    port: Port = 8000
    ssh: Ssh
    hardware: Hardware
    model: Model
    context_length: Count = Field(description="the context length in tokens (vLLM --max-model-len), e.g. 131072")
    speed: Speed
    tool_calling: ToolCalling
    reasoning: Reasoning | None = None
    engine: Literal["vllm", "llama.cpp"] = Field(default="vllm", description="what serves the model")
    service_manager: Literal["docker-compose", "systemd"] | None = Field(
        default=None, description="what runs the server: docker-compose for vllm, systemd for llama.cpp (the default)")
    image: Identifier | None = Field(default=None, description="a key of images: (vllm)")
    container_name: ContainerName | None = Field(default=None, description="the container's name (vllm)")
    llamacpp: LlamaCpp | None = Field(default=None, description="llama-server's binary and flags (llama.cpp)")
    gpus: Annotated[int, Field(ge=1)] | None = Field(
        default=None, description="how many GPUs the container reserves (count:); all if absent")
    service_dir: HomePath = Field(description="where docker-compose.yml lives on the host")
    vllm_args: dict[FlagName, ServeArgValue] = Field(default_factory=dict)
    load: Load
    memory: Memory | None = None
    log_mount: LogMount | None = None
    weights: Literal["nfs", "local"] = Field(
        default="nfs", description="where the container reads weights: the NFS mount, or the host's pre-staged copy")
    cluster: Cluster | None = None
    evaluations: list[Evaluation] | None = Field(
        default=None, min_length=1, description="models tried on this system, shown on its README")


class OpenCode(Strict):
    config_path: HomePath
    provider_package: NpmPackage
    output_tokens: Count
    systems: list[Identifier] | None = Field(default=None, description="the systems to include; all if absent")


class Clients(Strict):
    opencode: OpenCode


class KnownIssue(Strict):
    id: Identifier
    title: Text
    systems: list[Identifier]
    engine: Literal["vllm", "llama.cpp"] | None = Field(
        default=None, description="the engine it concerns: shown only on the pages of those systems that run it")
    symptom: Text
    cause: Text
    fix: Text


class Reference(Strict):
    title: Text
    url: Url


# Where each forge reads workflow files, and which run number its run pages are addressed by.
FORGES = {"forgejo": (".forgejo/workflows", "run_number"), "gitea": (".gitea/workflows", "run_number"),
          "github": (".github/workflows", "run_id")}


class Runner(Strict):
    runs_on: list[Word] = Field(min_length=1, description="the runner labels a job asks for, e.g. [self-hosted, lab]")


class ScheduledStatus(Runner):
    schedule: Cron = Field(description="when the status job runs: a cron line in UTC, e.g. '0 3 * * *'")
    branch: Word = Field(description="the branch the bot commits the status files to, e.g. main")
    timeout_minutes: Count = Field(description="the job's time limit, minutes")


class Bot(Strict):
    name: Identifier = Field(description="the git author name of the status commits, e.g. labdocs-bot")
    email: Email = Field(description="the git author e-mail of the status commits")


class CiSecrets(Strict):
    push_token: SecretName = Field(description="the secret holding a token of the bot's account that may push")


class Ci(Strict):
    """The lab's own CI: workflow files in GitHub Actions syntax, which Forgejo and Gitea also read."""

    forge: Literal["forgejo", "gitea", "github"] = Field(
        description="where the workflow files go (.forgejo/, .gitea/ or .github/workflows) and how run pages are addressed")
    test: Runner
    status: ScheduledStatus
    bot: Bot
    secrets: CiSecrets


class DocsSite(Strict):
    """This site, served in the lab: a systemd unit runs Python's static file server on a host of its
    own; the scheduled CI job rebuilds the site into site_root (make publish-site)."""

    host: Hostname = Field(description="the host that serves the site, e.g. docs.home.arpa")
    port: Port = Field(description="the port it serves on, e.g. 80")
    ssh: Ssh
    site_root: AbsPath = Field(description="where releases/ and the served `site` link live, e.g. /srv/labdocs")
    unit: Identifier = Field(description="the systemd unit's name, e.g. labdocs-site: docs-site/unit.service is "
                             "installed as <unit>.service")
    python: Program = Field(description="the host's Python 3 (its http.server serves the files), e.g. /usr/bin/python3")


class LabData(Strict):
    lab: Lab
    infrastructure: Infrastructure
    platforms: dict[Identifier, Platform]
    model_families: dict[Identifier, ModelFamily]
    quantizations: dict[Word, Quantization]
    probe: Probe
    images: dict[Identifier, Image]
    vllm_versions: dict[Word, VllmVersion]
    systems: dict[Identifier, System] = Field(min_length=1)
    clients: Clients
    sources: dict[Identifier, Source]
    known_issues: list[KnownIssue] = Field(default_factory=list)
    references: list[Reference] = Field(default_factory=list)
    ci: Ci | None = Field(default=None, description="the lab's CI workflows; none are generated without it")
    docs_site: DocsSite | None = Field(default=None, description="where the lab serves this site; nothing is generated without it")

    @model_validator(mode="after")
    def _derive(self) -> "LabData":
        """Fill in the derived keys (the DERIVED of Model and ToolCalling): computed here, once, so no
        data file can declare a value that disagrees. They are properties, not fields: model_dump leaves
        them out, and a dump validates again."""
        container = self.infrastructure.nfs.container_path
        for system in self.systems.values():
            model, tools = system.model, system.tool_calling
            model._id = engine_of(system).model_id(system, hf_cache.snapshot_path(container, model.repo, model.snapshot))
            family = self.model_families.get(model.family)
            tools._format = engine_of(system).client_format(tools.parser, family) if family else None
        return self
