"""Shared paths and helpers for the test suite."""

from __future__ import annotations

import functools
import os
import subprocess
import sys
from pathlib import Path

import pytest

from labdocs.paths import ROOT
# The repository without history, environments or build output, links kept as links (bench/synth.py;
# bench/ is on pytest's pythonpath, pyproject.toml).
from synth import copy_repo

BIN = Path(sys.executable).parent


def run(argv: list[str], cwd: Path = ROOT, timeout: float = 300, **kw) -> subprocess.CompletedProcess:
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", **kw.pop("env", {})}
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env, **kw)


def macros_cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return run([sys.executable, "-m", "labdocs.render", *args], cwd=cwd)


@pytest.fixture
def repo_copy(tmp_path: Path) -> Path:
    return copy_repo(tmp_path / "repo")


# --- doc-test and lab options -------------------------------------------------------------------

def pytest_addoption(parser):
    group = parser.getgroup("labdocs", "doc-tests against the lab or the real hosts")
    group.addoption("--target", choices=["lab", "live"], default="lab",
                    help="lab: real vLLM CPU servers on loopback (default); live: the real hosts")
    group.addoption("--system", action="append", default=[], metavar="ID",
                    help="only blocks for this system (repeatable)")
    group.addoption("--allow-disruptive", action="store_true",
                    help="live: also run blocks marked disruptive=true (restart, down, prune, mount, copy)")
    group.addoption("--update", action="store_true",
                    help="rewrite the shown output of console blocks from this run, where the page is hand-written")


@pytest.fixture(scope="session")
def lab(request):
    """The loopback lab, started once per session (concurrently) and always stopped."""
    if request.config.getoption("target") != "lab":
        pytest.skip("the loopback lab is only started with --target lab")
    from labdocs.lab import lab_specs
    from labdocs.lab.servers import running_lab

    specs, dropped = lab_specs.lab_specs_for_session(ROOT, request.config.getoption("system") or None)
    for key, drops in dropped.items():
        for flag, why in drops:
            print(f"\nlab: {key}: dropped GPU-only flag {flag}: {why}")
    for name, key, why in lab_specs.not_served(ROOT):
        print(f"\nlab: {name}: {key} not served by the vLLM lab: {why}")
    for key, notes in lab_specs.differences_for_session(ROOT, request.config.getoption("system") or None).items():
        for note in notes:
            print(f"\nlab: {key}: {note}")
    import time

    started = time.monotonic()
    with running_lab(specs, ROOT) as running:
        site = request.getfixturevalue("docs_site")
        if site:            # the docs host's name resolves to the lab's docs server for every block
            with open(running.hosts_file, "a") as hosts:
                hosts.write(f"{site.address}\t{site.host}\n")
        LAB_TIMES["up"] = time.monotonic() - started
        LAB_TIMES.update({f"  {name}": seconds for name, seconds in running.startup_seconds.items()})
        for note in running.notes:
            print(f"\nlab: {note}")
        yield running
        running.sample_rss()
        LAB_TIMES["peak_rss_gb"] = sum(running.peak_rss.values()) / 2**30  # all servers at once


LAB_TIMES: dict[str, float] = {}


@pytest.fixture(scope="session")
def docs_site(tmp_path_factory):
    """The docs site as its host serves it: `make publish-site` builds a release into a site root, and
    the generated unit's ExecStart serves it, as printed, on the docs host's name (labdocs/lab/docs_site.py).
    None when the data has no docs_site."""
    from types import SimpleNamespace

    from labdocs.lab import docs_site as lab_site
    from labdocs.model.loader import load
    from labdocs.render.views import DOCS_SITE_UNIT

    d = load().docs_site
    if d is None:
        return None
    root = tmp_path_factory.mktemp("docs-site-root")
    built = run(["make", "publish-site", f"SITE_ROOT={root}", f"VENV={BIN.parent}"], timeout=900)
    assert built.returncode == 0, built.stdout + built.stderr
    unit = (ROOT / DOCS_SITE_UNIT).read_text()
    state = ROOT / ".lab" / "docs-site"
    with lab_site.running(unit, d.site_root, root, d.host, d.port, state / "hosts", state / "server.log") as url:
        yield SimpleNamespace(url=url, host=d.host, address=lab_site.ADDRESS, port=d.port, root=root,
                              published=built.stdout)


