"""The two-node example's nodes and their direct link, for host stand-ins (issue 21).

From the example's data and its generated per-node compose files: the nodes (head, workers) with the
documented names, each node's address on the interconnect mapped into the lab's own range, and the direct
link between two host stand-ins named as the data names the interconnect port (the ConnectX cable between two
Sparks). lab.host_systems.running_cluster makes each stand-in its node and starts nothing: the QUICKSTART's own
steps copy and start the generated compose files there (tests/test_two_node_cluster.py).

Addresses: the example's 192.168.100.x lie outside the lab; each maps to 198.18.(16+slot).(128+x % 128) on the
direct link (the upper half of the host lab's /24, more specific than the hosts' eth0 route), and `ip route
get` in each host must pick the interconnect interface before anything talks over it (check_link).

Stdlib + yaml: used by tests running as root with the host lab (lab/standin_hosts.py).
"""
from __future__ import annotations

import ipaddress
import re
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from labdocs.lab import standin_hosts as sh


@dataclass
class Node:
    """One node of the cluster as the data and its generated compose file describe it."""

    name: str                     # stand-in name: the short host name (orion, orion-2)
    hostname: str
    ssh_alias: str
    address: str                  # the example's address on the interconnect
    compose: Path                 # its generated compose file
    user: str = ""                # its ssh user
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


def service(path: Path) -> dict:
    """The generated compose file's vLLM service."""
    return yaml.safe_load(path.read_text())["services"]["vllm"]



def plan(data_file: Path, generated: Path, system: str) -> Plan:
    """The cluster's nodes from the data (names, addresses) and the generated compose files (env, command)."""
    from labdocs.model.loader import load

    s = load(data_file).systems[system]
    c = s.cluster
    if c is None:
        raise ValueError(f"{data_file}: systems.{system} has no cluster: section")
    folder = generated / "systems" / system
    head = Node(s.host.split(".")[0], s.host, s.ssh.alias, c.head_address, folder / "docker-compose.yml",
                s.ssh.user, head=True)
    nodes = [head]
    for i, w in enumerate(c.workers, 1):
        nodes.append(Node(w.host.split(".")[0], w.host, w.ssh.alias, w.address,
                          folder / f"docker-compose.worker-{i}.yml", w.ssh.user))
    for n in nodes:
        if not n.compose.exists():
            raise FileNotFoundError(f"{n.compose}: not generated (systems.{system}: node {n.hostname})")
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


def root_error(output: str) -> str:
    """The first `SomethingError: message` line in output: the root cause of a chained traceback (vLLM's API
    server reports the engine core's failure after it, as "Engine core initialization failed")."""
    lines = [ln.strip() for ln in output.splitlines()
             if re.match(r"^\s*(\(\w+ pid=\d+\)\s*)?[\w.]*(Error|Exception): ", ln)]
    return re.sub(r"^\(\w+ pid=\d+\)\s*", "", lines[0]) if lines else ""


__all__ = ["Node", "Plan", "plan", "service", "address_map", "link_prefix", "connect", "check_link", "remap", "active_nodes",
           "wait_for", "process_env", "pids_named", "root_error"]
