"""Host stand-ins: one Linux "machine" per documented host, on this machine, started from data.

Each host is a network namespace (its own eth0 on a lab bridge, its own port 8000) plus a mount and UTS
namespace held by one small process: the documented hostname, a user (`llm-agent`) with its home, private
/etc/passwd, /etc/hosts, /run, /tmp and /mnt, an `sshd` reachable under the documented host name, and a
docker engine of its own (own data-root, exec-root, pidfile and socket; no bridge, no iptables; cgroupfs)
with compose v2 as the user's cli plugin. Namespaces are entered with `nsenter --net=... unshare -m`, never
`ip netns exec` (it remounts /sys, and dockerd then finds no devices cgroup).

The address rule: hosts only get addresses the lab creates (RFC 2544's benchmark range 198.18.0.0/15, never
this machine's own 192.0.2.0/24); before any traffic `ip route get` must show every address going through
the lab's own bridge (from the workstation) or the host's own eth0 (from a host), or the lab refuses to
start. Hosts have no default route: an address from the docs outside the lab (the resolver 10.0.0.1) is
unreachable from them by construction.

A host may also serve NFS (HostSpec.nfs_exports, e.g. the model share's server): nfs-ganesha with its VFS backend
in userspace, bound to the host's lab address only, and an rpcbind of the host's own (its socket in the host's
private /run) for the MOUNT protocol that `showmount -e` and NFSv3 clients use. This machine's kernel has no NFS
client: nothing here mounts the share; clients are userspace (showmount, libnfs's nfs-ls).

A host may run more daemons of its own (HostSpec.services: argv and a readiness probe, run as root in its
namespaces and state folder, e.g. the world stand-in's servers, lab.world_standin), started with the others.

A host may run systemd as its init (HostSpec.systemd): then the holder is PID 1 of a PID namespace of its own,
with a cgroup namespace and a cgroup of its own in every hierarchy (below the lab's own, `labdocs-NETNS`), fresh
proc, cgroup and /run mounts, /sys and /proc/sys read-only, and private /etc/systemd/system, /etc/sudoers.d,
/etc/fstab, /etc/machine-id, /var/lib/systemd and /var/log/journal: this machine's own units, timers and
journal are never seen or touched. Debian's /lib/systemd/systemd boots a lab target (`labhost.target`, pulling
multi-user.target) with what would act on this machine masked (sysctl, binfmt, modules, tmpfiles, sysusers, utmp,
getty, logind: MASKED); journald and dbus run (journalctl, and systemctl as a user). Everything entered then joins
its PID and cgroup namespaces too (sshd, ssh sessions, `Host.run`). /mnt/models is then not the lab's bind: the
host's /etc/fstab (HostSpec.fstab) names it, and systemd's fstab generator makes the mount unit.

Everything is torn down (containers, daemons, mounts, links, namespaces, files) on success, failure,
Ctrl-C and SIGTERM (signal handlers + atexit; each daemon also dies with its parent, PR_SET_PDEATHSIG), and a
crashed run's leftovers are swept by the next run that takes the same slot. `leftovers()` lists anything
still there, for the test that checks nothing is left behind.

Stdlib only: imported by the test process. Needs root, iproute2, util-linux, openssh-server, docker.io; for NFS,
nfs-ganesha, nfs-ganesha-vfs and rpcbind.
"""
from __future__ import annotations

import atexit
import contextlib
import fcntl
import ipaddress
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

PREFIX = "ldh"                      # every netns, link and state folder the host lab creates starts so
LAB_NET = ipaddress.ip_network("198.18.0.0/15")   # RFC 2544 benchmarking: never routed, never ours
FORBIDDEN = [ipaddress.ip_network("192.0.2.0/24")]  # these machines' own network (TEST-NET-1)
SLOTS = 16                          # concurrent host labs on one machine: 198.18.16.0/24 ... 198.18.31.0/24
LOCK_DIR = Path("/run/lock")
UID_BASE = 4200                     # llm-agent and friends inside the hosts; never users of this machine


@dataclass
class Service:
    """A daemon of the host's own besides sshd, dockerd and NFS (e.g. the world stand-in's servers,
    lab.world_standin): argv run as root in the host's namespaces, in its state folder (its log there as
    NAME.log); ready: argv run in the host that exits 0 once it serves."""

    name: str
    argv: list[str]
    ready: list[str]


class HostLabError(RuntimeError):
    """A host stand-in could not be started, or the address rule refused it."""


def _log(msg: str) -> None:
    print(f"[lab.hosts] {msg}", file=sys.stderr, flush=True)


@dataclass
class HostSpec:
    """One host as the docs describe it."""

    name: str                          # short id, e.g. stella (the netns is ldhN-stella)
    hostname: str                      # e.g. stella.home.arpa: the hostname and the name that resolves
    user: str = "llm-agent"
    ssh_alias: str | None = None       # the workstation's `Host` entry, e.g. stella-llm
    aliases: list[str] = field(default_factory=list)   # more names resolving to this host
    sshd: bool = True
    docker: bool = True
    sudo: bool = True                  # the user may sudo without a password (as the docs' steps expect)
    files: dict[str, str] = field(default_factory=dict)  # host path -> lab file bind-mounted there
    # NFS exports the host serves, read-only: the export as clients name it (e.g. /volume1/models) -> folders
    # of this machine whose entries it holds (hard-linked into the host's state, so the server sees one filesystem)
    nfs_exports: dict[str, list[str]] = field(default_factory=dict)
    # Docker's root as on a real host: /var/lib/docker, a tmpfs reporting this many GB (the host's disk; the lab's
    # images are small). None: the engine keeps its root in the host's state folder, on this machine's disk.
    docker_disk_gb: int | None = None
    systemd: bool = False              # systemd as the host's init (PID 1 of its own PID namespace)
    fstab: list[str] = field(default_factory=list)   # the host's /etc/fstab lines (systemd hosts: mount units)
    services: list[Service] = field(default_factory=list)   # more daemons, started after the others
    # Folders of this machine the host sees with writes of its own (an overlay whose upper layer is a tmpfs of
    # the host): the docs host's /srv, which holds its site root beside whatever this machine keeps there.
    overlays: list[str] = field(default_factory=list)

    def names(self) -> list[str]:
        short = self.hostname.split(".")[0]
        return list(dict.fromkeys([self.hostname, short, *self.aliases]))


