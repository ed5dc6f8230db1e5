"""The two-node example's Ray cluster, formed for real on two host stand-ins (issue 21).

From the example's data and its generated per-node compose files: two hosts (head, worker) with the
documented names, joined by a direct link named as the data names the interconnect port (the ConnectX
cable between two Sparks), each node's address from the data mapped into the lab's own range, and each
node started with its compose file's environment and command (addresses mapped, nothing else changed).

Lab deltas, explicit and reported (`deltas()`):
- addresses: the example's 192.168.100.x lie outside the lab; each maps to 198.18.(16+slot).(128+x % 128)
  on the direct link (the upper half of the host lab's /24, more specific than the hosts' eth0 route), and
  `ip route get` in each host must pick the interconnect interface before Ray starts;
- no docker here: the compose command runs directly in the host's namespaces, with the lab venv + the
  pinned Ray (lab/ray_layer.py) first on PATH instead of the image's;
- `vllm serve`, which the head runs once Ray counts every GPU, is whatever `serve_shim` is (a recorder
  that stays up, by default): the CPU build's own multi-node serving is tried separately.
- GPUs: Ray's `--num-gpus=1` is a logical resource here; there is no GPU behind it.

Stdlib + yaml: used by tests running as root with the host lab (lab/standin_hosts.py).
"""
from __future__ import annotations

import ipaddress
import re
import shlex
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from labdocs import hf_cache
from labdocs.lab import standin_hosts as sh


@dataclass
class Node:
    """One node of the cluster as the data and its generated compose file describe it."""

    name: str                     # stand-in name: the short host name (orion, orion-2)
    hostname: str
    ssh_alias: str
    address: str                  # the example's address on the interconnect
    compose: Path                 # its generated compose file
    environment: dict[str, str] = field(default_factory=dict)
    command: str = ""             # the compose command as one shell script
    head: bool = False


@dataclass
class Plan:
    system: str
    interface: str
    ray_port: int
    nodes: list[Node]

    @property
    def head(self) -> Node:
        return next(n for n in self.nodes if n.head)

    @property
    def workers(self) -> list[Node]:
        return [n for n in self.nodes if not n.head]


def _service(path: Path) -> dict:
    return yaml.safe_load(path.read_text())["services"]["vllm"]


def _script(command) -> str:
    if isinstance(command, list) and command[:2] == ["bash", "-c"] and len(command) == 3:
        return command[2]
    if isinstance(command, list):
        return shlex.join(command)
    return str(command)


