"""Let a command resolve documented host names to the lab's loopback servers.

The documented commands name real hosts (http://pegasus.home.arpa:8000/...).
Rather than rewrite their text, each command runs in a private mount
namespace where a lab hosts file is bind-mounted over /etc/hosts; the host's
own /etc/hosts is never touched. Stdlib only (imported by the test process).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Mapping

# $0 carries the hosts file path and "$@" the command, so neither needs quoting.
_SCRIPT = 'mount --bind "$0" /etc/hosts && exec "$@"'


def write_hosts_file(path: Path | str, names: Mapping[str, str], base: Path | str | None = "/etc/hosts") -> Path:
    """Write a hosts file mapping each host name to its address.

    The lab lines come first (the resolver takes the first match); the
    machine's own entries follow so localhost and friends keep resolving.
    """
    path = Path(path)
    by_addr: dict[str, list[str]] = {}
    for name, addr in names.items():
        by_addr.setdefault(addr, []).append(name)
    lines = ["# written by lab.hosts: documented host names -> lab loopback servers"]
    lines += [f"{addr}\t{' '.join(hosts)}" for addr, hosts in by_addr.items()]
    if base and Path(base).exists():
        lines += ["", "# from " + str(base), Path(base).read_text().rstrip("\n")]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


def wrap(cmd_argv: Iterable[str], hosts_file: Path | str) -> list[str]:
    """Return an argv that runs cmd_argv seeing hosts_file as /etc/hosts.

    As root a new mount namespace is enough; otherwise a user namespace
    (unshare -r) grants the right to bind-mount inside it.
    """
    userns = [] if os.geteuid() == 0 else ["-r"]
    return ["unshare", *userns, "-m", "--propagation", "private",
            "sh", "-c", _SCRIPT, str(Path(hosts_file).resolve()), *cmd_argv]