def _preexec_pdeathsig() -> None:
    """Die with the lab process, even when it is SIGKILLed (atexit never runs then)."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM, 0, 0, 0)
    except Exception:
        pass


def _run(argv: list[str], check: bool = True, timeout: float = 60, **kw) -> subprocess.CompletedProcess:
    out = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kw)
    if check and out.returncode != 0:
        raise HostLabError(f"`{shlex.join(argv)}` exited {out.returncode}: {out.stderr.strip() or out.stdout.strip()}")
    return out


def route_dev(address: str, netns: str | None = None) -> tuple[str, str | None]:
    """(device, gateway) that `ip route get ADDRESS` picks, in this namespace or in netns."""
    argv = ["ip", "-j", "route", "get", address]
    if netns:
        argv = ["nsenter", f"--net=/run/netns/{netns}", *argv]
    out = _run(argv, check=False)
    if out.returncode != 0:
        return "", None
    route = json.loads(out.stdout)[0]
    return route.get("dev", ""), route.get("gateway")


@dataclass
class Host:
    spec: HostSpec
    lab: "HostLab"
    index: int
    address: str
    holder: subprocess.Popen | None = None
    init_pid: int | None = None        # systemd hosts: PID 1 of the host, as this machine numbers it
    cgroups: list[Path] = field(default_factory=list)   # systemd hosts: the host's own cgroup per hierarchy
    daemons: dict[str, subprocess.Popen] = field(default_factory=dict)
    uid: int = 0
    gid: int = 0

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def netns(self) -> str:
        return f"{self.lab.prefix}-{self.name}"

    @property
    def state(self) -> Path:
        return self.lab.state / self.name

    @property
    def home(self) -> Path:
        """The user's home as the lab sees it from outside (/home/USER inside the host)."""
        return self.state / "home" / self.spec.user

    @property
    def models(self) -> Path:
        """/mnt/models inside the host: the lab's folder there, or on a systemd host the folder its /etc/fstab
        binds there (HostSpec.fstab)."""
        for line in self.spec.fstab:
            fields = line.split()
            if len(fields) >= 4 and fields[1] == "/mnt/models" and "bind" in fields[3].split(","):
                return Path(fields[0])
        return self.state / "mnt" / "models"

    def enter(self, argv: list[str], user: str | None = None, wd: Path | None = None) -> list[str]:
        """argv run inside this host (its net, mount and UTS namespaces), as root or as user, in wd."""
        assert self.holder is not None
        # A systemd host: its PID namespace too (its /proc shows only its own processes) and its cgroup namespace.
        target = ["-t", str(self.init_pid), "-m", "-u", "-n", "-p", "-C"] if self.init_pid else \
            ["-t", str(self.holder.pid), "-m", "-u", "-n"]
        inside = ["nsenter", *target, *([f"--wd={wd}"] if wd else []), "--"]
        if user:
            home = f"/home/{user}"
            inside += ["setpriv", f"--reuid={user}", f"--regid={user}", "--init-groups", "--",
                       "env", f"HOME={home}", f"USER={user}", f"LOGNAME={user}", "SHELL=/bin/bash"]
        return [*inside, *argv]

    def run(self, command: str, user: str | None = None, timeout: float = 60, check: bool = False,
            cwd: str | None = None) -> subprocess.CompletedProcess:
        """A shell command inside the host (root unless user is given), with the host's own view."""
        script = (f"cd {shlex.quote(cwd)} && " if cwd else "") + command
        return _run(self.enter(["bash", "-e", "-o", "pipefail", "-c", script], user), check=check, timeout=timeout)

    def systemctl(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        """`systemctl ARGS` as root on a systemd host (for the lab's own setup and asserts)."""
        return _run(self.enter(["systemctl", "--no-pager", *args]), check=False, timeout=timeout)

    def docker_host(self) -> str:
        return "unix:///run/docker.sock"   # inside the host's private /run

    def pids(self) -> list[int]:
        out = _run(["ip", "netns", "pids", self.netns], check=False)
        return [int(p) for p in out.stdout.split()] if out.returncode == 0 else []


@dataclass
class HostLab:
    """Running host stand-ins. Use through running_hosts()."""

    slot: int
    state: Path
    hosts: dict[str, Host] = field(default_factory=dict)
    startup_seconds: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    _lock: object = None
    _stopped: bool = False

    @property
    def prefix(self) -> str:
        return f"{PREFIX}{self.slot}"

    @property
    def bridge(self) -> str:
        return f"{self.prefix}br"

    @property
    def network(self) -> ipaddress.IPv4Network:
        return ipaddress.ip_network(f"198.18.{16 + self.slot}.0/24")

    @property
    def workstation_address(self) -> str:
        return str(self.network.network_address + 1)

    @property
    def hosts_file(self) -> Path:
        return self.state / "workstation" / "hosts"

    @property
    def ssh_config(self) -> Path:
        return self.state / "workstation" / "ssh_config"

    @property
    def key(self) -> Path:
        return self.state / "workstation" / "id_ed25519"

    def names(self) -> dict[str, str]:
        """Every lab host name -> its address (for the workstation's hosts file)."""
        return {n: h.address for h in self.hosts.values() for n in h.spec.names()}

    def __getitem__(self, name: str) -> Host:
        return self.hosts[name]

    def wrap(self, argv: list[str], hosts_file: Path | None = None) -> list[str]:
        """argv run on the workstation side: the lab's hosts file as /etc/hosts and the lab's generated
        ssh config as /etc/ssh/ssh_config (this machine's files are never touched)."""
        script = ('mount --bind "$0" /etc/hosts && mount --bind "$1" /etc/ssh/ssh_config && '
                  '{ [ ! -e "$HOME/.ssh/config" ] || mount --bind /dev/null "$HOME/.ssh/config"; } && shift && exec "$@"')
        return ["unshare", "-m", "--propagation", "private", "sh", "-c", script,
                str(hosts_file or self.hosts_file), str(self.ssh_config), *argv]

    def ssh(self, name: str, command: str, timeout: float = 60) -> subprocess.CompletedProcess:
        """`ssh ALIAS COMMAND` from the workstation side, as an operator types it."""
        alias = self.hosts[name].spec.ssh_alias or self.hosts[name].spec.hostname
        return _run(self.wrap(["ssh", alias, command]), check=False, timeout=timeout)

    __hash__ = object.__hash__

    def stop(self) -> float:
        """Tear everything down: containers, daemons, processes, namespaces, links, files. Idempotent."""
        if self._stopped:
            return 0.0
        t0 = time.monotonic()
        for host in self.hosts.values():
            _stop_host(host)
        _sweep(self.prefix, self.state)
        self._stopped = True
        _ACTIVE.discard(self)
        if self._lock is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._lock, fcntl.LOCK_UN)
                self._lock.close()
        return time.monotonic() - t0


_ACTIVE: set[HostLab] = set()


@atexit.register
def _stop_all() -> None:
    for lab in list(_ACTIVE):
        lab.stop()


def _raise_exit(signum, frame):
    raise SystemExit(128 + signum)


# --- teardown ---------------------------------------------------------------------------------------

def _kill(proc: subprocess.Popen, timeout: float) -> None:
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(5)


def _stop_host(host: Host) -> None:
    engine = (host.daemons["dockerd"].poll() is None if "dockerd" in host.daemons
              else host.spec.systemd and host.spec.docker and host.init_pid is not None)
    if host.holder is not None and host.holder.poll() is None and engine:
        # Containers first, through the host's own engine (they outlive a killed dockerd otherwise).
        _run(host.enter(["sh", "-c", "ids=$(docker ps -aq) && [ -z \"$ids\" ] || docker rm -f $ids"]),
             check=False, timeout=60)
    # The others in reverse start order: ganesha unregisters from rpcbind before rpcbind goes.
    for name in ("sshd", "dockerd", *[n for n in reversed(host.daemons) if n not in ("sshd", "dockerd")]):
        if name in host.daemons:
            _kill(host.daemons[name], 20 if name == "dockerd" else 5)
    if host.init_pid is not None:
        # PID 1 of the host's PID namespace: killing it kills every process in the namespace at once.
        with contextlib.suppress(ProcessLookupError):
            os.kill(host.init_pid, signal.SIGKILL)
    if host.holder is not None:
        _kill(host.holder, 5)
    # Whatever still runs in the host's network namespace (ssh sessions, containers' shims).
    for pid in host.pids():
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    _remove_cgroups(host.cgroups, kill=True)


