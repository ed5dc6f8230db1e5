"""Shared paths and helpers for the test suite."""

from __future__ import annotations

import os
import signal
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


def _needs_lab(item: pytest.Item) -> bool:
    """Whether a test needs the lab (its venv, servers or llama-server)."""
    return bool(item.get_closest_marker("lab") or item.get_closest_marker("llama_server"))


def pytest_collection_finish(session: pytest.Session) -> None:
    """Start the lab's slow preparations now when the selected tests need them and they are not done: the lab
    venv (tests marked lab or llama_server) and the llama-server (llama_server), lab.background."""
    if session.config.option.collectonly:
        return
    from labdocs.lab import background

    session.config.stash[_PREPARED] = background.prepare(
        any(map(_needs_lab, session.items)), any(i.get_closest_marker("llama_server") for i in session.items),
        ROOT / "test-results")
    # Zensical's own venv (labdocs/docsite/zensical_env.py): ~35 s of pip on a fresh clone, made meanwhile, at a
    # lower priority than the lab venv's install, instead of in the Zensical test's setup.
    from labdocs.docsite import zensical_env

    if any(i.path.name == "test_zensical.py" for i in session.items) and not zensical_env.ready(ROOT):
        session.config.stash[_PREPARED].append(background.start(
            "labdocs.docsite.zensical_env", [str(ROOT)], ROOT / "test-results" / "zensical-venv.log", nice=10))


@pytest.hookimpl(trylast=True)      # after the doc-test plugin has put each procedure page's blocks in order
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The tests that need no lab first, in their order, then the lab's: the lab venv installs in the
    background meanwhile (lab.background) instead of holding up the first lab test."""
    items[:] = [i for i in items if not _needs_lab(i)] + [i for i in items if _needs_lab(i)]


def pytest_sessionfinish(session: pytest.Session) -> None:
    from labdocs.lab import background

    for proc in session.config.stash.get(_PREPARED, []):
        background.stop(proc)


def sigint_default() -> None:
    """preexec_fn for a child a test sends Ctrl-C to: a shell's background job (CI, nohup, `cmd &`) starts with
    SIGINT ignored, the child inherits that, and Python then never raises KeyboardInterrupt in it."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def run(argv: list[str], cwd: Path = ROOT, timeout: float = 300, **kw) -> subprocess.CompletedProcess:
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", **kw.pop("env", {})}
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env, **kw)


def macros_cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return run([sys.executable, "-m", "labdocs.render", *args], cwd=cwd)


@pytest.fixture
def repo_copy(tmp_path: Path) -> Path:
    return copy_repo(tmp_path / "repo")
