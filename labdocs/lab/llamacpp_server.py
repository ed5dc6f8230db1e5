"""The lab's llama-server for each llama.cpp system: the built binary (llamacpp_build, cached under
.lab/llamacpp/), the tiny GGUF under the documented file name, the system's flags with GPU-only ones dropped,
on its own loopback address and the documented port. `make status TARGET=lab` (labdocs/probe) and
tests/test_llamacpp_lab.py start it through `running()`.

Addresses: 127.0.0.(40 + the system's index in the data): lab.addresses.
"""

from __future__ import annotations

import contextlib
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from labdocs.engines import engine_of, llamacpp
from labdocs.lab import addresses, hosts, llamacpp_build
from labdocs.lab.servers import LabError
from labdocs.lab.venv import ensure_venv
from labdocs.paths import ROOT

START_TIMEOUT_S = 120
SHARE = llamacpp_build.LAB_DIR / "share"      # the lab's stand-in for /mnt/models, for GGUF files


def is_llamacpp(system) -> bool:
    return engine_of(system) is llamacpp


def address(data, key: str) -> str:
    """A llama.cpp system's lab address: fixed by its place in the data, whichever others run."""
    return addresses.loopback(addresses.LLAMACPP_FIRST + list(data.systems).index(key))


def lab_argv(system, binary: Path, share: Path, host: str) -> tuple[list[str], list[tuple[str, str]]]:
    """The unit's command as the lab runs it: the built binary, the model under the lab's share, the lab's
    address; flags that only mean something on a GPU dropped (and returned, with why)."""
    argv = llamacpp.serve_argv(system, str(share))
    argv[0] = str(binary)
    argv[argv.index("--host") + 1] = host
    out, dropped, i = [], [], 0
    while i < len(argv):
        canon = llamacpp.canonical(argv[i]) if argv[i].startswith("-") else None
        name = canon[2:] if canon else None
        takes = canon is not None and llamacpp.takes_value(argv[i])
        chunk = argv[i:i + 2] if takes else argv[i:i + 1]
        if name in llamacpp.GPU_ONLY_FLAGS:
            dropped.append((" ".join(chunk), llamacpp.GPU_ONLY_FLAGS[name]))
        else:
            out += chunk
        i += len(chunk)
    return out, dropped


def get(url: str, timeout: float = 5) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


@dataclass
class Served:
    """One running llama-server of the lab."""

    key: str
    url: str
    argv: list[str]
    dropped: list[tuple[str, str]]
    log: Path
    proc: subprocess.Popen
    notes: list[str] = field(default_factory=list)     # what the lab did: build reused, model, dropped flags


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def _wait(served: Served, deadline: float) -> None:
    while time.monotonic() < deadline:
        if served.proc.poll() is not None:
            raise LabError(f"{served.key}: llama-server exited {served.proc.returncode}; log {served.log}:\n"
                           f"{served.log.read_text(errors='replace')[-3000:]}")
        try:
            if get(served.url + llamacpp.ENDPOINTS.health)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise LabError(f"{served.key}: llama-server not healthy after {START_TIMEOUT_S} s; log {served.log}:\n"
                   f"{served.log.read_text(errors='replace')[-3000:]}")


@contextlib.contextmanager
def running(data, keys: list[str], log_dir: Path, say: Callable[[str], None] = lambda _: None
            ) -> Iterator[dict[str, Served]]:
    """Start a lab llama-server for each of `keys` (llama.cpp systems of `data`), wait for /health, yield
    {key: Served}, and always stop them. Build and tiny model are reused from .lab/llamacpp/ when there."""
    if not keys:
        yield {}
        return
    t0 = time.monotonic()
    try:
        built = llamacpp_build.build()
    except llamacpp_build.BuildError as exc:
        raise LabError(str(exc)) from None
    say(f"llama-server {'built' if built['built'] else 'reused from .lab/llamacpp/'}: {built['path']} "
        f"(build {built['build_seconds']} s; this run {built['seconds']} s)")
    python = ensure_venv(ROOT)
    log_dir.mkdir(parents=True, exist_ok=True)
    started: dict[str, Served] = {}
    try:
        for key in keys:
            system = data.systems[key]
            model = Path(llamacpp.model_path(system, str(SHARE)))
            try:
                gguf = llamacpp_build.tiny_gguf(model, python, system.context_length)   # torch, transformers
            except llamacpp_build.BuildError as exc:
                raise LabError(f"{key}: {exc}") from None
            host = address(data, key)
            argv, dropped = lab_argv(system, Path(built["path"]), SHARE, host)
            log = log_dir / f"llama-server-{key}.log"
            with open(log, "w") as out:
                proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                        start_new_session=True)
            served = Served(key, f"http://{host}:{system.port}", argv, dropped, log, proc)
            started[key] = served
            served.notes.append(f"tiny GGUF {gguf['bytes']} bytes at the documented file name {model.name} "
                                f"({'made' if gguf['built'] else 'reused'}, {gguf['seconds']} s)")
            served.notes += [f"dropped GPU-only flag {flag}: {why}" for flag, why in dropped]
        deadline = time.monotonic() + START_TIMEOUT_S
        for served in started.values():
            _wait(served, deadline)
            say(f"{served.key}: llama-server healthy at {served.url} after {time.monotonic() - t0:.1f} s "
                "(build and model included)")
            for note in served.notes:
                say(f"{served.key}: {note}")
        yield started
    finally:
        for served in started.values():
            _stop(served.proc)


def hosts_file(data, keys: list[str], path: Path) -> Path:
    """A private hosts file: each system's documented host name -> its lab address."""
    return hosts.write_hosts_file(path, {data.systems[k].host: address(data, k) for k in keys})