def _env(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    # compose's own interpolation of ${VAR:-default} from an empty host environment
    return {k: re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", str(v)) for k, v in env.items()}


def plan(data_file: Path, generated: Path, system: str) -> Plan:
    """The cluster's nodes from the data (names, addresses) and the generated compose files (env, command)."""
    from labdocs.model.loader import load

    s = load(data_file).systems[system]
    c = s.cluster
    if c is None:
        raise ValueError(f"{data_file}: systems.{system} has no cluster: section")
    folder = generated / "systems" / system
    head = Node(s.host.split(".")[0], s.host, s.ssh.alias, c.head_address, folder / "docker-compose.yml", head=True)
    nodes = [head]
    for i, w in enumerate(c.workers, 1):
        nodes.append(Node(w.host.split(".")[0], w.host, w.ssh.alias, w.address,
                          folder / f"docker-compose.worker-{i}.yml"))
    for n in nodes:
        if not n.compose.exists():
            raise FileNotFoundError(f"{n.compose}: not generated (systems.{system}: node {n.hostname})")
        svc = _service(n.compose)
        n.environment, n.command = _env(svc), _script(svc["command"])
    return Plan(system, c.interface, c.ray_port, nodes)


def address_map(p: Plan, lab: sh.HostLab) -> dict[str, str]:
    """The example's interconnect addresses -> lab addresses on the direct link (upper half of the slot's
    /24). Anything already in the lab's range would be kept, but the example's are not."""
    out = {}
    for n in p.nodes:
        a = ipaddress.ip_address(n.address)
        if a in sh.LAB_NET:
            out[n.address] = n.address
        else:
            out[n.address] = str(lab.network.network_address + 128 + int(a) % 128)
    if len(set(out.values())) != len(out):
        raise ValueError(f"address map is not one-to-one: {out}")
    return out


def link_prefix(lab: sh.HostLab) -> ipaddress.IPv4Network:
    return ipaddress.ip_network(f"{lab.network.network_address + 128}/25")


def remap(text: str, amap: dict[str, str]) -> str:
    for old, new in amap.items():
        text = re.sub(re.escape(old) + r"(?![0-9])", new, text)
    return text


def connect(lab: sh.HostLab, p: Plan, amap: dict[str, str]) -> None:
    """The direct cable: one veth pair between head and worker, both ends named as the data names the port,
    each node's mapped address on it; then the address rule: each peer's address must route through it."""
    if len(p.nodes) != 2:
        raise ValueError("one direct link joins exactly two nodes (a switch would be a bridge)")
    a, b = (lab[n.name] for n in p.nodes)
    # Temporary names carry the lab's prefix, so a failure before the move is swept like any lab link.
    ta, tb = f"{lab.prefix}c0", f"{lab.prefix}c1"
    sh._run(["ip", "link", "add", ta, "type", "veth", "peer", "name", tb])
    plen = link_prefix(lab).prefixlen
    for host, tmp, node in ((a, ta, p.nodes[0]), (b, tb, p.nodes[1])):
        sh._run(["ip", "link", "set", tmp, "netns", host.netns])
        ns = ["nsenter", f"--net=/run/netns/{host.netns}"]
        sh._run([*ns, "ip", "link", "set", tmp, "name", p.interface])
        sh._run([*ns, "ip", "addr", "add", f"{amap[node.address]}/{plen}", "dev", p.interface])
        sh._run([*ns, "ip", "link", "set", p.interface, "up"])
    check_link(lab, p, amap)


def check_link(lab: sh.HostLab, p: Plan, amap: dict[str, str]) -> None:
    for n in p.nodes:
        for peer in p.nodes:
            addr = amap[peer.address]
            if ipaddress.ip_address(addr) not in lab.network:
                raise sh.HostLabError(f"{addr} (for {peer.address}) is outside the lab's {lab.network}")
            if peer is n:
                continue
            dev, gw = sh.route_dev(addr, lab[n.name].netns)
            if dev != p.interface or gw is not None:
                raise sh.HostLabError(f"{n.name}: route to {addr} goes through {dev or 'nothing'}"
                                      f"{' via ' + gw if gw else ''}, not the lab's {p.interface}: refusing")


def lab_path(root: Path, ray_dir: Path, shim_dir: Path | None) -> str:
    parts = ([str(shim_dir)] if shim_dir else []) + [str(ray_dir / "bin"), str(root / ".lab" / "venv" / "bin"),
                                                      "/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin",
                                                      "/sbin", "/bin"]
    return ":".join(parts)


def node_env(node: Node, amap: dict[str, str], path: str, ray_dir: Path) -> dict[str, str]:
    """The compose file's environment for this node (addresses mapped), plus the lab's PATH/PYTHONPATH."""
    env = {k: remap(v, amap) for k, v in node.environment.items()}
    env.update(PATH=path, PYTHONPATH=str(ray_dir), HOME="/root", LANG="C.UTF-8",
               RAY_USAGE_STATS_ENABLED="0")   # the lab never phones home
    return env


def start(lab: sh.HostLab, node: Node, env: dict[str, str], amap: dict[str, str], log: Path) -> subprocess.Popen:
    """The node's compose command, as the container would run it, in the host's namespaces (root)."""
    host = lab[node.name]
    out = open(log, "w")
    try:
        return subprocess.Popen(host.enter(["env", "-i", *[f"{k}={v}" for k, v in env.items()],
                                            "bash", "-c", remap(node.command, amap)]),
                                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True, preexec_fn=sh._preexec_pdeathsig)
    finally:
        out.close()


def ray(lab: sh.HostLab, node: Node, env: dict[str, str], args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """`ray ARGS` in the node's host with the node's environment."""
    return sh._run(lab[node.name].enter(["env", "-i", *[f"{k}={v}" for k, v in env.items()],
                                         "bash", "-c", f"ray {args}"]), check=False, timeout=timeout)


def active_nodes(status: str) -> list[str]:
    """The node ids under `Active:` in `ray status` output."""
    found, inside = [], False
    for line in status.splitlines():
        if line.strip() == "Active:":
            inside = True
            continue
        if inside:
            m = re.match(r"\s+1 (node_[0-9a-f]+)", line)
            if m:
                found.append(m.group(1))
            elif line.strip():
                break
    return found


def wait_for(pred, timeout: float, every: float = 1.0):
    deadline = time.monotonic() + timeout
    while True:
        got = pred()
        if got:
            return got
        if time.monotonic() > deadline:
            return got
        time.sleep(every)


def stop_ray(lab: sh.HostLab, p: Plan, envs: dict[str, dict[str, str]], procs: list[subprocess.Popen]) -> None:
    """Rollback order: workers first, then the head (`ray stop`), then whatever the commands left."""
    for node in [*p.workers, p.head]:
        if node.name in lab.hosts and lab[node.name].holder and lab[node.name].holder.poll() is None:
            ray(lab, node, envs[node.name], "stop --force", timeout=60)
    for proc in procs:
        sh._kill(proc, 10)


def deltas(p: Plan, amap: dict[str, str]) -> list[str]:
    return ([f"address {old} -> {new} on {p.interface} (lab range; the example's is outside it)"
             for old, new in amap.items() if old != new]
            + ["no docker: each node's compose command runs in its host's namespaces (no image, no GPU reservation)",
               "Ray: --num-gpus=1 is a logical resource on a CPU-only machine"])


def process_env(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(x.decode(errors="replace").split("=", 1) for x in raw if b"=" in x)


def pids_named(host: sh.Host, needle: str) -> list[int]:
    found = []
    for pid in host.pids():
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if needle in cmd:
            found.append(pid)
    return found


__all__ = ["Node", "Plan", "plan", "address_map", "connect", "check_link", "remap", "node_env", "start", "ray",
           "active_nodes", "wait_for", "stop_ray", "deltas", "lab_path", "process_env", "pids_named"]


# --- serving through the cluster (issue 21, point 3) -------------------------------------------------

def share_dir(root: Path, work: Path, models: Path) -> Path:
    """The lab's stand-in for the containers' /models: the tiny models' folders and the share's extra
    folders (tiktoken) side by side, as symlinks, like the NFS share the compose file mounts."""
    share = work / "models"
    share.mkdir(parents=True, exist_ok=True)
    for src in [*sorted(models.glob(hf_cache.REPO_PREFIX + "*")), *sorted((root / ".lab" / "share").glob("*"))]:
        link = share / src.name
        if not link.exists():
            link.symlink_to(src.resolve())
    return share


@dataclass
class ServeResult:
    outcome: str          # "served" (the head's /health answered), "exited", or "timeout"
    detail: str           # the last error line when it exited; the health answer when it served
    log_tail: str
    seconds: float
    log: str = ""         # the whole server log


def serve_through_cluster(lab: sh.HostLab, head: Node, env: dict[str, str], args: list[str], share: Path,
                          log: Path, timeout: float = 420) -> ServeResult:
    """The head's recorded `vllm serve ARGS` with the real vLLM CPU build, against the formed cluster:
    the container's /models is the lab's share folder; `--enforce-eager` (no compile warm-up) and a 1 GiB
    KV cache are lab deltas. Stopped as soon as it exits, serves (/health on the head) or times out."""
    argv = [a.replace("/models/", f"{share}/", 1) if a.startswith("/models/") else a for a in args]
    env = {**{k: v.replace("/models/", f"{share}/", 1) if v.startswith("/models/") else v
              for k, v in env.items()},
           "VLLM_CPU_KVCACHE_SPACE": "1", "TRANSFORMERS_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
    script = "exec vllm " + " ".join(shlex.quote(a) for a in [*argv, "--enforce-eager"])
    host = lab[head.name]
    t0 = time.monotonic()
    with open(log, "w") as out:
        proc = subprocess.Popen(host.enter(["env", "-i", *[f"{k}={v}" for k, v in env.items()], "bash", "-c", script]),
                                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True, preexec_fn=sh._preexec_pdeathsig)
    try:
        while time.monotonic() - t0 < timeout:
            if proc.poll() is not None:
                text = log.read_text(errors="replace")
                return ServeResult("exited", root_error(text), "\n".join(text.splitlines()[-40:]),
                                   time.monotonic() - t0, text)
            health = host.run("curl -fsS --max-time 3 -o /dev/null -w '%{http_code}' http://127.0.0.1:8000/health")
            if health.returncode == 0:
                return ServeResult("served", f"/health {health.stdout}", "", time.monotonic() - t0)
            time.sleep(3)
        return ServeResult("timeout", "", "\n".join(log.read_text(errors="replace").splitlines()[-40:]),
                           time.monotonic() - t0)
    finally:
        sh._kill(proc, 10)


def root_error(output: str) -> str:
    """The first `SomethingError: message` line in output: the root cause of a chained traceback (vLLM's API
    server reports the engine core's failure after it, as "Engine core initialization failed")."""
    lines = [ln.strip() for ln in output.splitlines()
             if re.match(r"^\s*(\(\w+ pid=\d+\)\s*)?[\w.]*(Error|Exception): ", ln)]
    return re.sub(r"^\(\w+ pid=\d+\)\s*", "", lines[0]) if lines else ""