def _netns_names() -> list[str]:
    out = _run(["ip", "-j", "netns", "list"], check=False)
    try:
        return [n["name"] for n in json.loads(out.stdout or "[]")]
    except json.JSONDecodeError:
        return [line.split()[0] for line in out.stdout.splitlines() if line.strip()]


def _links() -> list[str]:
    out = _run(["ip", "-j", "link", "show"], check=False)
    return [link["ifname"] for link in json.loads(out.stdout or "[]")]


def _mounts_under(path: Path) -> list[str]:
    """Mount points at or under path in this process's mount namespace (deepest first)."""
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4].encode().decode("unicode_escape")
        if point == str(path) or point.startswith(str(path) + "/"):
            found.append(point)
    return sorted(found, key=len, reverse=True)


def _sweep(prefix: str, state: Path | None) -> None:
    """Remove namespaces, links, processes, mounts and files with this prefix (ours, or a crashed run's)."""
    for ns in _netns_names():
        if ns.startswith(prefix + "-"):
            out = _run(["ip", "netns", "pids", ns], check=False)
            for pid in out.stdout.split():
                with contextlib.suppress(ProcessLookupError, ValueError):
                    os.kill(int(pid), signal.SIGKILL)
    deadline = time.monotonic() + 10
    for ns in _netns_names():
        if ns.startswith(prefix + "-"):
            while _run(["ip", "netns", "pids", ns], check=False).stdout.split() and time.monotonic() < deadline:
                time.sleep(0.1)
            _run(["ip", "netns", "delete", ns], check=False)
    for link in _links():
        if link.startswith(prefix):
            _run(["ip", "link", "delete", link], check=False)
    _remove_cgroups([d for base in _cgroup_bases() for d in base.glob(f"{CGROUP_PREFIX}{prefix}-*")], kill=True)
    if state is not None and state.exists():
        for point in _mounts_under(state):
            _run(["umount", "-l", point], check=False)
        shutil.rmtree(state, ignore_errors=True)


def leftovers(prefix: str = PREFIX, state_root: Path | None = None) -> list[str]:
    """What the host labs left behind on this machine: namespaces, links, processes, mounts, files."""
    found = [f"netns {n}" for n in _netns_names() if n.startswith(prefix)]
    found += [f"link {link}" for link in _links() if link.startswith(prefix)]
    needles = [f"/run/netns/{prefix}"] + ([f"{Path(state_root).resolve()}/{prefix}"] if state_root else [])
    for d in Path("/proc").iterdir():
        if not d.name.isdigit() or int(d.name) == os.getpid():
            continue
        with contextlib.suppress(OSError):
            cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            # Daemons whose command line names nothing of the lab (rpcbind) run in their host's state folder.
            cwd = ""
            with contextlib.suppress(OSError):
                cwd = os.readlink(d / "cwd")
            if any(n in cmd or cwd.startswith(n) for n in needles):
                found.append(f"process {d.name}: {cmd[:120]}" + (f" (in {cwd})" if cwd.startswith(tuple(needles)) else ""))
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4]
        if any(n in point for n in needles):
            found.append(f"mount {point}")
    if state_root and state_root.exists():
        found += [f"file {p}" for p in sorted(state_root.iterdir()) if p.name.startswith(prefix)]
    found += [f"cgroup {d}" for base in _cgroup_bases() for d in base.glob(f"{CGROUP_PREFIX}{prefix}*")]
    return found


# --- cgroups of a systemd host -----------------------------------------------------------------------

CGROUP_PREFIX = "labdocs-"     # a systemd host's cgroup in every hierarchy: labdocs-NETNS


def _hierarchies() -> list[tuple[str, Path]]:
    """(the controller field of /proc/self/cgroup, this process's cgroup folder in that hierarchy), for every
    hierarchy mounted under /sys/fs/cgroup (cgroup v1, hybrid or v2)."""
    out = []
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if controllers == "":
            mount = Path("/sys/fs/cgroup/unified")
            mount = mount if mount.is_dir() else Path("/sys/fs/cgroup")
        else:
            mount = Path("/sys/fs/cgroup") / controllers.removeprefix("name=")
        if (mount / "cgroup.procs").exists():
            out.append((controllers, mount / path.lstrip("/")))
    return out


def _cgroup_bases() -> list[Path]:
    with contextlib.suppress(OSError):
        return [base for _, base in _hierarchies()]
    return []


def _make_cgroups(name: str) -> list[Path]:
    """A cgroup named name below this process's own in every hierarchy (cpuset: the parent's CPUs and memory
    nodes, without which nothing may join it)."""
    made = []
    for controllers, base in _hierarchies():
        d = base / name
        d.mkdir(exist_ok=True)
        made.append(d)
        if "cpuset" in controllers.split(","):
            for f in ("cpuset.cpus", "cpuset.mems"):
                (d / f).write_text((base / f).read_text())
    return made


