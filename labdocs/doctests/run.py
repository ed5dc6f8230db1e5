"""Run a block's commands: in the loopback lab (documented names resolve to 127.0.0.x), or against the
real hosts (host-local blocks over ssh with the documented alias). Every run has a timeout and kills
its whole process group, so a hung command cannot hang the suite."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from labdocs.paths import ROOT

SHELL = ["bash", "-e", "-o", "pipefail", "-c"]

# Exit codes that mean "could not reach the host", with what they mean.
UNREACHABLE = {
    ("curl", 6): "could not resolve the host name",
    ("curl", 7): "connection refused or host unreachable",
    ("curl", 28): "timed out",
    ("ssh", 255): "ssh could not connect",
}


@dataclass
class Outcome:
    argv: list[str]
    returncode: int | None       # None: killed at the timeout
    stdout: str
    stderr: str
    seconds: float

    @property
    def timed_out(self) -> bool:
        return self.returncode is None


def execute(argv: list[str], timeout: float, stdin: str | None = None, env: dict | None = None,
            cwd: Path = ROOT) -> Outcome:
    start = time.monotonic()
    proc = subprocess.Popen(argv, cwd=cwd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True,
                            env={**os.environ, **(env or {})})
    try:
        out, err = proc.communicate(stdin, timeout=timeout)
        code: int | None = proc.returncode
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        code = None
    return Outcome(argv, code, out, err, time.monotonic() - start)


def _mentioned(code: str, hosts: set[str]) -> list[str]:
    return sorted(h for h in hosts if h in code)


def _could_not_reach(code: str, hosts: set[str], why: str) -> str:
    return f"could not reach {', '.join(_mentioned(code, hosts)) or 'the host'}: {why}"


def why_unreachable(code: str, outcome: Outcome, hosts: set[str]) -> str | None:
    """'could not reach stella.home.arpa: connection refused' when that explains a failure."""
    mentioned = _mentioned(code, hosts)
    if outcome.timed_out and mentioned:
        return f"no answer from {', '.join(mentioned)} before the timeout"
    for (tool, rc), meaning in UNREACHABLE.items():
        if outcome.returncode == rc and re.search(rf"\b{tool}\b", code):
            return _could_not_reach(code, hosts, f"{meaning} ({tool} exit {rc})")
    return None


# Exceptions (by class name, anywhere in the chain) that mean a python block could not reach a host.
UNREACHABLE_EXC = {
    "gaierror": "could not resolve the host name",
    "ConnectionRefusedError": "connection refused",
    "ConnectTimeout": "timed out",
    "APITimeoutError": "timed out",
    "TimeoutError": "timed out",
    "ConnectError": "could not connect",
    "APIConnectionError": "could not connect",
    "URLError": "could not connect",
}


def _chain(exc: BaseException | None):
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def _meaning(exc: BaseException) -> str | None:
    """What the exception's most specific listed class means (APITimeoutError before its base)."""
    return next((UNREACHABLE_EXC[c.__name__] for c in type(exc).__mro__ if c.__name__ in UNREACHABLE_EXC), None)


def why_unreachable_python(code: str, exc: BaseException, hosts: set[str]) -> str | None:
    """The same explanation for a python block, from the exception it raised: the innermost cause
    in the chain (the resolver's or the socket's error rather than the SDK's wrapper) counts."""
    found = [m for e in _chain(exc) if (m := _meaning(e))]
    return _could_not_reach(code, hosts, f"{found[-1]} ({type(exc).__name__})") if found else None


class LabTarget:
    """Commands run on this machine, seeing the lab's private /etc/hosts."""

    name = "lab"

    def __init__(self, lab):
        self.lab = lab

    def local(self, code: str, timeout: float) -> Outcome:
        return execute(self.lab.wrap([*SHELL, code]), timeout)

    def logs(self, systems: list[str], lines: int = 30) -> str:
        return "\n".join(f"--- lab server {name}: last {lines} lines of {self.lab.log_path(name)}\n"
                         f"{self.lab.log_tail(name, lines)}" for name in systems)


class LiveTarget:
    """Commands run against the real hosts: locally with real DNS, or on a host over ssh."""

    name = "live"

    def local(self, code: str, timeout: float) -> Outcome:
        return execute([*SHELL, code], timeout)

    def on_host(self, alias: str, code: str, timeout: float) -> Outcome:
        argv = ["ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=5", alias, "bash", "-e", "-o", "pipefail", "-s"]
        return execute(argv, timeout, stdin=code)

    def logs(self, systems: list[str], lines: int = 30) -> str:
        return ""
