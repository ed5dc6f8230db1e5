"""Start real vLLM (CPU) servers for the documented systems, and stop them.

Stdlib only: imported by the test process, whose venv has no torch/vLLM.
The servers run from the lab venv (.lab/venv, see lab.venv); each binds its
own loopback address at its documented port and serves a tiny local model
(labdocs/lab/tiny_model.py) under the documented model name.
"""
from __future__ import annotations

import atexit
import contextlib
import json
import os
import re
import signal
import subprocess
import shutil
import sys
import threading
import time
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterator

from labdocs.lab import hosts as _hosts
from labdocs.lab.venv import ensure_venv, seed_model_info, warm_model_info
from labdocs import hf_cache
from labdocs.paths import ROOT

TINY_MODEL = Path(__file__).with_name("tiny_model.py")


class LabError(RuntimeError):
    """A lab server could not be built or started (message has the log tail)."""


@dataclass
class ServerSpec:
    """One documented system, as the lab serves it.

    hostnames default to NAME.home.arpa and NAME. model_repo is the hub id
    the tiny model is filed under; by default it is read from a served name
    that is a Hugging Face cache snapshot path (labdocs/hf_cache.py), or ORG/NAME.
    """

    name: str
    address: str
    port: int
    served_model_name: str
    max_model_len: int
    family: str
    tool_call_parser: str | None = None
    extra_args: list[str] = field(default_factory=list)
    hostnames: list[str] | None = None
    model_repo: str | None = None
    # Folders the system's container reads files from offline ({env var: folder}, e.g. the Harmony
    # vocabulary for TIKTOKEN_ENCODINGS_BASE): the lab writes the files there and sets the variables.
    offline_dirs: dict[str, str] = field(default_factory=dict)
    offline_files: dict[str, str] = field(default_factory=dict)   # file path -> expected sha256

    @classmethod
    def from_dict(cls, d: dict) -> "ServerSpec":
        return cls(**d)

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def url(self) -> str:
        return f"http://{self.address}:{self.port}"

    def host_names(self) -> list[str]:
        return list(self.hostnames) if self.hostnames is not None else [f"{self.name}.home.arpa", self.name]

    def repo_and_revision(self) -> tuple[str, str | None]:
        parsed = hf_cache.parse(self.served_model_name)
        if parsed and len(parsed[1]) != 40:     # a shortened sha names no snapshot to build
            parsed = None
        if self.model_repo:
            return self.model_repo, parsed[1] if parsed else None
        if parsed:
            return parsed
        if re.fullmatch(r"[\w.-]+/[\w.-]+", self.served_model_name):
            return self.served_model_name, None
        return f"lab/{self.name}", None


def load_specs(path: Path | str) -> list[ServerSpec]:
    """Read a JSON list of ServerSpec dicts."""
    return [ServerSpec.from_dict(d) for d in json.loads(Path(path).read_text())]


def _log(msg: str) -> None:
    print(f"[lab] {msg}", file=sys.stderr, flush=True)


def _group_pids(pgid: int) -> list[int]:
    pids = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if os.getpgid(int(d.name)) == pgid:
                    pids.append(int(d.name))
            except (ProcessLookupError, PermissionError):
                pass
    return pids


def _rss_bytes(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            pass
    return total


def _preexec(cpus: set[int] | None):
    """preexec_fn for a server: pin it (and all it spawns) to its own cores,
    and have it SIGTERMed if the process that started it dies, even by
    SIGKILL where atexit never runs (Linux prctl PR_SET_PDEATHSIG)."""
    def run() -> None:
        if cpus:
            os.sched_setaffinity(0, cpus)
        try:
            import ctypes

            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM, 0, 0, 0)
        except Exception:
            pass
    return run