def _remove_cgroups(dirs: list[Path], kill: bool = False, timeout: float = 10) -> None:
    """Remove the cgroups and everything below them, deepest first (a crashed run's: its processes killed
    first). Processes leave their cgroups a moment after SIGKILL: retried until timeout."""
    deadline = time.monotonic() + timeout
    for top in dirs:
        while top.exists():
            subs = sorted((p for p in top.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True)
            if kill:
                for d in [*subs, top]:
                    with contextlib.suppress(OSError, ValueError):
                        for pid in (d / "cgroup.procs").read_text().split():
                            with contextlib.suppress(ProcessLookupError):
                                os.kill(int(pid), signal.SIGKILL)
            for d in [*subs, top]:
                with contextlib.suppress(OSError):
                    d.rmdir()
            if top.exists():
                if time.monotonic() > deadline:
                    _log(f"cgroup {top} still busy after {timeout:.0f} s: left for the next run's sweep")
                    break
                time.sleep(0.05)


# --- start-up ----------------------------------------------------------------------------------------

def _take_slot(wanted: int | None) -> tuple[int, object]:
    """A free slot (subnet, name prefix), held by an flock for the lab's lifetime. Anything left with a
    free slot's prefix is a crashed run's: it is swept."""
    LOCK_DIR.mkdir(parents=True, exist_ok=True)
    for slot in ([wanted] if wanted is not None else range(SLOTS)):
        f = open(LOCK_DIR / f"labdocs-hosts-{slot}.lock", "a+")
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.close()
            continue
        return slot, f
    raise HostLabError(f"no free host-lab slot of {SLOTS} (/run/lock/labdocs-hosts-*.lock are all held)")


def check_network(network: ipaddress.IPv4Network) -> None:
    """Refuse a subnet outside the lab range, overlapping this machine's network, or already in use."""
    for bad in FORBIDDEN:
        if network.overlaps(bad):
            raise HostLabError(f"{network} overlaps this machine's own network {bad}: never use it")
    if not network.subnet_of(LAB_NET):
        raise HostLabError(f"{network} is not in the lab's range {LAB_NET}")
    out = _run(["ip", "-j", "-4", "addr", "show"])
    for link in json.loads(out.stdout):
        for a in link.get("addr_info", []):
            iface = ipaddress.ip_interface(f"{a['local']}/{a['prefixlen']}")
            if iface.network.overlaps(network):
                raise HostLabError(f"{network} is already in use on {link['ifname']} ({iface}): refusing to start")


def check_routes(lab: HostLab) -> None:
    """Before any traffic: every host address goes through the lab's bridge from the workstation side,
    and the workstation and every other host through the host's own eth0 from inside each host."""
    problems = []
    for host in lab.hosts.values():
        dev, gateway = route_dev(host.address)
        if dev != lab.bridge or gateway:
            problems.append(f"{host.address} ({host.spec.hostname}) routes via {dev or '?'}"
                            f"{' gateway ' + gateway if gateway else ''}, not the lab bridge {lab.bridge}")
        for target in [lab.workstation_address, *(h.address for h in lab.hosts.values() if h is not host)]:
            dev, gateway = route_dev(target, host.netns)
            if dev != "eth0" or gateway:
                problems.append(f"from {host.name}: {target} routes via {dev or 'nothing'}, not its eth0")
        # No way out: a documented address outside the lab must not be reachable from a host.
        dev, _ = route_dev("10.0.0.1", host.netns)
        if dev:
            problems.append(f"from {host.name}: 10.0.0.1 (outside the lab) has a route via {dev}")
    if problems:
        raise HostLabError("address rule: refusing to start:\n  " + "\n  ".join(problems))


def _write(path: Path, text: str, mode: int = 0o644, owner: tuple[int, int] | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)
    if owner:
        os.chown(path, *owner)
    return path


def _network(lab: HostLab) -> None:
    _run(["ip", "link", "add", lab.bridge, "type", "bridge"])
    _run(["ip", "addr", "add", f"{lab.workstation_address}/{lab.network.prefixlen}", "dev", lab.bridge])
    _run(["ip", "link", "set", lab.bridge, "up"])
    for host in lab.hosts.values():
        outside, inside = f"{lab.prefix}v{host.index}", f"{lab.prefix}i{host.index}"
        _run(["ip", "netns", "add", host.netns])
        _run(["ip", "link", "add", outside, "type", "veth", "peer", "name", inside])
        _run(["ip", "link", "set", outside, "master", lab.bridge, "up"])
        _run(["ip", "link", "set", inside, "netns", host.netns])
        ns = ["nsenter", f"--net=/run/netns/{host.netns}"]
        _run([*ns, "ip", "link", "set", inside, "name", "eth0"])
        _run([*ns, "ip", "addr", "add", f"{host.address}/{lab.network.prefixlen}", "dev", "eth0"])
        _run([*ns, "ip", "link", "set", "eth0", "up"])
        _run([*ns, "ip", "link", "set", "lo", "up"])


def _etc(lab: HostLab, host: Host) -> None:
    """The host's own /etc files: users, groups, names, sudo, resolver."""
    spec, etc = host.spec, host.state / "etc"
    host.uid = host.gid = UID_BASE + host.index
    passwd = Path("/etc/passwd").read_text().rstrip("\n").split("\n")
    group = Path("/etc/group").read_text().rstrip("\n").split("\n")
    shadow = Path("/etc/shadow").read_text().rstrip("\n").split("\n") if Path("/etc/shadow").exists() else []
    passwd = [ln for ln in passwd if not ln.startswith(spec.user + ":")]
    passwd.append(f"{spec.user}:x:{host.uid}:{host.gid}:{spec.user}:/home/{spec.user}:/bin/bash")
    shadow = [ln for ln in shadow if not ln.startswith(spec.user + ":")] + [f"{spec.user}:*:20000:0:99999:7:::"]
    group = [ln for ln in group if not ln.startswith(spec.user + ":")] + [f"{spec.user}:x:{host.gid}:"]
    if not any(ln.startswith("docker:") for ln in group):
        group.append(f"docker:x:{UID_BASE - 1}:")
    group = [ln + ("," if not ln.endswith(":") else "") + spec.user if ln.startswith("docker:") else ln for ln in group]
    _write(etc / "passwd", "\n".join(passwd) + "\n")
    _write(etc / "group", "\n".join(group) + "\n")
    _write(etc / "shadow", "\n".join(shadow) + "\n", 0o640)
    _write(etc / "hostname", spec.hostname.split(".")[0] + "\n")
    lines = ["127.0.0.1\tlocalhost", f"127.0.1.1\t{spec.hostname} {spec.hostname.split('.')[0]}",
             "::1\tlocalhost ip6-localhost ip6-loopback", "# the lab's hosts (lab.standin_hosts)"]
    lines += [f"{h.address}\t{' '.join(h.spec.names())}" for h in lab.hosts.values()]
    _write(etc / "hosts", "\n".join(lines) + "\n")
    # No resolver: a name outside the lab's hosts fails here, it never reaches the docs' resolver.
    _write(etc / "resolv.conf", "# lab host stand-in: names come from /etc/hosts only\nnameserver 127.0.0.53\n")
    _write(etc / "sudoers", sudoers_text(spec), 0o440)
    if spec.systemd:
        _systemd_etc(host)


def sudoers_text(spec: HostSpec, full: bool | None = None) -> str:
    """The host's /etc/sudoers: the user's full sudo (unless full is False), and on a systemd host the drop-in
    folder a page's steps install into (the host's own)."""
    full = spec.sudo if full is None else full
    return ("Defaults env_reset\nroot ALL=(ALL:ALL) ALL\n" + (f"{spec.user} ALL=(ALL:ALL) NOPASSWD: ALL\n" if full else "")
            + ("@includedir /etc/sudoers.d\n" if spec.systemd else ""))


def set_full_sudo(host: Host, full: bool) -> None:
    """Give or take the user's full sudo (the administrator's), leaving the drop-ins: rewritten in place, since
    the host sees the file through a bind mount."""
    with open(host.state / "etc" / "sudoers", "r+") as f:
        f.truncate(0)
        f.write(sudoers_text(host.spec, full))


# Units of this machine's systemd that would act on the machine itself (kernel settings, binfmt, modules, /var
# and /tmp clean-up, users, utmp, consoles, logins): masked on a systemd host. Kept: journald and dbus.
KEEP_UNITS = {"systemd-journald.service", "systemd-journald.socket", "systemd-journald-dev-log.socket",
              "dbus.service", "dbus.socket"}
MASK_ALSO = ["getty.target", "systemd-logind.service", "systemd-remount-fs.service", "systemd-journald-audit.socket",
             "systemd-tmpfiles-clean.timer", "systemd-initctl.socket", "systemd-update-utmp.service",
             "systemd-update-utmp-runlevel.service", "systemd-user-sessions.service", "systemd-journal-flush.service",
             # What the lab runs itself in a host (sshd, dockerd, NFS): this machine's units would start a second
             # one on this machine's own state (/var/lib/docker, /var/lib/nfs), shared with the machine's daemons.
             "ssh.service", "sshd.service", "ssh.socket", "docker.service", "docker.socket", "containerd.service",
             "rpcbind.service", "rpcbind.socket", "nfs-ganesha.service", "nfs-ganesha-lock.service"]
LAB_TARGET = "labhost.target"


def masked_units(units: Path = Path("/lib/systemd/system")) -> list[str]:
    wanted = [p.name for d in units.glob("*.target.wants") if d.name.split(".")[0] in
              ("sysinit", "sockets", "timers", "basic", "multi-user", "local-fs", "getty") for p in d.iterdir()]
    return sorted({*wanted, *MASK_ALSO} - KEEP_UNITS)


def _systemd_etc(host: Host) -> None:
    etc, spec = host.state / "etc", host.spec
    units = etc / "systemd" / "system"
    units.mkdir(parents=True)
    for unit in masked_units():
        if not (spec.docker and unit == DOCKER_UNIT):
            (units / unit).symlink_to("/dev/null")
    if spec.docker:
        # The host's engine as the real host runs it: docker.service, enabled (so a unit that Requires= it starts,
        # and boot waits for it), with the lab's dockerd command line instead of Debian's.
        argv = _dockerd_argv(host)
        _write(units / DOCKER_UNIT, DOCKER_UNIT_TEXT.format(argv=shlex.join([shutil.which(argv[0]) or argv[0], *argv[1:]])))
        (units / "multi-user.target.wants").mkdir()
        (units / "multi-user.target.wants" / DOCKER_UNIT).symlink_to(f"../{DOCKER_UNIT}")
    _write(units / LAB_TARGET, "# lab host stand-in (lab.standin_hosts): what the host boots into\n[Unit]\n"
           "Description=lab host stand-in\nRequires=multi-user.target\nAfter=multi-user.target\nAllowIsolate=yes\n")
    (etc / "sudoers.d").mkdir(mode=0o750)
    _write(etc / "fstab", "# lab host stand-in (lab.standin_hosts)\n" + "".join(f"{ln}\n" for ln in spec.fstab))
    _write(etc / "machine-id", os.urandom(16).hex() + "\n", 0o444)
    for d in ("var-lib-systemd", "journal"):
        (host.state / d).mkdir()


def _home(lab: HostLab, host: Host, compose_binary: Path | None) -> None:
    owner = (host.uid, host.gid)
    home = host.home
    for d in (home, home / ".ssh", home / ".docker", home / ".docker" / "cli-plugins"):
        d.mkdir(parents=True, exist_ok=True)
        os.chown(d, *owner)
    home.chmod(0o755)
    (home / ".ssh").chmod(0o700)
    pub = Path(str(lab.key) + ".pub").read_text()
    _write(home / ".ssh" / "authorized_keys", pub, 0o600, owner)
    if compose_binary:
        link = home / ".docker" / "cli-plugins" / "docker-compose"
        link.symlink_to(compose_binary)
        os.lchown(link, *owner)
    host.models.mkdir(parents=True, exist_ok=True)
    (host.state / "tmp").mkdir(mode=0o1777, exist_ok=True)
    (host.state / "tmp").chmod(0o1777)


# The end of both holders: the hostname, HostSpec.overlays and HostSpec.files, then the ready mark. From here on the
# state folder is reached through the working folder: an overlay or a file's target may hide it (the docs host's
# /srv, when this checkout lies in /srv).
_LAST_MOUNTS = r"""
hostname "$(cat "$S/etc/hostname")"
cd "$S"
for d in $LAB_OVERLAYS; do    # this machine's folder below, the host's writes on a tmpfs above
  o="$PWD/overlay$(echo "$d" | tr / -)"
  mkdir -p "$o" && mount -t tmpfs -o mode=755 lab-overlay "$o" && mkdir "$o/up" "$o/work"
  mount -t overlay lab-overlay -o "lowerdir=$d,upperdir=$o/up,workdir=$o/work" "$d"
done
for f in "$@"; do mount --bind "${f%%=*}" "${f#*=}"; done
touch ready
"""


_HOLDER = r"""
set -e
S="$0"
mount -t tmpfs -o mode=755 lab-run /run
mkdir -p /run/sshd /run/lock && chmod 1777 /run/lock
for f in passwd group shadow hostname hosts resolv.conf sudoers; do
  [ -e "/etc/$f" ] || { echo "/etc/$f missing on this machine" >&2; exit 1; }
  mount --bind "$S/etc/$f" "/etc/$f"
done
mount --bind "$S/home" /home
mount -t tmpfs -o mode=755 lab-mnt /mnt
mkdir -p /mnt/models && mount --bind "$S/mnt/models" /mnt/models
mount --bind "$S/tmp" /tmp
if [ -n "$LAB_DOCKER_DISK_GB" ]; then
  # /var/lib/docker without touching this machine's /var/lib: an overlay whose writes stay in this namespace
  mkdir -p "$S/var-lib" && mount -t tmpfs -o mode=755 lab-var-lib "$S/var-lib" && mkdir "$S/var-lib/up" "$S/var-lib/work"
  mount -t overlay lab-var-lib -o "lowerdir=/var/lib,upperdir=$S/var-lib/up,workdir=$S/var-lib/work" /var/lib
  mkdir -p /var/lib/docker && mount -t tmpfs -o "mode=710,size=${LAB_DOCKER_DISK_GB}G" lab-docker /var/lib/docker
fi
""" + _LAST_MOUNTS + r"""exec sleep infinity
"""


# A systemd host: the holder joins the host's own cgroups, then becomes PID 1 of new PID and cgroup namespaces,
# mounts what systemd expects as a container's init would find it, and execs systemd.
_JOIN_CGROUPS = r"""
set -e
echo "$CGROUPS" | while read -r d; do echo $$ > "$d/cgroup.procs"; done
exec unshare --mount --uts --pid --fork --cgroup --propagation private sh -c "$HOLDER" "$STATE" "$@"
"""

_HOLDER_SYSTEMD = r"""
set -e
S="$0"
mount -t proc proc /proc
mount --bind /proc/sys /proc/sys && mount -o remount,bind,ro /proc/sys
mount --bind /proc/sysrq-trigger /proc/sysrq-trigger && mount -o remount,bind,ro /proc/sysrq-trigger
# The cgroup hierarchies again, inside the cgroup namespace: rooted at the host's own cgroups.
v1=$(cut -d: -f2 /proc/self/cgroup | grep . || true)
umount -R /sys/fs/cgroup
mount -o remount,bind,ro /sys
if [ -z "$v1" ]; then
  mount -t cgroup2 cgroup2 /sys/fs/cgroup
else
  mount -t tmpfs -o mode=755 lab-cgroup /sys/fs/cgroup
  mkdir /sys/fs/cgroup/unified && mount -t cgroup2 cgroup2 /sys/fs/cgroup/unified
  for h in $v1; do
    d="/sys/fs/cgroup/${h#name=}"; mkdir "$d"
    case "$h" in name=*) mount -t cgroup -o "none,$h" cgroup "$d" ;; *) mount -t cgroup -o "$h" cgroup "$d" ;; esac
  done
  mount -o remount,ro /sys/fs/cgroup
fi
mount -t tmpfs -o mode=755 lab-run /run
mkdir -p /run/sshd /run/lock && chmod 1777 /run/lock
for f in passwd group shadow hostname hosts resolv.conf sudoers sudoers.d fstab machine-id systemd/system; do
  [ -e "/etc/$f" ] || { echo "/etc/$f missing on this machine" >&2; exit 1; }
  mount --bind "$S/etc/$f" "/etc/$f"
done
if [ -n "$LAB_DOCKER_DISK_GB" ]; then   # as in _HOLDER
  mkdir -p "$S/var-lib" && mount -t tmpfs -o mode=755 lab-var-lib "$S/var-lib" && mkdir "$S/var-lib/up" "$S/var-lib/work"
  mount -t overlay lab-var-lib -o "lowerdir=/var/lib,upperdir=$S/var-lib/up,workdir=$S/var-lib/work" /var/lib
  mkdir -p /var/lib/docker && mount -t tmpfs -o "mode=710,size=${LAB_DOCKER_DISK_GB}G" lab-docker /var/lib/docker
fi
mount --bind "$S/var-lib-systemd" /var/lib/systemd
mkdir -p /var/log/journal && mount --bind "$S/journal" /var/log/journal
mount --bind "$S/home" /home
mount -t tmpfs -o mode=755 lab-mnt /mnt
mkdir -p /mnt/models
mount --bind "$S/tmp" /tmp
""" + _LAST_MOUNTS + r"""exec env -i container=labdocs-standin /lib/systemd/systemd --unit=labhost.target
"""


def _holder(host: Host) -> None:
    files = [f"{src}={dst}" for dst, src in host.spec.files.items()]
    (host.state / "mnt" / "models").mkdir(parents=True, exist_ok=True)
    disk = {"LAB_DOCKER_DISK_GB": str(host.spec.docker_disk_gb or ""), "LAB_OVERLAYS": " ".join(host.spec.overlays)}
    if host.spec.systemd:
        host.cgroups = _make_cgroups(f"{CGROUP_PREFIX}{host.netns}")
        argv = ["nsenter", f"--net=/run/netns/{host.netns}", "sh", "-c", _JOIN_CGROUPS, "sh", *files]
        env = {**os.environ, **disk, "HOLDER": _HOLDER_SYSTEMD, "STATE": str(host.state),
               "CGROUPS": "\n".join(map(str, host.cgroups))}
    else:
        argv = ["nsenter", f"--net=/run/netns/{host.netns}", "unshare", "--mount", "--uts", "--propagation", "private",
                "sh", "-c", _HOLDER, str(host.state), *files]
        env = {**os.environ, **disk}
    host.holder = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   text=True, start_new_session=True, preexec_fn=_preexec_pdeathsig, env=env)
    deadline = time.monotonic() + 10
    while not (host.state / "ready").exists():
        if host.holder.poll() is not None:
            raise HostLabError(f"{host.name}: namespaces not set up: {host.holder.stderr.read()}")
        if time.monotonic() > deadline:
            raise HostLabError(f"{host.name}: namespaces not set up within 10 s")
        time.sleep(0.02)
    if host.spec.systemd:
        # The holder (unshare --fork) has one child: the future PID 1, which has exec'd systemd or is about to.
        children = Path(f"/proc/{host.holder.pid}/task/{host.holder.pid}/children").read_text().split()
        if len(children) != 1:
            raise HostLabError(f"{host.name}: expected one init process under {host.holder.pid}, found {children}")
        host.init_pid = int(children[0])


