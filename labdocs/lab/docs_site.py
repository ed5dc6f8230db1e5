"""The docs site in the loopback lab: the generated systemd unit's own ExecStart, run as printed, on a host
stand-in of its own (lab.standin_hosts).

The host is the docs host as a Debian install makes it: its own network namespace with one lab address, the
documented host name, and an /etc/hosts that maps that name to 127.0.1.1 as well (so a unit that binds the
name's address, not every address, is refused from the workstation here as it was on a real install). Its
top folder of the site root (e.g. /srv) is a folder of the lab's, which holds the lab's site root (built by `make
publish-site SITE_ROOT=...`) at the documented path below it (`site_root_in`): one bind mount, whose source is
still visible when it is made even if the checkout itself lies below that top folder (a CI clone in /srv/ci),
so the command line is exactly the unit's, and this machine's /etc/hosts, /srv and interfaces are never
touched. Stdlib only. Needs root.
"""

from __future__ import annotations

import contextlib
import shlex
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from labdocs.lab import background
from labdocs.lab import standin_hosts as sh

HOST = "docs-site"          # the stand-in's name (its netns: ldhN-docs-site)


@dataclass
class Served:
    url: str                # http://ADDRESS:PORT/ (the host's lab address)
    address: str            # what the documented host name resolves to in the lab


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


def _top(documented_root: str) -> str:
    top = "/" + documented_root.strip("/").split("/")[0]
    if top == "/" or top == documented_root.rstrip("/") or not Path(top).is_dir():
        raise RuntimeError(f"{documented_root}: expected a folder below a top directory of this machine (e.g. /srv)")
    return top


def site_root_in(top_dir: Path, documented_root: str) -> Path:
    """Where the lab builds the site root inside the folder that `running` shows as its top folder
    (top_dir/labdocs for /srv/labdocs)."""
    return Path(top_dir) / Path(documented_root).relative_to(_top(documented_root))


@contextlib.contextmanager
def running(unit_text: str, documented_root: str, top_dir: Path, hostname: str, port: int,
            state: Path, timeout: float = 30) -> Iterator[Served]:
    """Run the unit's command on the docs host's stand-in until the block ends; yields its URL and address.
    top_dir: the lab's folder shown as the site root's top folder (/srv), holding the site root at
    site_root_in(top_dir, documented_root). top_dir and state must lie outside the folders a stand-in
    replaces (/tmp, /home, ...)."""
    argv = exec_start(unit_text)
    top = _top(documented_root)
    if not site_root_in(top_dir, documented_root).is_dir():
        raise RuntimeError(f"{site_root_in(top_dir, documented_root)}: no site root to serve as {documented_root}")
    state.mkdir(parents=True, exist_ok=True)
    spec = sh.HostSpec(HOST, hostname, sshd=False, docker=False, sudo=False, files={top: str(Path(top_dir).resolve())})
    log = state / "server.log"
    with sh.running_hosts([spec], state, timeout=timeout) as lab:
        host = lab[HOST]
        with log.open("w") as out:
            out.write("# " + shlex.join(argv) + "\n")
            out.flush()
            proc = subprocess.Popen(host.enter(argv), stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True)
        url = f"http://{host.address}:{port}/"
        try:
            deadline = time.monotonic() + timeout
            while not _answers(url):
                if proc.poll() is not None:
                    raise RuntimeError(f"the docs site server exited with {proc.returncode}: {log.read_text()[-2000:]}")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the docs site server did not answer {url} within {timeout:g} s "
                                       f"(it listens where the unit says):\n{log.read_text()[-2000:]}")
                time.sleep(0.2)
            yield Served(url, host.address)
        finally:
            background.stop(proc, timeout=10)