def pytest_runtest_logreport(report):
    """Python blocks (pytest-markdown-docs items) count in the doc-block summary too."""
    if not report.nodeid.startswith("tests/test_doc_python.py::"):
        return
    from labdocs.doctests.report import REPORT

    page = report.nodeid.split("::", 1)[1].rsplit(":", 1)[0]
    if report.when == "call":
        REPORT.record(page, "executed" if report.passed else "failed")
    elif report.skipped:
        REPORT.record(page, "skipped", report.nodeid, str(report.longrepr[-1]) if report.longrepr else "")
    elif report.failed:
        REPORT.record(page, "failed")


@functools.cache
def _documented_hosts() -> frozenset[str]:
    """The data's host names, read once (only when a python block fails)."""
    from labdocs.doctests import static
    from labdocs.model.loader import load

    return frozenset(static.Known(load()).hosts)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A python block that could not reach its host says which host, as the shell blocks do."""
    outcome = yield
    report = outcome.get_result()
    if not (report.when == "call" and report.failed and call.excinfo
            and item.nodeid.startswith("tests/test_doc_python.py::")):
        return
    from labdocs.doctests.run import why_unreachable_python

    why = why_unreachable_python(item.test_definition.source, call.excinfo.value, _documented_hosts())
    if not why:
        return
    if isinstance(report.longrepr, str):        # pytest-markdown-docs reports failures as text
        report.longrepr = f"{report.longrepr}\n{why}"
    else:
        report.longrepr.addsection("unreachable", why)


def pytest_sessionfinish(session, exitstatus):
    from labdocs.doctests import rendered
    from labdocs.doctests.report import REPORT

    if REPORT.done and rendered.DOCS_URI:
        import datetime

        REPORT.write_verified(ROOT / "test-results" / "verified.json", session.config.getoption("target"),
                              rendered.LAST_PAGES, rendered.DOCS_URI, datetime.date.today().isoformat())


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    from labdocs.doctests.report import REPORT

    if LAB_TIMES:
        terminalreporter.section("loopback lab")
        terminalreporter.write_line(f"lab up (venv, models, every server healthy) in {LAB_TIMES['up']:.1f} s; "
                                    f"servers' peak RSS {LAB_TIMES.get('peak_rss_gb', 0):.1f} GiB")
        for name, seconds in LAB_TIMES.items():
            if name.startswith("  "):
                terminalreporter.write_line(f"  {name.strip()}: healthy {seconds:.0f} s after start")
    from labdocs.doctests.procedure import NOT_RUN

    if NOT_RUN:
        terminalreporter.section("procedure on stand-in hosts: steps not run")
        for line in dict.fromkeys(NOT_RUN):
            terminalreporter.write_line(line)
    lines = REPORT.lines(config.getoption("target"))
    if lines:
        terminalreporter.section("doc blocks")
        for line in lines:
            terminalreporter.write_line(line)


def pytest_collection_modifyitems(config, items):
    """--system ID keeps the doc blocks of those systems (and the ones for no system in particular)."""
    wanted = set(config.getoption("system"))
    if not wanted:
        return
    keep, drop = [], []
    for item in items:
        block = getattr(item, "callspec", None) and item.callspec.params.get("block")
        if block is None:
            keep.append(item)
            continue
        from test_doc_blocks import systems_of

        systems = set(systems_of(block))
        (keep if not systems or systems & wanted else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def pytest_pycollect_makemodule(module_path, parent):
    if module_path.name == "test_doc_python.py":
        from labdocs.doctests.python_blocks import RenderedPythonBlocks

        return RenderedPythonBlocks.from_parent(parent, path=module_path)
    return None


@pytest.fixture
def lab_examples(request):
    """For doc blocks that talk to the systems of data/examples/ files: only the loopback lab serves them."""
    if request.config.getoption("target") != "lab":
        pytest.skip("talks to a system of data/examples/, which only the loopback lab serves")


@pytest.fixture
def documented_hosts(request, monkeypatch):
    """In the lab, documented host names resolve to the lab's addresses for in-process code
    (the python blocks), as the private /etc/hosts does for commands."""
    if request.config.getoption("target") != "lab":
        return
    import socket

    running = request.getfixturevalue("lab")
    names = {name: spec.address for spec in running.specs for name in spec.host_names()}
    real = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):
        return real(names.get(host, host), *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