def _wait_systemd(host: Host, timeout: float) -> None:
    """Until systemd has booted the host: `systemctl is-system-running` says running (or degraded: listed)."""
    deadline = time.monotonic() + timeout
    while True:
        state = host.systemctl("is-system-running", timeout=10).stdout.strip()
        if state in ("running", "degraded"):
            break
        if host.holder.poll() is not None or time.monotonic() > deadline:
            raise HostLabError(f"{host.name}: systemd not up within {timeout:.0f} s (state {state or '?'}):\n"
                               + host.systemctl("--failed").stdout + (host.holder.stderr.read() if host.holder.poll() is not None else ""))
        time.sleep(0.05)
    if state == "degraded":
        raise HostLabError(f"{host.name}: systemd booted degraded:\n" + host.systemctl("--failed").stdout
                           + host.run("journalctl --no-pager -n 30 -p warning").stdout)


def _daemon(host: Host, name: str, argv: list[str], wd: Path | None = None) -> subprocess.Popen:
    log = open(host.state / f"{name}.log", "w")
    proc = subprocess.Popen(host.enter(argv, wd=wd), stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True, preexec_fn=_preexec_pdeathsig)
    log.close()
    host.daemons[name] = proc
    return proc


def _log_tail(path: Path, n: int = 20) -> str:
    with contextlib.suppress(OSError):
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    return "(no log)"


