"""Zensical, mkdocs-material's announced successor, in an environment of its own (tests/test_zensical.py builds
the site with it). Stdlib only.

Zensical needs pathspec>=1.0.4 while the project pins pathspec 0.12.1 (mkdocs-macros logs a deprecation on every
build with 1.x), so it runs from its own environment: LABDOCS_ZENSICAL (a `zensical` executable), else
.venv/bin/zensical, else a pinned venv made once under .venv/zensical-<version>/ (from requirements.lock,
pathspec excepted). Making that venv is most of the Zensical test's time on a fresh clone (~35 s of pip), so the
test session starts it in the background when it collects the Zensical tests (tests/conftest.py), as it does the
lab venv; `python -m labdocs.docsite.zensical_env` is that background step. A file lock keeps the two from
installing at once: the test waits for the background install instead of starting its own.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from labdocs.paths import ROOT

VERSION = "0.0.73"       # 0.1.x needs zensical-ui, which the package index here does not serve
EXTRA = ["pathspec==1.1.1", "deepmerge==4.0.0", "tomli==2.5.0"]


class ZensicalInstallError(RuntimeError):
    """The pinned Zensical venv could not be made (message: the failing step and its output)."""


def venv_dir(root: Path = ROOT) -> Path:
    return Path(root) / ".venv" / f"zensical-{VERSION}"


def _given() -> Path | None:
    if os.environ.get("LABDOCS_ZENSICAL"):
        return Path(os.environ["LABDOCS_ZENSICAL"])
    own = Path(sys.executable).parent / "zensical"
    return own if own.exists() else None


def ready(root: Path = ROOT) -> bool:
    """Whether executable() returns at once."""
    marker = venv_dir(root) / ".installed"
    return _given() is not None or (marker.is_file() and marker.read_text() == (Path(root) / "requirements.lock").read_text())


def executable(root: Path = ROOT) -> Path:
    """The `zensical` to run: LABDOCS_ZENSICAL, else the main venv's, else the pinned venv's (made if needed)."""
    import fcntl

    given = _given()
    if given is not None:
        return given
    venv = venv_dir(root)
    exe = venv / "bin" / "zensical"
    if ready(root):
        return exe
    venv.parent.mkdir(parents=True, exist_ok=True)
    with open(venv.parent / f"zensical-{VERSION}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if ready(root):         # made by the session's background step while this one waited
            return exe
        lock_text = (Path(root) / "requirements.lock").read_text()
        reqs = [line for line in lock_text.splitlines() if not re.match(r"\s*pathspec\b", line)]
        req_file = venv.parent / f"zensical-{VERSION}.requirements.txt"
        req_file.write_text("\n".join(reqs + [f"zensical=={VERSION}", *EXTRA]) + "\n")
        for step in ([sys.executable, "-m", "venv", str(venv)],
                     [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                      "-r", str(req_file)]):
            result = subprocess.run(step, capture_output=True, text=True, timeout=900)
            if result.returncode != 0:
                raise ZensicalInstallError(f"could not install Zensical {VERSION} into {venv}: `{' '.join(step)}` "
                                           f"exited {result.returncode}:\n{result.stdout}{result.stderr}")
        (venv / ".installed").write_text(lock_text)
    return exe


if __name__ == "__main__":
    print(executable(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT))
