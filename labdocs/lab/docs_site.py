"""The docs site in the loopback lab: the generated systemd unit's own ExecStart, run as printed.

The unit serves SITE_ROOT/site on the docs host's name. Here it runs in a private mount namespace
where /etc/hosts maps that name to a loopback address of the lab, and an empty tmpfs over the top
directory of SITE_ROOT (e.g. /srv) holds a bind mount of the lab's own site root (built by
`make publish-site SITE_ROOT=...`), so the command line is exactly the unit's and the machine's own
/etc/hosts and /srv are never touched. Stdlib only.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Iterator

from labdocs.lab import addresses, background

ADDRESS = addresses.loopback(addresses.DOCS_SITE)

# $0 hosts file, $1 the top directory to hide, $2 the documented site root, $3 the lab's; then the command.
_SCRIPT = ('mount --bind "$0" /etc/hosts && mount -t tmpfs labdocs-site "$1" && mkdir -p "$2" '
           '&& mount --bind "$3" "$2" && shift 3 && exec "$@"')


def exec_start(unit_text: str) -> list[str]:
    """The argv of a unit's ExecStart= (one line, no systemd prefixes or specifiers)."""
    lines = [line.split("=", 1)[1] for line in unit_text.splitlines() if line.startswith("ExecStart=")]
    if len(lines) != 1 or lines[0][:1] in "-@:+!" or "%" in lines[0]:
        raise ValueError(f"expected one plain ExecStart= line, got {lines}")
    return shlex.split(lines[0])


def _answers(url: str) -> bool:
    try:
        with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


@contextlib.contextmanager
def running(unit_text: str, documented_root: str, lab_root: Path, hostname: str, port: int,
            hosts_file: Path, log: Path, timeout: float = 30) -> Iterator[str]:
    """Run the unit's command until the block ends; yields the lab's URL (http://ADDRESS:PORT/)."""
    argv = exec_start(unit_text)
    top = "/" + documented_root.strip("/").split("/")[0]
    if top == "/" or not os.path.isdir(top):
        raise RuntimeError(f"{documented_root}: its top directory {top} must exist to be hidden by a tmpfs")
    hosts_file.parent.mkdir(parents=True, exist_ok=True)
    hosts_file.write_text(f"{ADDRESS}\t{hostname}\n" + Path("/etc/hosts").read_text())
    userns = [] if os.geteuid() == 0 else ["-r"]
    wrapped = ["unshare", *userns, "-m", "--propagation", "private", "sh", "-c", _SCRIPT,
               str(hosts_file), top, documented_root, str(lab_root.resolve()), *argv]
    url = f"http://{ADDRESS}:{port}/"
    with log.open("w") as out:
        out.write("# " + shlex.join(argv) + "\n")
        out.flush()
        proc = subprocess.Popen(wrapped, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + timeout
        while not _answers(url):
            if proc.poll() is not None:
                raise RuntimeError(f"the docs site server exited with {proc.returncode}: {log.read_text()[-2000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the docs site server did not answer {url} within {timeout:g} s")
            time.sleep(0.2)
        yield url
    finally:
        background.stop(proc, timeout=10)
