"""vLLM: everything the rest of labdocs needs to know about this engine, and nothing else does.

- Serving: the `vllm serve` command line of a system (`serve_argv`, `serve_flags`, `flag_names`), the
  flags that data may not set because they are generated (`RESERVED_FLAGS`, `reserved_flag`), vLLM's
  default for a flag the data leaves out (`gpu_memory_utilization`), and the checks of a system's flags
  and parser against the vLLM version its image runs (`problems`).
- The parser registry: which model text formats a `--tool-call-parser` turns into OpenAI `tool_calls`
  (`reads`, `client_format`), including this project's own plugin (`toolcalls/vllm_plugin.py`).
- Responses: the endpoints a server answers (`ENDPOINTS`) and where a chat message or stream delta
  carries reasoning text (`REASONING_FIELDS`, `reasoning_text`).
- The CPU lab: flags that only mean something on a GPU (`GPU_ONLY_FLAGS`) and those the lab sets itself
  (`LAB_SET_FLAGS`).

Systems are read duck-typed (`system.port`, `.vllm_args`, `.tool_calling`, ...): this layer sits below
labdocs.model and imports nothing from it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping

from labdocs.engines.base import Endpoints, Problem
from toolcalls.convert import REASONING_FIELDS  # vLLM's names for the reasoning text (toolcalls is standalone)

NAME = "vllm"

ENDPOINTS = Endpoints(health="/health", version="/version", models="/v1/models", metrics="/metrics",
                      chat="/v1/chat/completions")
VERSION_FIELD = "version"                # /version: {"version": "0.11.1"}
CONTEXT_KEY = ("max_model_len",)         # a /v1/models entry's served context
METRIC_PREFIX = "vllm:"

# --- the project's own tool-call parser plugin (toolcalls/vllm_plugin.py) --------------------------
# vLLM loads it from a file: the compose file mounts this repo's toolcalls/ directory (copied beside it
# on the host) read-only.
PLUGIN_PARSER = "toolcalls"
PLUGIN_READS = ("hermes", "qwen3-xml")  # the model text formats it turns into tool_calls
PLUGIN_DIR = "toolcalls"  # in this repo, and beside the compose file on the host
PLUGIN_TARGET = "/opt/toolcalls/toolcalls"  # in the container
PLUGIN_FILE = "vllm_plugin.py"


def uses_plugin(system) -> bool:
    return system.tool_calling.parser == PLUGIN_PARSER


# --- the serve command line ---------------------------------------------------------------------------

def _flag(name: str, value: object) -> list[str]:
    if value is True:
        return [f"--{name}"]
    if value is False:
        return [f"--no-{name}"]  # vLLM's boolean flags accept the --no- form
    return [f"--{name}", str(value)]


def serve_flags(system) -> list[str]:
    """Every flag after `vllm serve MODEL`, generated ones first, then vllm_args in data order."""
    flags = ["--host", "0.0.0.0", "--port", str(system.port), "--max-model-len", str(system.context_length)]
    for name, value in system.vllm_args.items():
        flags += _flag(name, value)
    tc = system.tool_calling
    if uses_plugin(system):
        flags += ["--tool-parser-plugin", f"{PLUGIN_TARGET}/{PLUGIN_FILE}"]
    flags += ["--tool-call-parser", tc.parser]
    if tc.auto_tool_choice:
        flags.append("--enable-auto-tool-choice")
    if system.reasoning and system.reasoning.parser:
        flags += ["--reasoning-parser", system.reasoning.parser]
    if system.cluster:
        c = system.cluster
        flags += ["--tensor-parallel-size", str(c.tensor_parallel_size),
                  "--pipeline-parallel-size", str(c.pipeline_parallel_size),
                  "--distributed-executor-backend", "ray"]
    return flags


def serve_argv(system, models_root: str | None = None) -> list[str]:
    """The command the compose file runs (and the QUICKSTART prints); the model id is its path in the
    container, so models_root is not needed."""
    return ["vllm", "serve", system.model.id, *serve_flags(system)]


def flag_names(system) -> list[str]:
    """The names of the flags `vllm serve` gets for a system (without '--' or a 'no-' prefix)."""
    return [f[2:].removeprefix("no-") for f in serve_flags(system) if f.startswith("--")]


# vLLM's default when the flag is absent: the share of the device's memory it asks for at start-up.
DEFAULT_GPU_MEMORY_UTILIZATION = 0.9


def gpu_memory_utilization(system) -> float:
    return float(system.vllm_args.get("gpu-memory-utilization", DEFAULT_GPU_MEMORY_UTILIZATION))


# Flags the generator sets from dedicated fields; setting them in vllm_args would say a fact twice.
RESERVED_FLAGS = {
    "model": "model.id",
    "served-model-name": "model.id",
    "host": "(always 0.0.0.0 inside the container)",
    "port": "port",
    "max-model-len": "context_length",
    "tool-call-parser": "tool_calling.parser",
    "tool-parser-plugin": f"tool_calling.parser: {PLUGIN_PARSER} (the plugin file is mounted by the compose file)",
    "enable-auto-tool-choice": "tool_calling.auto_tool_choice",
    "reasoning-parser": "reasoning.parser",
    "tensor-parallel-size": "cluster.tensor_parallel_size",
    "pipeline-parallel-size": "cluster.pipeline_parallel_size",
    "distributed-executor-backend": "cluster (Ray for multi-node systems)",
}
# Where each generated flag's value comes from, so a flag a version lacks is reported at its key.
FLAG_KEYS = {
    "host": ("port",), "port": ("port",), "max-model-len": ("context_length",),
    "tool-call-parser": ("tool_calling", "parser"), "enable-auto-tool-choice": ("tool_calling", "auto_tool_choice"),
    "reasoning-parser": ("reasoning", "parser"), "tensor-parallel-size": ("cluster", "tensor_parallel_size"),
    "pipeline-parallel-size": ("cluster", "pipeline_parallel_size"), "distributed-executor-backend": ("cluster",),
    "tool-parser-plugin": ("tool_calling", "parser"),
}


def reserved_flag(flag: str) -> str | None:
    """The generated flag that `--flag` would set: argparse takes any unique prefix of a flag name
    (`--max-model` is `--max-model-len`) and vLLM's boolean flags take a `--no-` form, so a name that
    is a prefix of a reserved one, with or without `no-`, sets it."""
    for name in (flag, flag.removeprefix("no-")):
        for reserved in RESERVED_FLAGS:
            if reserved.startswith(name):
                return reserved
    return None


# --- validation of a system's serving data ----------------------------------------------------------
# Flag names that carry a secret: the compose file and README are committed, so a secret written
# there is published. vLLM and the hub read them from the host's environment instead.
SECRET_FLAG = re.compile(r"(^|-)(api-?key|key|token|secret|passw(or)?d)$")   # (not --long-prefill-token-threshold)
SECRET_VALUE = re.compile(r"(hf_|sk-|ghp_|github_pat_|xox[bp]-)[A-Za-z0-9_-]{8,}")


def model_id(system, served_path: str) -> str:
    """vLLM reports the folder it serves (the snapshot's, in the container) as the model id."""
    return served_path


def metrics_enabled(system) -> bool:
    """vLLM's OpenAI server always exports /metrics."""
    return True


def version_of(data, system):
    """The vllm_versions: row of the vLLM inside a system's image, or None."""
    image = data.images.get(system.image)
    return data.vllm_versions.get(image.vllm) if image and image.vllm else None


def _serve_args(key: str, s) -> Iterator[Problem]:
    for flag, value in s.vllm_args.items():
        loc = ("systems", key, "vllm_args", flag)
        reserved = reserved_flag(flag)
        if reserved == flag:
            yield loc, f"--{flag} is generated, not set here", f"set {RESERVED_FLAGS[flag]} instead"
        elif reserved:
            yield loc, f"--{flag} is read by vLLM as --{reserved}, which is generated, not set here", \
                f"set {RESERVED_FLAGS[reserved]} instead; write vLLM flags out in full"
        elif SECRET_FLAG.search(flag) or (isinstance(value, str) and SECRET_VALUE.search(value)):
            yield loc, f"--{flag} would write a secret into the committed compose file and README", \
                "keep secrets in the host's environment (vLLM reads VLLM_API_KEY, the hub HF_TOKEN), as HF_TOKEN is"


def _versions(data, key: str, s) -> Iterator[Problem]:
    """The system's flags and tool parser exist in the vLLM version its image runs."""
    base = ("systems", key)
    image = data.images.get(s.image)
    if image is None:
        return
    if image.vllm is None:
        yield base + ("image",), f"image {s.image!r} does not name its vLLM version", \
            f"add images.{s.image}.vllm: (a key of vllm_versions:)"
        return
    row = data.vllm_versions.get(image.vllm)
    if row is None:
        return  # reported once, at images.<key>.vllm
    refused = {loc[-1] for loc, _, _ in _serve_args(key, s)}  # reported once, as what they are
    for flag in dict.fromkeys(flag_names(s)):
        if flag not in row.flags and flag not in refused:
            loc = base + (("vllm_args", flag) if flag in s.vllm_args else FLAG_KEYS.get(flag, ("vllm_args",)))
            yield loc, f"--{flag} is not among vLLM {image.vllm}'s flags (image {s.image}, vllm_versions.{image.vllm}.flags)", \
                (f"drop it, or, if vLLM {image.vllm} has it (check its source with tools/vllm_source_facts.py), "
                 f"add it to vllm_versions.{image.vllm}.flags")
    if s.tool_calling.parser not in row.tool_parsers and s.tool_calling.parser != PLUGIN_PARSER:
        yield base + ("tool_calling", "parser"), \
            f"vLLM {image.vllm} (image {s.image}) has no tool-call parser {s.tool_calling.parser!r}", \
            f"its parsers: {', '.join(row.tool_parsers)}"


def problems(data, key: str, system) -> Iterator[Problem]:
    """What is wrong with a system's serving data for this engine: flags the generator owns or that
    would publish a secret, and flags or a parser the image's vLLM version lacks."""
    yield from _versions(data, key, system)
    yield from _serve_args(key, system)


# --- the parser registry -----------------------------------------------------------------------------

def reads(parser: str, families: Mapping) -> tuple[str, ...]:
    """The model text formats `--tool-call-parser parser` turns into OpenAI tool_calls: the formats of
    the model families (data: model_families) that list it, or what this project's plugin reads."""
    if parser == PLUGIN_PARSER:
        return PLUGIN_READS
    return tuple(dict.fromkeys(f.tool_format for f in families.values() if parser in f.parsers))


def client_format(parser: str, family) -> str:
    """What a client sees: a parser that reads the family's native format turns calls into OpenAI
    `tool_calls` (so does this project's plugin, for the text formats it reads); any other parser
    leaves the model's own text in `content`."""
    if parser in family.parsers or (parser == PLUGIN_PARSER and family.tool_format in PLUGIN_READS):
        return "openai"
    return family.tool_format


# --- responses ----------------------------------------------------------------------------------------

def reasoning_text(message: Mapping) -> str:
    """The reasoning text of a chat message or stream delta, under whichever name this vLLM uses."""
    return next((str(message[f]) for f in REASONING_FIELDS if message.get(f)), "")


# --- the CPU lab -------------------------------------------------------------------------------------
# Flags that only mean something on a GPU; the CPU build would reject or misread them.
GPU_ONLY_FLAGS = {
    "gpu-memory-utilization": "sizes the GPU's KV cache; the CPU lab uses VLLM_CPU_KVCACHE_SPACE",
    "kv-cache-dtype": "GPU KV-cache formats (fp8) are not in the CPU build",
    "tensor-parallel-size": "one CPU process per server",
    "pipeline-parallel-size": "one CPU process per server",
    "quantization": "the tiny model is not quantized",
    "load-format": "fastsafetensors reads weights straight into GPU memory; the CPU lab loads its tiny model the default way",
    "distributed-executor-backend": "multi-node Ray; the lab serves a cluster's head endpoint as one CPU process",
}
# Set by the lab itself (address, port, context, parser, served name).
LAB_SET_FLAGS = {"host", "port", "max-model-len", "tool-call-parser", "enable-auto-tool-choice", "reasoning-parser"}
