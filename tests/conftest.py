"""Shared paths and helpers for the test suite."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def run(argv: list[str], cwd: Path = ROOT, timeout: float = 300, **kw) -> subprocess.CompletedProcess:
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", **kw.pop("env", {})}
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env, **kw)


def macros_cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return run([sys.executable, "-m", "macros", *args], cwd=cwd)


# What a site build needs, copied (links kept as links) so a test can change data without touching the repo.
SITE_INPUTS = ["mkdocs.yml", "data", "macros", "templates", "docs", "systems", "vllm-gb10",
               "STATUS.md", "CHANGELOG.md"]


@pytest.fixture
def repo_copy(tmp_path: Path) -> Path:
    dest = tmp_path / "repo"
    dest.mkdir()
    for name in SITE_INPUTS:
        src = ROOT / name
        if src.is_dir() and not src.is_symlink():
            shutil.copytree(src, dest / name, symlinks=True,
                            ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, dest / name, follow_symlinks=False)
    return dest
