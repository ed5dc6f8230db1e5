"""Shared paths and helpers for the test suite."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from labdocs.paths import ROOT
# The repository without history, environments or build output, links kept as links (bench/synth.py;
# bench/ is on pytest's pythonpath, pyproject.toml).
from synth import copy_repo

# The doc-tests and the loopback lab as a pytest plugin: their options, the fixtures `lab`, `docs_site`,
# `doc_session`, `doc_target`, `documented_hosts`, the blocks as tests and the report (labdocs/doctests/).
pytest_plugins = ["labdocs.doctests.plugin"]

BIN = Path(sys.executable).parent
_PREBUILD = pytest.StashKey[object]()


def pytest_collection_finish(session: pytest.Session) -> None:
    """Tests marked llama_server need the lab's llama-server: when it is not cached, build it from the start of
    the session at the lowest CPU priority (lab.llamacpp_build.build_in_background), not when the first of
    them runs."""
    if session.config.option.collectonly or not any(i.get_closest_marker("llama_server") for i in session.items):
        return
    from labdocs.lab import llamacpp_build

    session.config.stash[_PREBUILD] = llamacpp_build.build_in_background(ROOT / "test-results" / "llama-server-build.log")


def pytest_sessionfinish(session: pytest.Session) -> None:
    from labdocs.lab import llamacpp_build

    llamacpp_build.stop_background(session.config.stash.get(_PREBUILD, None))


def run(argv: list[str], cwd: Path = ROOT, timeout: float = 300, **kw) -> subprocess.CompletedProcess:
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", **kw.pop("env", {})}
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env, **kw)


def macros_cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return run([sys.executable, "-m", "labdocs.render", *args], cwd=cwd)


@pytest.fixture
def repo_copy(tmp_path: Path) -> Path:
    return copy_repo(tmp_path / "repo")