def _sshd(host: Host) -> None:
    key = host.state / "ssh" / "ssh_host_ed25519_key"
    key.parent.mkdir(parents=True, exist_ok=True)
    _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", host.spec.hostname, "-f", str(key)])
    config = _write(host.state / "ssh" / "sshd_config", "\n".join([
        "# lab host stand-in: key auth only", "Port 22", "ListenAddress 0.0.0.0", f"HostKey {key}",
        "PidFile /run/sshd.pid", "UsePAM no", "PasswordAuthentication no", "KbdInteractiveAuthentication no",
        "PubkeyAuthentication yes", "AuthorizedKeysFile .ssh/authorized_keys", "StrictModes yes",
        "PrintMotd no", "PrintLastLog no", "AcceptEnv LANG LC_*", "Subsystem sftp internal-sftp",
        # The PATH an ssh session gets on the real hosts (Ubuntu-based DGX OS: /etc/environment, read by pam_env),
        # sbin folders included (showmount); without PAM, sshd would give Debian's shorter default.
        "SetEnv PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", ""]))
    _daemon(host, "sshd", ["/usr/sbin/sshd", "-D", "-e", "-f", str(config)])


DOCKER_ROOT = "/var/lib/docker"     # with HostSpec.docker_disk_gb (the holder mounts it)


DOCKER_UNIT = "docker.service"
# As Debian's docker.io unit, but the lab's command line (no containerd of this machine, no socket activation).
DOCKER_UNIT_TEXT = """# lab host stand-in (lab.standin_hosts): the host's docker engine, started by its systemd
[Unit]
Description=Docker Application Container Engine (lab host stand-in)
After=network-online.target
Wants=network-online.target

[Service]
Type=notify
ExecStart={argv}
ExecReload=/bin/kill -s HUP $MAINPID
TimeoutStartSec=60
Delegate=yes
KillMode=process
LimitNOFILE=infinity
TasksMax=infinity

[Install]
WantedBy=multi-user.target
"""


def _dockerd(host: Host) -> None:
    if host.spec.systemd:
        return                  # docker.service, started by the host's systemd at boot (_systemd_etc)
    _daemon(host, "dockerd", _dockerd_argv(host))


