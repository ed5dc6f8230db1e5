"""Ray for the lab, beside the lab venv: `.lab/ray`, a pip --target folder put on PYTHONPATH.

The lab venv (.lab/venv, lab/venv.py) is shared by worktrees and big; vLLM's CPU build does not depend on
Ray, so Ray lives in its own folder with its own pins (requirements-ray.txt) and stamp, and the venv is
never changed in place. Stdlib only.
"""
from __future__ import annotations

import fcntl
import subprocess
import sys
import time
from pathlib import Path

REQUIREMENTS = Path(__file__).with_name("requirements-ray.txt")


def layer_dir(root: Path | str) -> Path:
    return Path(root) / ".lab" / "ray"


def _pins() -> list[str]:
    return [ln.strip() for ln in REQUIREMENTS.read_text().splitlines()
            if ln.strip() and not ln.lstrip().startswith("#")]


def ensure_ray(root: Path | str, python: Path) -> Path:
    """Install the pinned Ray into ROOT/.lab/ray with the lab venv's pip (once; a stamp makes repeats
    instant) and return the folder to put on PYTHONPATH."""
    target = layer_dir(root)
    stamp = target / ".lab-stamp"
    want = "\n".join(_pins()) + "\n"
    if stamp.exists() and stamp.read_text() == want:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / "ray.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if stamp.exists() and stamp.read_text() == want:
            return target
        t0 = time.monotonic()
        argv = [str(python), "-m", "pip", "install", "--quiet", "--no-deps", "--upgrade",
                "--target", str(target), *_pins()]
        print(f"[lab.ray] $ {' '.join(argv)}", file=sys.stderr, flush=True)
        subprocess.run(argv, check=True)
        stamp.write_text(want)
        print(f"[lab.ray] ready in {time.monotonic() - t0:.0f} s", file=sys.stderr, flush=True)
    return target


if __name__ == "__main__":
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path.cwd()
    from labdocs.lab.venv import venv_python
    print(ensure_ray(root, venv_python(root)))