@dataclass
class Lab:
    """Running servers. Use through running_lab()."""

    specs: list[ServerSpec]
    root: Path
    python: Path
    hosts_file: Path
    models: dict[str, dict] = field(default_factory=dict)  # name -> tiny_model build result
    parsers: dict[str, str | None] = field(default_factory=dict)  # name -> parser actually used
    notes: list[str] = field(default_factory=list)  # every fallback / dropped flag, with its reason
    startup_seconds: dict[str, float] = field(default_factory=dict)  # start -> /health 200
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)
    peak_rss: dict[str, int] = field(default_factory=dict)  # bytes, sampled during start-up and by sample_rss()

    def spec(self, name: str) -> ServerSpec:
        return next(s for s in self.specs if s.name == name)

    def url(self, name: str) -> str:
        return self.spec(name).url

    def run_dir(self, name: str) -> Path:
        return self.root / ".lab" / "run" / name

    def log_path(self, name: str) -> Path:
        return self.run_dir(name) / "server.log"

    @property
    def log_paths(self) -> dict[str, Path]:
        return {s.name: self.log_path(s.name) for s in self.specs}

    def log_tail(self, name: str, n: int = 40) -> str:
        try:
            return "\n".join(self.log_path(name).read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return "(no log)"

    def wrap(self, argv: list[str]) -> list[str]:
        """argv run so that the documented host names reach the lab servers."""
        return _hosts.wrap(argv, self.hosts_file)

    def run(self, argv: list[str], **kwargs) -> subprocess.CompletedProcess:
        """subprocess.run(argv) with the lab's host names (see wrap)."""
        return subprocess.run(self.wrap(argv), **kwargs)

    def rss_bytes(self, name: str) -> int:
        """Current resident memory of the server's whole process group."""
        proc = self.procs.get(name)
        return _rss_bytes(_group_pids(proc.pid)) if proc and proc.poll() is None else 0

    def sample_rss(self) -> None:
        for name in self.procs:
            self.peak_rss[name] = max(self.peak_rss.get(name, 0), self.rss_bytes(name))

    def stop(self, timeout: float = 20.0) -> float:
        """SIGTERM every server's process group, SIGKILL what is left after
        timeout. Idempotent. Returns the seconds it took."""
        t0 = time.monotonic()
        live = {n: p for n, p in self.procs.items() if p.poll() is None}
        for p in live.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for name, p in live.items():
            try:
                p.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _log(f"{name}: no exit {timeout:.0f} s after SIGTERM, SIGKILL")
        # Children (engine core, workers) may outlive the leader: sweep groups.
        for p in self.procs.values():
            leftovers = _group_pids(p.pid)
            for pid in leftovers:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(5)
        self.procs.clear()
        _ACTIVE.discard(self)
        return time.monotonic() - t0

    __hash__ = object.__hash__


_ACTIVE: set[Lab] = set()


def active_labs() -> list[Lab]:
    """Labs running in this process (e.g. a session fixture's), so a test
    can reuse one rather than start a second on the same ports."""
    return list(_ACTIVE)


@atexit.register
def _stop_all() -> None:
    for lab in list(_ACTIVE):
        lab.stop(timeout=10)


def build_models(specs: list[ServerSpec], root: Path, python: Path) -> dict[str, dict]:
    """Build (or reuse) each spec's tiny model with the lab venv's python."""
    reqs = []
    for s in specs:
        repo, rev = s.repo_and_revision()
        reqs.append({"repo": repo, "revision": rev, "family": s.family, "max_len": s.max_model_len})
    offline = {path: sha for s in specs for path, sha in s.offline_files.items()}
    out = subprocess.run(
        [str(python), str(TINY_MODEL), "--out", str(root / ".lab" / "models"), "--request", json.dumps(reqs),
         *(a for path in offline for a in ("--offline-file", path))],
        stdout=subprocess.PIPE, text=True,
        env={**os.environ, "HF_HUB_DISABLE_PROGRESS_BARS": "1", "TRANSFORMERS_VERBOSITY": "error",
             # labdocs.hf_cache, the cache layout, from this checkout (stdlib only)
             "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))},
    )
    if out.returncode != 0:
        raise LabError(f"tiny model build failed (exit {out.returncode})")
    lines = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    for written in (r for r in lines if "offline_file" in r):
        if written["sha256"] != offline[written["offline_file"]]:
            raise LabError(f"{written['offline_file']}: sha256 {written['sha256']}, the data says "
                           f"{offline[written['offline_file']]}")
    results = [r for r in lines if "offline_file" not in r]
    return {s.name: r for s, r in zip(specs, results)}


def _server_argv(python: Path, spec: ServerSpec, model: dict, parser: str | None) -> list[str]:
    argv = [
        str(python), "-m", "vllm.entrypoints.openai.api_server",
        "--model", model["path"], "--served-model-name", spec.served_model_name,
        "--host", spec.address, "--port", str(spec.port),
        "--max-model-len", str(spec.max_model_len),
        # No torch.compile warm-up: ~30 s saved per start, same API behaviour.
        "--enforce-eager",
        # Run the model in the engine-core process instead of a third
        # process that imports torch + vLLM again: about half the start-up
        # time on 2 cores. (vLLM only allows it with the env var below.)
        "--distributed-executor-backend", "uni",
    ]
    if parser:
        argv += ["--enable-auto-tool-choice", "--tool-call-parser", parser]
    return argv + list(spec.extra_args)


def _server_env(root: Path, spec: ServerSpec, cpu: str) -> dict[str, str]:
    run = root / ".lab" / "run" / spec.name
    env = dict(os.environ)
    env.update({
        # vLLM leaves ZMQ sockets and vllm_dist_* / torchinductor_* behind:
        # keep them in the server's own folder, wiped at each start.
        "TMPDIR": str(run / "tmp"),
        "VLLM_CACHE_ROOT": str(run / "cache"),
        "HF_HUB_CACHE": str(root / ".lab" / "models"),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "VLLM_NO_USAGE_STATS": "1",
        "DO_NOT_TRACK": "1",
        "VLLM_TARGET_DEVICE": "cpu",
        "VLLM_CPU_KVCACHE_SPACE": "1",  # GiB; tiny models need very little
        "VLLM_ENABLE_V1_MULTIPROCESSING": "0",  # lets "uni" stand on CPU
        # With the mp executor vLLM pins its OpenMP threads from this; two
        # servers on the default ("auto") binding would pick the same cores.
        # The uni executor ignores it: there the whole process group is
        # pinned by sched_setaffinity (see _preexec).
        "VLLM_CPU_OMP_THREADS_BIND": cpu,
        "PYTHONUNBUFFERED": "1",
    })
    env.update(spec.offline_dirs)
    env.pop("VIRTUAL_ENV", None)
    return env


def _cpu_sets(n: int) -> list[str]:
    """Split the cores the lab may use between n servers: with at least
    as many cores as servers each gets its own; otherwise they share."""
    cpus = sorted(os.sched_getaffinity(0))
    if n == 0:          # a session whose blocks need no vLLM server (`--system docs-site`)
        return []
    if n <= len(cpus):
        per = len(cpus) // n
        return [",".join(map(str, cpus[i * per:(i + 1) * per])) for i in range(n)]
    return [str(cpus[i % len(cpus)]) for i in range(n)]


@contextlib.contextmanager
def _lab_lock(root: Path, timeout: float) -> Iterator[None]:
    """One lab per project root at a time: two test runs on one machine
    would otherwise start servers on the same addresses and ports (the
    second fails with 'Address already in use', or talks to the first's
    servers). A second lab waits for the first to stop, up to timeout."""
    import fcntl

    path = root / ".lab" / "lab.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as f:
        t0 = time.monotonic()
        told = False
        while True:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() - t0 > timeout:
                    raise LabError(f"another lab still holds {path} after {timeout:.0f} s") from None
                if not told:
                    f.seek(0)
                    _log(f"waiting for another lab to stop (holder: {f.read().strip() or '?'})")
                    told = True
                time.sleep(1)
        f.seek(0)
        f.truncate()
        f.write(f"pid {os.getpid()}: {' '.join(sys.argv)[:200]}\n")
        f.flush()
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _check_free(spec: ServerSpec) -> None:
    import socket

    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((spec.address, spec.port))
        except OSError as exc:
            raise LabError(f"{spec.name}: {spec.address}:{spec.port} is taken ({exc}); "
                           f"another server (or lab in another folder) is using it") from None


def _serves_us(spec: ServerSpec) -> bool:
    """/v1/models lists the documented model name (not some other server)."""
    try:
        with urllib.request.urlopen(spec.url + "/v1/models", timeout=5) as r:
            return any(m.get("id") == spec.served_model_name for m in json.load(r).get("data", []))
    except Exception:
        return False


def _healthy(spec: ServerSpec) -> bool:
    try:
        with urllib.request.urlopen(spec.url + "/health", timeout=2) as r:
            return r.status == 200
    except Exception:
        return False


def _wait_healthy(lab: Lab, t0: float, timeout: float) -> None:
    pending = {s.name: s for s in lab.specs}
    while pending:
        for name, spec in list(pending.items()):
            proc = lab.procs[name]
            if proc.poll() is not None:
                raise LabError(f"{name}: server exited with {proc.returncode} during start-up; "
                               f"log {lab.log_path(name)}:\n{lab.log_tail(name)}")
            if _healthy(spec):
                if not _serves_us(spec):
                    raise LabError(f"{name}: {spec.url} answers but does not serve "
                                   f"{spec.served_model_name}")
                lab.startup_seconds[name] = round(time.monotonic() - t0, 1)
                _log(f"{name}: healthy at {spec.url} after {lab.startup_seconds[name]} s")
                del pending[name]
        lab.sample_rss()
        if pending and time.monotonic() - t0 > timeout:
            tails = "\n".join(f"--- {n} ({lab.log_path(n)}):\n{lab.log_tail(n)}" for n in pending)
            raise LabError(f"not healthy within {timeout:.0f} s: {', '.join(pending)}\n{tails}")
        if pending:
            time.sleep(0.5)


def _architectures(model_path: str) -> list[str]:
    """The model classes a built model's config.json names (what vLLM looks up in its registry)."""
    return json.loads((Path(model_path) / "config.json").read_text()).get("architectures") or []


def _effective_parser(spec: ServerSpec, model: dict) -> tuple[str | None, str | None]:
    """The tool-call parser the lab can really run, and why it differs."""
    p = spec.tool_call_parser
    if p == "openai" and model["family"] != "gpt_oss":
        # The fallback models' chat template writes Hermes <tool_call> tags.
        return "hermes", (f"--tool-call-parser openai replaced by hermes: the openai parser reads "
                          f"Harmony output, which only a gpt_oss model writes, and the tiny model "
                          f"fell back to {model['family']}")
    return p, None


@contextlib.contextmanager
def running_lab(specs: list[ServerSpec], root: Path | str | None = None, *,
                startup_timeout: float = 240.0, stop_timeout: float = 20.0,
                lock_timeout: float = 1800.0, pin_cpus: bool = True) -> Iterator[Lab]:
    """Build the models, start every server at once, wait until all answer
    /health, yield the Lab, and always stop them (also on exceptions,
    Ctrl-C, SIGTERM/SIGHUP and interpreter exit). A lab already running
    from the same root is waited for (lock_timeout)."""
    root = Path(root or ROOT).resolve()
    if any(lab.root == root for lab in _ACTIVE):
        # Waiting on our own lock would never end.
        raise LabError(f"a lab from {root} is already running in this process; reuse it "
                       "(lab.servers.active_labs()) or stop it first")
    with _lab_lock(root, lock_timeout):
        yield from _running_lab(specs, root, startup_timeout, stop_timeout, pin_cpus)


def _running_lab(specs: list[ServerSpec], root: Path, startup_timeout: float,
                 stop_timeout: float, pin_cpus: bool) -> Iterator[Lab]:
    python = ensure_venv(root)
    names = {}
    for s in specs:
        for h in s.host_names():
            names[h] = s.address
    lab = Lab(specs=list(specs), root=root, python=python,
              hosts_file=_hosts.write_hosts_file(root / ".lab" / "hosts", names))

    t = time.monotonic()
    lab.models = build_models(lab.specs, root, python)
    _log(f"models ready in {time.monotonic() - t:.1f} s")
    for s in lab.specs:
        m = lab.models[s.name]
        if m["fallback_reason"]:
            lab.notes.append(f"{s.name}: family {s.family} -> {m['family']}: {m['fallback_reason']}")
        lab.parsers[s.name], why = _effective_parser(s, m)
        if why:
            lab.notes.append(f"{s.name}: {why}")
    for note in lab.notes:
        _log("FALLBACK " + note)
    # vLLM's inspection of each model class, cached once and copied into every server's cache folder below: a
    # server that finds none runs it in a subprocess importing torch and vLLM again, a third of a cold start.
    took = warm_model_info(root, sorted({a for m in lab.models.values() for a in _architectures(m["path"])}))
    if took is not None:
        _log(f"vLLM model-class info cached in {took:.1f} s")

    # SIGTERM/SIGHUP become SystemExit so the finally below runs (SIGINT
    # already raises KeyboardInterrupt). Only the main thread may do this.
    previous = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGHUP):
            previous[sig] = signal.signal(sig, _raise_exit)
    _ACTIVE.add(lab)
    try:
        for spec in lab.specs:
            _check_free(spec)
        t0 = time.monotonic()
        for spec, cpu in zip(lab.specs, _cpu_sets(len(lab.specs))):
            run = lab.run_dir(spec.name)
            shutil.rmtree(run / "tmp", ignore_errors=True)
            (run / "tmp").mkdir(parents=True)
            seed_model_info(root, run / "cache")
            argv = _server_argv(python, spec, lab.models[spec.name], lab.parsers[spec.name])
            with open(lab.log_path(spec.name), "w") as log:
                log.write("# " + " ".join(argv) + f"\n# cpus {cpu} (pinned: {pin_cpus})\n")
                log.flush()
                lab.procs[spec.name] = subprocess.Popen(
                    argv, cwd=run, env=_server_env(root, spec, cpu), stdin=subprocess.DEVNULL,
                    stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                    preexec_fn=_preexec({int(c) for c in cpu.split(",")} if pin_cpus else None),
                )
            _log(f"{spec.name}: starting {spec.served_model_name} on {spec.url} (cpu {cpu}, "
                 f"parser {lab.parsers[spec.name]}), log {lab.log_path(spec.name)}")
        _wait_healthy(lab, t0, startup_timeout)
        yield lab
    finally:
        took = lab.stop(stop_timeout)
        _log(f"stopped in {took:.1f} s")
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _raise_exit(signum, frame):
    raise SystemExit(128 + signum)
