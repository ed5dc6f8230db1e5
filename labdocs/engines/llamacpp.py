"""llama.cpp's `llama-server`: everything the rest of labdocs needs to know about this engine.

- Serving: the `llama-server` command line of a system (`serve_argv`, `serve_flags`, `flag_names`): the model
  from its GGUF file on the share (the first shard of a split GGUF: llama.cpp finds the others beside it),
  `--alias` for the model id clients send and `/v1/models` reports, `-c` for the context, `--jinja` for the
  model's own chat template (reasoning traces and tool calls come from it), then `llamacpp.args` in data order.
- Flags are checked against llama-server's own flag list of the pinned build (`llamacpp_flags.json`, read
  from the built binary's `--help` by `python -m labdocs.lab.llamacpp_build --facts`), with a did-you-mean.
- Responses: its endpoints (`/health`, `/v1/models`, `/props`, `/metrics` when `--metrics` is set) and the
  reasoning field (`reasoning_content`, with `--jinja` and a reasoning model).

Systems are read duck-typed (`system.llamacpp.args`, `.model.gguf`, ...): this layer imports nothing from
labdocs.model.
"""

from __future__ import annotations

import difflib
import functools
import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path

from labdocs import hf_cache
from labdocs.engines.base import Endpoints, Problem

NAME = "llama.cpp"
PROGRAM = "llama-server"
UNIT = "llama-server"            # the lab's unit name (records: llama-server.service)
REPOSITORY = "https://github.com/ggml-org/llama.cpp"
BUILD_DIR = "build"

PROPS = "/props"                 # the server's settings: model path, context (n_ctx), chat template, build
ENDPOINTS = Endpoints(health="/health", version=PROPS, models="/v1/models", metrics="/metrics",
                      chat="/v1/chat/completions")
VERSION_FIELD = "build_info"             # /props: "b1-0c1e570" (build number, commit)
CONTEXT_KEY = ("meta", "n_ctx")          # a /v1/models entry: {"id": ALIAS, "meta": {"n_ctx": ...}}
METRIC_PREFIX = "llamacpp:"              # /metrics, with --metrics
REASONING_FIELDS = ("reasoning_content",)

FLAGS_FILE = Path(__file__).with_name("llamacpp_flags.json")

# Flags the generator sets from dedicated fields; setting them in llamacpp.args would say a fact twice.
RESERVED_FLAGS = {
    "--model": "model.gguf (the first file)", "--alias": "llamacpp.alias", "--host": "(always 0.0.0.0)",
    "--hf-repo": "model.repo and model.gguf (llama-server reads the share, it downloads nothing)",
    "--port": "port", "--ctx-size": "context_length", "--jinja": "(always on: the model's own chat template)",
    "--no-jinja": "(the model's own chat template is always on)",
}
# Flags that carry a secret or read one from a file on the command line of a published unit.
SECRET_FLAGS = {"--api-key", "--api-key-file", "--hf-token", "--ssl-key-file"}
SECRET_VALUE = re.compile(r"(hf_|sk-|ghp_|github_pat_|xox[bp]-)[A-Za-z0-9_-]{8,}")


@functools.lru_cache(maxsize=1)
def facts() -> dict:
    """llama-server's flags in the pinned build: {"flags": {"--long": {"names": [...], "value": "N"|None}}}."""
    return json.loads(FLAGS_FILE.read_text(encoding="utf-8"))


def _canonical() -> dict[str, str]:
    """Every spelling (short or long) -> the flag's canonical (first long) name."""
    return {name: canon for canon, row in facts()["flags"].items() for name in row["names"]}


def canonical(flag: str) -> str | None:
    return _canonical().get(flag)


def takes_value(flag: str) -> bool:
    return facts()["flags"][canonical(flag)]["value"] is not None


# --- the serve command line ---------------------------------------------------------------------------

def model_path(system, models_root: str) -> str:
    """The GGUF file llama-server opens: the first shard; the others sit beside it."""
    m = system.model
    return f"{hf_cache.snapshot_path(models_root, m.repo, m.snapshot)}/{m.gguf[0]}"


