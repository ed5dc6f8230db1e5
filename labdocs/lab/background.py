"""Lab preparations started when a test session starts, each in its own process group: the lab venv's install
(mostly downloads) and the llama-server build (at the lowest CPU priority). They run while the first tests
do; whoever needs the result later waits on the file lock the preparation holds (lab.venv, lab.llamacpp_build),
so nothing is done twice. Stdlib only.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

from labdocs.paths import ROOT


def start(module: str, args: list[str], log: Path, nice: int = 0) -> subprocess.Popen:
    """`python -m MODULE ARGS` in the background, output to LOG."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w") as out:
        return subprocess.Popen(["nice", "-n", str(nice), sys.executable, "-m", module, *args], stdout=out,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=ROOT, start_new_session=True)


def stop(proc: subprocess.Popen | None, timeout: float = 20) -> None:
    """Stop a process started in its own session, with its children: SIGTERM to the group, SIGKILL what is left
    after timeout. (An interrupted install or build is redone by the next one: neither marks itself done
    before it is.)"""
    if proc is None or proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def prepare(need_venv: bool, need_llama_server: bool, logs: Path) -> list[subprocess.Popen]:
    """Start what is needed and not there yet: the lab venv first (downloads), the llama-server build beside it
    on the CPU time left over."""
    from labdocs.lab import llamacpp_build, venv

    started = []
    # (the venv's module also fills vLLM's model-class info cache once the venv is there: lab.venv.warm_model_info)
    if (need_venv or need_llama_server) and not (venv.ready(ROOT) and venv.model_info_ready(ROOT)):
        started.append(start("labdocs.lab.venv", [str(ROOT)], logs / "lab-venv.log"))
    if need_llama_server and not llamacpp_build.binary().exists():
        started.append(start("labdocs.lab.llamacpp_build", ["--build"], logs / "llama-server-build.log", nice=19))
    return started
