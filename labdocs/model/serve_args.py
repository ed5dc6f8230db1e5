"""The `vllm serve` argument list of a system, built from data in one place.

The compose file, the QUICKSTART, the lab and the flag check all use this list, so they cannot disagree.
"""

from __future__ import annotations

from labdocs.model.schema import System

# The project's own tool-call parser (toolcalls/vllm_plugin.py). vLLM loads it from a file:
# the compose file mounts this repo's toolcalls/ directory (copied beside it on the host) read-only.
PLUGIN_PARSER = "toolcalls"
PLUGIN_READS = ("hermes", "qwen3-xml")  # the model text formats it turns into tool_calls
PLUGIN_DIR = "toolcalls"  # in this repo, and beside the compose file on the host
PLUGIN_TARGET = "/opt/toolcalls/toolcalls"  # in the container
PLUGIN_FILE = "vllm_plugin.py"


def uses_plugin(system: System) -> bool:
    return system.tool_calling.parser == PLUGIN_PARSER


def _flag(name: str, value: object) -> list[str]:
    if value is True:
        return [f"--{name}"]
    if value is False:
        return [f"--no-{name}"]  # vLLM's boolean flags accept the --no- form
    return [f"--{name}", str(value)]


def serve_flags(system: System) -> list[str]:
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


def serve_argv(system: System) -> list[str]:
    return ["vllm", "serve", system.model.id, *serve_flags(system)]


# vLLM's default when the flag is absent: the share of the device's memory it asks for at start-up.
DEFAULT_GPU_MEMORY_UTILIZATION = 0.9


def gpu_memory_utilization(system: System) -> float:
    return float(system.vllm_args.get("gpu-memory-utilization", DEFAULT_GPU_MEMORY_UTILIZATION))