def _dockerd_argv(host: Host) -> list[str]:
    data = Path(DOCKER_ROOT) if host.spec.docker_disk_gb else host.state / "docker"
    if not host.spec.docker_disk_gb:
        data.mkdir(parents=True, exist_ok=True)
    config = _write(host.state / "daemon.json", "{}\n")
    return [
        "dockerd", "--data-root", str(data), "--exec-root", "/run/docker-exec", "--pidfile", "/run/docker.pid",
        "-H", "unix:///run/docker.sock", "--config-file", str(config), "--bridge=none", "--iptables=false",
        "--ip6tables=false", "--ip-masq=false", "--exec-opt", "native.cgroupdriver=cgroupfs",
        "--storage-driver", "overlay2", "--group", "docker", "--log-level", "warn",
        # A systemd host's /proc/sys is read-only; with no bridge nothing needs forwarding anyway.
        *(["--ip-forward=false"] if host.spec.systemd else [])]


GANESHA_CONF = """# lab host stand-in: nfs-ganesha in userspace, on the host's lab address only (lab.standin_hosts)
NFS_CORE_PARAM {{
    Bind_Addr = {address};
    Protocols = 3, 4;
    Enable_NLM = false;        # no lock manager (it would need rpc.statd); the share is read-only
    Enable_RQUOTA = false;
    Mount_Path_Pseudo = true;  # NFSv3 MOUNT and showmount use the export's name, as NFSv4 does
}}
NFSV4 {{
    Graceless = true;          # a fresh server with no clients to recover: serve at once
    RecoveryBackend = fs;
    RecoveryRoot = {state}/ganesha-recovery;   # never /var/lib/nfs/ganesha on this machine
}}
NFS_KRB5 {{ Active_krb5 = false; }}
LOG {{ Default_Log_Level = EVENT; }}
{exports}"""

GANESHA_EXPORT = """EXPORT {{
    Export_Id = {id};
    Path = {path};
    Pseudo = {export};
    Protocols = 3, 4;
    Transports = UDP, TCP;
    SecType = sys;
    Squash = root_squash;
    Access_Type = None;
    CLIENT {{ Clients = {network}; Access_Type = RO; }}   # the lab's network only
    FSAL {{ Name = VFS; }}
}}
"""


LAB_STAMPS = {".lab-build.json"}   # the lab's build stamps: not part of what a share holds


def _link_tree(src: Path, dst: Path) -> None:
    """src's entries into dst: hard links when on the same filesystem (instant, the same bytes), copies otherwise;
    symlinks kept as links (hub snapshots link into blobs/), the lab's stamps left out."""
    for dirpath, dirnames, filenames in os.walk(src):
        rel = Path(dirpath).relative_to(src)
        (dst / rel).mkdir(parents=True, exist_ok=True)
        for name in [*filenames, *(d for d in dirnames if (Path(dirpath) / d).is_symlink())]:
            source, target = Path(dirpath) / name, dst / rel / name
            if name in LAB_STAMPS:
                continue
            if source.is_symlink():
                target.symlink_to(os.readlink(source))
                continue
            try:
                os.link(source, target)
            except OSError:
                shutil.copy2(source, target)


def _nfs(lab: HostLab, host: Host) -> None:
    """rpcbind, then nfs-ganesha, in the host's namespaces; each export's folder assembled in the host's state."""
    blocks = []
    for i, (export, folders) in enumerate(host.spec.nfs_exports.items(), start=1):
        if not export.startswith("/") or any(c in export for c in ' ;{}"#'):
            raise HostLabError(f"{host.name}: NFS export {export!r} must be an absolute path without spaces or ;{{}}\"#")
        tree = host.state / "exports" / str(i)
        tree.mkdir(parents=True)
        for folder in map(Path, folders):
            if not folder.is_dir():
                raise HostLabError(f"{host.name}: {export}: {folder} is not a folder (build the lab's models first)")
            _link_tree(folder, tree)
        blocks.append(GANESHA_EXPORT.format(id=i, path=tree, export=export, network=lab.network))
    recovery = host.state / "ganesha-recovery"
    recovery.mkdir()
    config = _write(host.state / "ganesha.conf",
                    GANESHA_CONF.format(address=host.address, state=host.state, exports="".join(blocks)))
    # rpcbind: its socket and state in the host's private /run; UDP on the lab address only (-h).
    _run(host.enter(["sh", "-c", "mkdir -p /run/rpcbind && chown _rpc /run/rpcbind 2>/dev/null || true"]))
    _daemon(host, "rpcbind", ["rpcbind", "-f", "-h", host.address], wd=host.state)
    _wait_daemons(host, 10, only=["rpcbind"])
    _daemon(host, "ganesha", ["ganesha.nfsd", "-F", "-f", str(config), "-L", str(host.state / "ganesha.log"),
                              "-p", "/run/ganesha.pid", "-N", "NIV_EVENT"], wd=host.state)


def _ready(host: Host, name: str) -> bool:
    probes = {
        "sshd": ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/22"],
        "dockerd": ["docker", "-H", host.docker_host(), "version", "--format", "{{.Server.Version}}"],
        "rpcbind": ["rpcinfo", "-p", "127.0.0.1"],
        # ganesha is ready once MOUNT v3 is registered with rpcbind and NFS answers on TCP 2049
        "ganesha": ["sh", "-c", f"rpcinfo -T tcp {host.address} mountd 3 && rpcinfo -T tcp {host.address} nfs 4"],
    }
    own = {s.name: s.ready for s in host.spec.services}
    return _run(host.enter(own.get(name) or probes[name]), check=False, timeout=10).returncode == 0


def _log_path(host: Host, name: str) -> Path:
    return host.state / ("ganesha.log" if name == "ganesha" else f"{name}.log")


def _wait_daemons(host: Host, timeout: float, only: list[str] | None = None) -> None:
    deadline = time.monotonic() + timeout
    pending = set(only if only is not None else host.daemons)
    while pending:
        for name in list(pending):
            proc = host.daemons[name]
            if proc.poll() is not None:
                raise HostLabError(f"{host.name}: {name} exited {proc.returncode}:\n" + _log_tail(_log_path(host, name)))
            if _ready(host, name):
                pending.discard(name)
        if pending and time.monotonic() > deadline:
            raise HostLabError(f"{host.name}: {', '.join(sorted(pending))} not ready within {timeout:.0f} s:\n"
                               + "\n".join(_log_tail(_log_path(host, n)) for n in pending))
        if pending:
            time.sleep(0.1)


def _workstation(lab: HostLab) -> None:
    ws = lab.state / "workstation"
    ws.mkdir(parents=True, exist_ok=True)
    _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "labdocs-workstation", "-f", str(lab.key)])
    base = Path("/etc/hosts").read_text() if Path("/etc/hosts").exists() else ""
    lines = ["# written by lab.standin_hosts: documented host names -> the lab's host stand-ins"]
    lines += [f"{h.address}\t{' '.join(h.spec.names())}" for h in lab.hosts.values()]
    _write(lab.hosts_file, "\n".join(lines) + "\n\n# from /etc/hosts\n" + base)


