"""Run a QUICKSTART's steps in order on a stand-in host: a directory playing the host's home, reached by
ssh/scp stand-ins that run the remote command there (no sshd in the loopback lab), with the real docker
client and the real compose v2 binary for what needs no daemon (`docker compose config`), and the lab's
servers for every health check. A step that needs a docker daemon or root is not run; the report says
which, and why.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

from labdocs.doctests import fences
from labdocs.doctests.run import SHELL, Outcome, execute

# Docker commands that work without a daemon; any other docker command needs one.
DAEMONLESS = re.compile(r"docker\s+compose\s+(config|version)\b")
SAFE_PATHS = {"/dev/null", "/proc/meminfo"}  # read-only, and the same on any Linux host


def needs_here(block: fences.Block, lab_domain: str) -> str | None:
    """Why a block cannot run on the stand-in host, or None when it can. Addresses outside the lab's
    domain are never contacted (tests talk to loopback and to what the lab created only)."""
    code, needs = block.code, []
    outside = sorted({h for h in re.findall(r"https?://([A-Za-z0-9.-]+)", code)
                      if not h.endswith("." + lab_domain)})
    if outside:
        needs.append("addresses outside the lab (" + ", ".join(outside) + ")")
    # The stand-in host is a home directory: the real host's own paths (the model share, /etc) are not
    # there, and this machine's must never be touched.
    paths = set() if not block.host_bound else sorted({p for p in re.findall(r"(?<![\w.~:/$-])(/[A-Za-z0-9._-][A-Za-z0-9._/-]*)", code)
                    if p not in SAFE_PATHS})
    if paths:
        needs.append("the real host's files (" + ", ".join(f"`{p}`" for p in paths) + ")")
    daemon = sorted({" ".join(m.group(0).split()) for m in re.finditer(r"\bdocker\s+(?:(?:compose|image|container|builder|system)\s+)?[a-z]+", code)
                     if not DAEMONLESS.match(code, m.start())})
    if daemon:
        needs.append("a docker daemon (" + ", ".join(f"`{d}`" for d in daemon) + ")")
    if re.search(r"\bsudo\b", code):
        needs.append("root (`sudo`)")
    if "nvidia-smi" in code:
        needs.append("a GPU (`nvidia-smi`)")
    return " and ".join(needs) or None


def section(markdown: str, page: str, heading: str) -> list[fences.Block]:
    """The runnable blocks (shell and console) under `## heading`, in page order."""
    lines = markdown.split("\n")
    start = lines.index(f"## {heading}") + 1
    end = next((i for i in range(start, len(lines)) if lines[i].startswith("## ")), len(lines))
    return [b for b in fences.blocks(page, markdown) if start < b.line <= end and b.lang in fences.RUNNABLE]


_SSH = """#!/bin/bash
# ssh stand-in: runs the remote command in the stand-in host's home (no sshd in the lab).
set -e
[ "$1" = "$STANDIN_ALIAS" ] || { echo "ssh stand-in: unknown host alias '$1' (expected $STANDIN_ALIAS)" >&2; exit 255; }
shift
cd "$STANDIN_HOME" && HOME="$STANDIN_HOME" exec bash -c "$*"
"""
_SCP = """#!/bin/bash
# scp stand-in: SRC ALIAS:PATH copies into the stand-in host's home.
set -e
[ $# -eq 2 ] && [ "${2%%:*}" = "$STANDIN_ALIAS" ] || { echo "scp stand-in: expected SRC $STANDIN_ALIAS:PATH, got $*" >&2; exit 1; }
dest="${2#*:}"
case "$dest" in "~/"*) dest="$STANDIN_HOME/${dest#\\~/}" ;; /*) echo "scp stand-in: absolute path $dest" >&2; exit 1 ;; esac
cp "$1" "$dest"
"""


@dataclass
class StandInHost:
    """One host: its home directory, the alias that reaches it, and the tools the blocks call."""

    root: Path
    alias: str
    compose_binary: Path

    def __post_init__(self) -> None:
        self.home = self.root / "home"
        self.bin = self.root / "bin"
        plugins = self.root / "docker-config" / "cli-plugins"
        for d in (self.home, self.bin, plugins):
            d.mkdir(parents=True, exist_ok=True)
        for name, text in (("ssh", _SSH), ("scp", _SCP)):
            path = self.bin / name
            path.write_text(text)
            path.chmod(path.stat().st_mode | stat.S_IXUSR)
        link = plugins / "docker-compose"
        if not link.exists():
            link.symlink_to(self.compose_binary)

    def env(self, on_host: bool) -> dict[str, str]:
        env = {
            "PATH": f"{self.bin}:{os.environ['PATH']}",
            "STANDIN_ALIAS": self.alias, "STANDIN_HOME": str(self.home),
            "DOCKER_CONFIG": str(self.root / "docker-config"),
            # Never a real daemon: a socket path where nothing listens.
            "DOCKER_HOST": f"unix://{self.root}/no-daemon.sock",
        }
        if on_host:
            env["HOME"] = str(self.home)
        return env

    def run(self, block: fences.Block, wrap, workstation: Path, timeout: float) -> Outcome:
        """Run one block as printed: host blocks in the host's home, the others in the workstation's
        checkout (whose ssh/scp reach this host). `wrap` gives the lab's host names."""
        on_host = block.on is not None
        return execute(wrap([*SHELL, block.code]), timeout, env=self.env(on_host),
                       cwd=self.home if on_host else workstation)

    def file(self, rel: str) -> Path:
        return self.home / rel.removeprefix("~/")
