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
_PREPARED = pytest.StashKey[list]()


def pytest_collection_finish(session: pytest.Session) -> None:
    """Start the lab's slow preparations now when the selected tests need them and they are not done: the lab
    venv (tests marked lab or llama_server) and the llama-server (llama_server), lab.background."""
    if session.config.option.collectonly:
        return
    from labdocs.lab import background

    def marked(name: str) -> bool:
        return any(item.get_closest_marker(name) for item in session.items)

    session.config.stash[_PREPARED] = background.prepare(marked("lab"), marked("llama_server"), ROOT / "test-results")


def pytest_sessionfinish(session: pytest.Session) -> None:
    from labdocs.lab import background

    for proc in session.config.stash.get(_PREPARED, []):
        background.stop(proc)


def run(argv: list[str], cwd: Path = ROOT, timeout: float = 300, **kw) -> subprocess.CompletedProcess:
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", **kw.pop("env", {})}
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env, **kw)


def macros_cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return run([sys.executable, "-m", "labdocs.render", *args], cwd=cwd)


@pytest.fixture
def repo_copy(tmp_path: Path) -> Path:
    return copy_repo(tmp_path / "repo")