def write_ssh_config(lab: HostLab) -> None:
    """The workstation's ssh config, from the data: the `Host ALIAS` entries an operator keeps in
    ~/.ssh/config, plus the lab's key and known hosts (lab-only lines, marked)."""
    known = lab.state / "workstation" / "known_hosts"
    entries, keys = [], []
    for h in lab.hosts.values():
        if not h.spec.sshd:
            continue                  # nothing to log in to (the NFS server's stand-in)
        pub = (h.state / "ssh" / "ssh_host_ed25519_key.pub").read_text().split()[:2]
        keys.append(f"{','.join([*h.spec.names(), h.address])} {' '.join(pub)}")
        if h.spec.ssh_alias:
            entries.append(f"Host {h.spec.ssh_alias}\n    HostName {h.spec.hostname}\n    User {h.spec.user}\n")
    _write(known, "\n".join(keys) + "\n")
    lab_only = (f"Host *\n    # lab only: the lab's key and host keys, never an agent or a password prompt\n"
                f"    IdentityFile {lab.key}\n    IdentitiesOnly yes\n    UserKnownHostsFile {known}\n"
                f"    GlobalKnownHostsFile /dev/null\n    StrictHostKeyChecking yes\n    BatchMode yes\n"
                f"    ConnectTimeout 5\n    LogLevel ERROR\n")
    _write(lab.ssh_config, "# generated by lab.standin_hosts from the data's ssh: entries\n"
           + "\n".join(entries) + "\n" + lab_only)


def _preflight(nfs: bool = False) -> None:
    if os.geteuid() != 0:
        raise HostLabError("host stand-ins need root (network and mount namespaces, dockerd, sshd)")
    need = ["ip", "nsenter", "unshare", "setpriv", "ssh", "ssh-keygen", "/usr/sbin/sshd", "dockerd", "docker"]
    missing = [n for n in need if not shutil.which(n)]
    if nfs:
        missing += [n for n in ("ganesha.nfsd", "rpcbind", "rpcinfo") if not shutil.which(n)]
        if not list(Path("/usr/lib").glob("*/ganesha/libfsalvfs.so")):   # Debian's multiarch folder
            missing.append("ganesha's VFS backend (libfsalvfs.so)")
    if missing:
        raise HostLabError(f"missing {', '.join(missing)}: `make system-deps` installs them "
                           "(iproute2, util-linux, openssh-server, docker.io; nfs-ganesha, nfs-ganesha-vfs, rpcbind)")


# What each stand-in replaces with its own (_HOLDER): lab files below these are hidden inside a host.
SHADOWED = ("/home", "/tmp", "/run", "/mnt", "/var/lib")     # /var/lib: an overlay (docker_disk_gb)


def _check_not_shadowed(*paths: Path) -> None:
    for path in paths:
        real = path.resolve()
        hit = next((d for d in SHADOWED if real.is_relative_to(d)), None)
        if hit:
            raise HostLabError(
                f"{path} lies under {hit}, which every host stand-in replaces with its own, so the hosts "
                f"could not see it. Hint: run the host tests from a checkout outside {', '.join(SHADOWED)} "
                "(e.g. /srv/labdocs or /opt/labdocs)")


@contextlib.contextmanager
def running_hosts(specs: list[HostSpec], state_root: Path, *, compose_binary: Path | None = None,
                  slot: int | None = None, timeout: float = 60.0) -> Iterator[HostLab]:
    """Start the hosts (in parallel where it matters: the daemons), check the address rule, yield the
    HostLab, and always tear everything down."""
    _preflight(nfs=any(s.nfs_exports for s in specs))
    _check_not_shadowed(Path(state_root), *(Path(src) for s in specs for src in s.files.values()))
    if len({s.name for s in specs}) != len(specs):
        raise HostLabError("host names must be unique")
    slot, lock = _take_slot(slot)
    lab = HostLab(slot=slot, state=Path(state_root).resolve() / f"{PREFIX}{slot}", _lock=lock)
    _sweep(lab.prefix, lab.state)           # a crashed run's leftovers in this slot
    previous = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGHUP):
            previous[sig] = signal.signal(sig, _raise_exit)
    _ACTIVE.add(lab)
    t0 = time.monotonic()
    try:
        check_network(lab.network)
        if len(specs) > 200:
            raise HostLabError("at most 200 hosts per lab")
        for i, spec in enumerate(specs):
            lab.hosts[spec.name] = Host(spec, lab, i, str(lab.network.network_address + 10 + i))
        lab.state.mkdir(parents=True, exist_ok=True)
        _workstation(lab)
        _network(lab)
        check_routes(lab)
        for host in lab.hosts.values():
            _etc(lab, host)
            _home(lab, host, compose_binary if host.spec.docker else None)
            _holder(host)
            if host.spec.systemd:
                _wait_systemd(host, timeout)
            if host.spec.sshd:
                _sshd(host)
            if host.spec.docker:
                _dockerd(host)
            if host.spec.nfs_exports:
                _nfs(lab, host)
            for service in host.spec.services:
                _daemon(host, service.name, service.argv, wd=host.state)
        for host in lab.hosts.values():
            _wait_daemons(host, timeout)
            lab.startup_seconds[host.name] = round(time.monotonic() - t0, 2)
        write_ssh_config(lab)
        _log(f"{len(lab.hosts)} host(s) up in {time.monotonic() - t0:.1f} s on {lab.network} "
             f"(bridge {lab.bridge}): " + ", ".join(f"{h.spec.hostname}={h.address}" for h in lab.hosts.values()))
        yield lab
    finally:
        took = lab.stop()
        _log(f"host stand-ins torn down in {took:.1f} s")
        for sig, handler in previous.items():
            signal.signal(sig, handler)


# --- images ------------------------------------------------------------------------------------------

def base_rootfs_tar(path: Path, files: dict[str, str] | None = None) -> Path:
    """A root filesystem tarball with this machine's layout and no userland of its own: the lab's override
    bind-mounts this machine's /usr read-only into the container (a lab-only delta, listed in the report).
    files: {path in the image: text} (executables when they start with #!)."""
    import io
    import tarfile

    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w") as tar:
        def add_dir(name: str, mode: int = 0o755) -> None:
            info = tarfile.TarInfo(name)
            info.type, info.mode = tarfile.DIRTYPE, mode
            tar.addfile(info)

        for d in ("usr", "etc", "proc", "sys", "dev", "root", "run", "var", "var/tmp", "models", "workspace",
                  "opt", "lab"):
            add_dir(d)
        add_dir("tmp", 0o1777)
        for link, target in (("bin", "usr/bin"), ("sbin", "usr/sbin"), ("lib", "usr/lib"), ("lib64", "usr/lib64")):
            info = tarfile.TarInfo(link)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info)
        base = {"etc/passwd": "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
                "etc/group": "root:x:0:\nnogroup:x:65534:\n", "etc/hosts": "127.0.0.1\tlocalhost\n"}
        for name, text in {**base, **(files or {})}.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o755 if text.startswith("#!") else 0o644
            tar.addfile(info, io.BytesIO(data))
    return path


def import_image(host: Host, ref: str, tarball: Path) -> float:
    """`docker import` the tarball into the host's own engine under ref; returns the seconds it took."""
    t0 = time.monotonic()
    _run(host.enter(["docker", "import", str(tarball), ref]), timeout=600)
    return time.monotonic() - t0