def _flag(name: str, value: object) -> list[str]:
    if value is True:
        return [f"--{name}"]
    if value is False:
        return [f"--no-{name}"]
    return [f"--{name}", str(value)]


def serve_flags(system) -> list[str]:
    """Every flag after `llama-server --model FILE`: generated ones first, then llamacpp.args in data order."""
    flags = ["--alias", system.model.id, "--host", "0.0.0.0", "--port", str(system.port),
             "-c", str(system.context_length), "--jinja"]
    for name, value in system.llamacpp.args.items():
        flags += _flag(name, value)
    return flags


def serve_argv(system, models_root: str | None = None) -> list[str]:
    """The unit's ExecStart: the host's llama-server binary, its model file under models_root (the share's
    mount point, or the host's pre-staged copy), the flags."""
    if models_root is None:
        raise ValueError("llama-server reads its model from the host's files: pass models_root")
    return [binary(system), "--model", model_path(system, models_root), *serve_flags(system)]


def binary(system) -> str:
    """llama-server as the QUICKSTART's build leaves it in the host's clone."""
    return f"{system.llamacpp.source_dir}/{BUILD_DIR}/bin/{PROGRAM}"


def build_steps(system, platform) -> list[str]:
    """Build the pinned llama.cpp commit on the host with CUDA for the platform's GPU (GB10: compute
    capability 12.1, sm_121): only the llama-server target, as llama.cpp's build docs describe."""
    src, commit = system.llamacpp.source_dir, facts()["llama_cpp_commit"]
    arch = platform.compute_capability.replace(".", "")
    return [f"git clone {REPOSITORY} {src} 2>/dev/null || git -C {src} fetch origin",
            f"git -C {src} checkout --detach {commit}",
            f"cmake -S {src} -B {src}/{BUILD_DIR} -DGGML_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES={arch} "
            "-DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_OPENSSL=OFF",
            f"cmake --build {src}/{BUILD_DIR} --target {PROGRAM} -j \"$(nproc)\"",
            f"{src}/{BUILD_DIR}/bin/{PROGRAM} --version"]


def flag_names(system) -> list[str]:
    """The canonical names of the flags llama-server gets for a system (without '--')."""
    return [(canonical(f) or f)[2:] for f in serve_flags(system) if f.startswith("-")]


def gpu_memory_utilization(system) -> float:
    """llama.cpp sizes its buffers from the model and context, not from a share of the device: all of it may be used."""
    return 1.0


def version_of(data, system):
    return None     # llama.cpp is pinned by its build (llamacpp_flags.json), not by a vllm_versions: row


def model_id(system, served_path: str) -> str:
    """llama-server reports its --alias (llamacpp.alias) as the model id."""
    return system.llamacpp.alias if system.llamacpp else ""   # (without the block: refused by problems())


def metrics_enabled(system) -> bool:
    """/metrics answers only with --metrics (llamacpp.args: metrics: true); without it llama-server says 501."""
    return bool(system.llamacpp and system.llamacpp.args.get("metrics") is True)


# --- validation of a system's serving data ----------------------------------------------------------

def _long_names(canon: str) -> list[str]:
    return [n[2:] for n in facts()["flags"][canon]["names"] if n.startswith("--")]


def _did_you_mean(flag: str) -> str:
    spellings = [n for n in _canonical() if n.startswith("--")]
    close = [c[2:] for c in difflib.get_close_matches(flag, spellings, n=3, cutoff=0.6)]
    pin = facts()["llama_cpp_python"]
    return (f"did you mean {' or '.join(close)}? " if close else "") + \
        f"(llama-server of llama-cpp-python {pin}: labdocs/engines/llamacpp_flags.json)"


def _args(key: str, s) -> Iterator[Problem]:
    for name, value in s.llamacpp.args.items():
        loc = ("systems", key, "llamacpp", "args", name)
        flag, no_form = f"--{name}", f"--no-{name}"
        canon = canonical(no_form if value is False else flag) or canonical(flag)
        if canon is None:
            short = canonical(f"-{name}")
            if short:
                yield loc, f"{flag} is not a flag of llama-server; -{name} is the short form of {short}", \
                    f"write it out in full: {' or '.join(_long_names(short))}"
            else:
                yield loc, f"{flag} is not a flag of llama-server", _did_you_mean(flag)
        elif canon in RESERVED_FLAGS or canonical(flag) in RESERVED_FLAGS:
            reserved = canon if canon in RESERVED_FLAGS else canonical(flag)
            yield loc, f"{flag} is generated, not set here", f"set {RESERVED_FLAGS[reserved]} instead"
        elif canon in SECRET_FLAGS or (isinstance(value, str) and SECRET_VALUE.search(value)):
            yield loc, f"{flag} would write a secret into the committed unit file and README", \
                "keep secrets out of the command line (llama-server reads LLAMA_API_KEY from the environment)"
        elif value is False and canonical(no_form) is None:
            yield loc, f"llama-server has no {no_form}", f"leave {name} out for its default"
        elif value is True and takes_value(flag):
            yield loc, f"{flag} takes a value ({facts()['flags'][canon]['value']}), not true", \
                "write the value, e.g. a number or a word"
        elif not isinstance(value, bool) and not takes_value(flag):
            yield loc, f"{flag} takes no value", f"write {name}: true"


def problems(data, key: str, system) -> Iterator[Problem]:
    """What is wrong with a system's serving data for llama.cpp: its block, model files and flags."""
    base = ("systems", key)
    if system.llamacpp is None:
        yield base + ("engine",), "a llama.cpp system needs a llamacpp: block", \
            "llamacpp: {source_dir: /home/USER/llama.cpp} (and args:, the llama-server flags)"
        return
    if not system.model.gguf:
        yield base + ("model",), "a llama.cpp system serves GGUF files", \
            "model.gguf: [FILE.gguf, ...] (the files of the snapshot, a split GGUF's shards in order)"
    else:
        yield from _shards(base, system.model.gguf)
    yield from _args(key, system)


_SHARD = re.compile(r"(.+)-(\d{5})-of-(\d{5})\.gguf")


def _shards(base: tuple, files: list[str]) -> Iterator[Problem]:
    """A split GGUF lists every shard, in order: llama-server opens the first and finds the rest by name."""
    loc = base + ("model", "gguf")
    for i, f in enumerate(files):
        if not f.endswith(".gguf"):
            yield loc + (i,), f"{f!r} is not a .gguf file", "name the GGUF files of the snapshot"
            return
    split = [_SHARD.fullmatch(f) for f in files]
    if len(files) == 1 and not split[0]:
        return
    if not all(split):
        yield loc, "several files that are not the shards of one split GGUF", \
            "a split GGUF's files are NAME-00001-of-0000N.gguf ... NAME-0000N-of-0000N.gguf"
        return
    stem, total = split[0].group(1), int(split[0].group(3))
    want = [f"{stem}-{i:05d}-of-{total:05d}.gguf" for i in range(1, total + 1)]
    if files != want:
        yield loc, f"the shards are not {stem}'s {total} files in order", f"list them as: {', '.join(want)}"


# --- the parser registry: llama.cpp parses tool calls in its chat templates (--jinja) -------------------

def reads(parser: str, families: Mapping) -> tuple[str, ...]:
    return tuple(dict.fromkeys(f.tool_format for f in families.values()))


def client_format(parser: str, family) -> str:
    """With --jinja, llama-server parses the model family's own tool-call format into OpenAI tool_calls."""
    return "openai"


# --- responses ----------------------------------------------------------------------------------------

def reasoning_text(message: Mapping) -> str:
    return next((str(message[f]) for f in REASONING_FIELDS if message.get(f)), "")


# --- the CPU lab -------------------------------------------------------------------------------------
GPU_ONLY_FLAGS = {       # canonical names (llamacpp_flags.json), without '--'
    "gpu-layers": "offloads layers to the GPU; the CPU lab has none",
    "flash-attn": "the CPU build's attention is the plain one",
    "split-mode": "splits the model over GPUs",
    "main-gpu": "picks a GPU",
    "tensor-split": "splits the model over GPUs",
    "device": "names a GPU",
}
LAB_SET_FLAGS = {"model", "alias", "host", "port", "ctx-size", "jinja"}
