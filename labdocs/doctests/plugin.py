"""The doc-tests as a pytest plugin (tests/conftest.py: `pytest_plugins = ["labdocs.doctests.plugin"]`).

What it adds:
- options: --target lab|live, --system ID, --allow-disruptive, --update;
- one DocSession per pytest session (session.py), built on first use, never at import;
- the blocks as tests: a test function that takes `doc_block` is parametrized with every runnable block,
  ids page:line, each with its evaluator's marks (`lab` where the loopback lab runs it); `--system`
  deselects other systems' blocks; the python blocks of test_doc_python.py (python_blocks.py);
- fixtures: `doc_session`, `doc_target` (where workstation blocks run), `lab` (the loopback lab),
  `docs_site`, `documented_hosts` and `lab_examples` (for python blocks);
- the hook `pytest_labdocs_evaluators` (hookspecs.py) for evaluators of other plugins;
- the report: the doc-block summary and the lab's start in the terminal, test-results/verified.json.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from labdocs.doctests import evaluators as ev
from labdocs.doctests import hookspecs
from labdocs.doctests.session import DocSession, LabTimes, Options
from labdocs.paths import ROOT

SESSION = pytest.StashKey[DocSession]()


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    pluginmanager.add_hookspecs(hookspecs)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("labdocs", "doc-tests against the lab or the real hosts")
    group.addoption("--target", choices=["lab", "live"], default="lab",
                    help="lab: real vLLM CPU servers on loopback (default); live: the real hosts")
    group.addoption("--system", action="append", default=[], metavar="ID",
                    help="only blocks for this system (repeatable)")
    group.addoption("--allow-disruptive", action="store_true",
                    help="live: also run blocks marked disruptive=true (restart, down, prune, mount, copy)")
    group.addoption("--update", action="store_true",
                    help="rewrite the shown output of console blocks from this run, where the page is hand-written")


def pytest_configure(config: pytest.Config) -> None:
    options = Options(target=config.getoption("target"), systems=tuple(config.getoption("system")),
                      allow_disruptive=config.getoption("allow_disruptive"), update=config.getoption("update"))

    def registered() -> list[ev.Evaluator]:  # asked when the chain is first needed: every conftest is loaded
        found = config.hook.pytest_labdocs_evaluators(config=config, target=options.target)
        return [evaluator for evaluators in found for evaluator in evaluators]

    config.stash[SESSION] = DocSession(options, registered=registered)


def doc_session(config: pytest.Config) -> DocSession:
    return config.stash[SESSION]


@pytest.fixture(scope="session", name="doc_session")
def _doc_session(request: pytest.FixtureRequest) -> DocSession:
    """This session's doc-tests: data, pages, blocks, evaluators, report."""
    return doc_session(request.config)


@pytest.fixture(scope="session")
def doc_target(request: pytest.FixtureRequest) -> ev.Target:
    """Where workstation blocks run: the loopback lab (started on first use) or, live, this machine."""
    from labdocs.doctests.run import LabTarget, LiveTarget

    if doc_session(request.config).options.live:
        return LiveTarget()
    return LabTarget(request.getfixturevalue("lab"))


# --- the blocks as tests --------------------------------------------------------------------------

def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "doc_block" not in metafunc.fixturenames:
        return
    session = doc_session(metafunc.config)
    params = []
    for block in session.collect_runnable():
        marks = [getattr(pytest.mark, name) for name in session.evaluator_for(block).marks]
        params.append(pytest.param(block, id=block.id, marks=marks))
    metafunc.parametrize("doc_block", params)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The blocks of a page run as a procedure stay together and in page order, the pages in the order
    they run (procedure.py); --system ID keeps the doc blocks of those systems (and the ones for no
    system in particular)."""
    session = doc_session(config)
    _procedures_in_order(session, items)
    wanted = set(session.options.systems)
    if not wanted:
        return
    keep, drop = [], []
    for item in items:
        block = getattr(item, "callspec", None) and item.callspec.params.get("doc_block")
        if block is None:
            keep.append(item)
            continue
        systems = set(session.systems_of(block))
        (keep if not systems or systems & wanted else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def _procedures_in_order(session: DocSession, items: list[pytest.Item]) -> None:
    """Procedure pages' items together, where the first of them was, sorted by (page rank, line)."""
    def block_of(item):
        return getattr(item, "callspec", None) and item.callspec.params.get("doc_block")

    if not any(block_of(item) for item in items):
        return                      # no doc blocks collected: nothing to order, nothing to build
    rank = {page: i for i, page in enumerate(session.procedure_pages)}
    slots = [i for i, item in enumerate(items) if (b := block_of(item)) and b.page in rank]
    if not slots:
        return
    ordered = sorted((items[i] for i in slots), key=lambda it: (rank[block_of(it).page], block_of(it).line))
    rest = [item for i, item in enumerate(items) if i not in set(slots)]
    items[:] = rest[:slots[0]] + ordered + rest[slots[0]:]


def pytest_pycollect_makemodule(module_path: Path, parent: pytest.Collector):
    """test_doc_python.py collects the python blocks of every page, run by pytest-markdown-docs."""
    if module_path.name == "test_doc_python.py":
        from labdocs.doctests.python_blocks import RenderedPythonBlocks

        return RenderedPythonBlocks.from_parent(parent, path=module_path)
    return None


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """A python block counts in the doc-block report, and when it could not reach its host it says
    which host, as the shell blocks do."""
    outcome = yield
    page = getattr(item, "doc_page", None)
    if page is None:
        return
    report = outcome.get_result()
    session = doc_session(item.config)
    if report.when == "call" and report.failed and call.excinfo:
        from labdocs.doctests.run import why_unreachable_python

        why = why_unreachable_python(item.test_definition.source, call.excinfo.value, session.known.hosts)
        if why:
            if isinstance(report.longrepr, str):        # pytest-markdown-docs reports failures as text
                report.longrepr = f"{report.longrepr}\n{why}"
            else:
                report.longrepr.addsection("unreachable", why)
    if report.when == "call":
        session.report.record(page, "workstation" if report.passed else "failed")  # in-process, on this side
    elif report.skipped:
        session.report.record(page, "skipped", report.nodeid,
                              str(report.longrepr[-1]) if report.longrepr else "")
    elif report.failed:
        session.report.record(page, "failed")


# --- the loopback lab and what runs in it ---------------------------------------------------------

@pytest.fixture(scope="session")
def lab(request: pytest.FixtureRequest):
    """The loopback lab, started once per session (concurrently) and always stopped."""
    session = doc_session(request.config)
    if session.options.live:
        pytest.skip("the loopback lab is only started with --target lab")
    from labdocs.lab import lab_specs
    from labdocs.lab.servers import running_lab

    only = list(session.options.systems) or None
    specs, dropped = lab_specs.lab_specs_for_session(ROOT, only)
    for key, drops in dropped.items():
        for flag, why in drops:
            print(f"\nlab: {key}: dropped GPU-only flag {flag}: {why}")
    for name, key, why in lab_specs.not_served(ROOT):
        print(f"\nlab: {name}: {key} not served by the vLLM lab: {why}")
    for key, notes in lab_specs.differences_for_session(ROOT, only).items():
        for note in notes:
            print(f"\nlab: {key}: {note}")
    started = time.monotonic()
    with running_lab(specs, ROOT) as running:
        site = request.getfixturevalue("docs_site")
        if site:            # the docs host's name resolves to the lab's docs server for every block
            with open(running.hosts_file, "a") as hosts:
                hosts.write(f"{site.address}\t{site.host}\n")
        session.lab_times = LabTimes(time.monotonic() - started, dict(running.startup_seconds))
        for note in running.notes:
            print(f"\nlab: {note}")
        yield running
        running.sample_rss()
        session.lab_times.peak_rss_gb = sum(running.peak_rss.values()) / 2**30


@pytest.fixture(scope="session")
def host_systems(request: pytest.FixtureRequest):
    """The host stand-ins (lab.host_systems): one per single-host system plus the model share's server,
    started on first use, once per session (the doc-tests' procedure pages and tests/test_host_procedure.py
    share them), torn down at the session's end and on Ctrl-C or SIGTERM (lab.standin_hosts)."""
    session = doc_session(request.config)
    if session.options.live:
        pytest.skip("the host stand-ins are only started with --target lab")
    if os.geteuid() != 0:
        pytest.fail("host stand-ins need root (namespaces, dockerd, sshd): run the suite as root", pytrace=False)
    from labdocs.lab import host_systems as hs

    started = time.monotonic()
    # Every system's stand-in, whatever --system says: tests/test_host_procedure.py takes each system, and a
    # stand-in without a started container costs about a second.
    with hs.running_systems(session.data, ROOT / ".lab" / "standin-hosts") as running:
        up = time.monotonic() - started
        yield running
        lines = [f"stand-ins up in {up:.0f} s (models {running.seconds['models']} s, hosts "
                 f"{running.seconds['hosts']} s, images and files {running.seconds['prepare']} s, the world "
                 f"outside {running.seconds['world']} s)"]
        lines.append("the world outside the lab (lab.world_standin): deltas from the real one")
        lines += [f"  - {d}" for d in running.world]
        for key, s in running.systems.items():
            lines.append(f"{key} ({s.host.spec.hostname}, {s.host.address}): deltas from the real host")
            lines += [f"  - {d}" for d in s.deltas()]
        if running.docs:
            h = running.docs.host
            lines.append(f"{h.spec.name} ({h.spec.hostname}, {h.address}): deltas from the real host")
            lines += [f"  - {d}" for d in running.docs.deltas()]
        lines += [f"{key}: no stand-in ({why})" for key, why in running.left_out.items()]
        for run in (session.procedures.runs.values() if session.procedures else []):
            lines.append(f"{run.page}: {len(run.steps)} of {len(run.blocks)} blocks run in order in "
                         f"{run.seconds:.0f} s"
                         + (f" (its preparation {run.prepare_seconds:.0f} s)" if run.preparation else "")
                         + (f", stopped at {run.failed.id}" if run.failed else "")
                         + (f", preparation failed: {run.broken}" if run.broken else ""))
            lines += [f"  - prepared {d}" for d in run.prepared]       # deltas, like the stand-ins' own
        session.host_report.extend(lines)


@pytest.fixture(scope="session")
def host_procedures(request: pytest.FixtureRequest, host_systems):
    """The procedure pages' runs on the host stand-ins (procedure.py), one per page per session."""
    from labdocs.doctests.procedure import Procedures

    session = doc_session(request.config)
    session.procedures = Procedures(session, host_systems)
    return session.procedures


@pytest.fixture(scope="session")
def docs_site():
    """The docs site as its host serves it: `make publish-site` builds a release into a site root, and
    the generated unit's ExecStart serves it, as printed, on a host stand-in that is the docs host (its own
    address, the documented name; labdocs/lab/docs_site.py). None when the data has no docs_site."""
    import shutil
    import tempfile
    from types import SimpleNamespace

    from labdocs.lab import docs_site as lab_site
    from labdocs.model.loader import load
    from labdocs.render.views import DOCS_SITE_UNIT

    d = load().docs_site
    if d is None:
        return None
    if os.geteuid() != 0:
        pytest.fail("the docs host's stand-in needs root (namespaces): run the suite as root", pytrace=False)
    state = ROOT / ".lab" / "docs-site"
    state.mkdir(parents=True, exist_ok=True)
    # Not under /tmp: the host stand-in has a /tmp of its own, and shows `top` as the site root's top folder.
    top = Path(tempfile.mkdtemp(prefix="top-", dir=state))
    root = lab_site.site_root_in(top, d.site_root)
    root.mkdir(parents=True)
    built = subprocess.run(["make", "publish-site", f"SITE_ROOT={root}", f"VENV={Path(sys.executable).parent.parent}"],
                           cwd=ROOT, capture_output=True, text=True, timeout=900,
                           env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert built.returncode == 0, built.stdout + built.stderr
    unit = (ROOT / DOCS_SITE_UNIT).read_text()
    try:
        with lab_site.running(unit, d.site_root, top, d.host, d.port, state) as served:
            yield SimpleNamespace(url=served.url, host=d.host, address=served.address, port=d.port, root=root,
                                  published=built.stdout)
    finally:
        shutil.rmtree(top, ignore_errors=True)


@pytest.fixture
def lab_examples(request: pytest.FixtureRequest) -> None:
    """For doc blocks that talk to the systems of data/examples/ files: only the loopback lab serves them."""
    if doc_session(request.config).options.live:
        pytest.skip("talks to a system of data/examples/, which only the loopback lab serves")


@pytest.fixture
def documented_hosts(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """In the lab, documented host names resolve to the lab's addresses for in-process code
    (the python blocks), as the private /etc/hosts does for commands."""
    if doc_session(request.config).options.live:
        return
    import socket

    running = request.getfixturevalue("lab")
    names = {name: spec.address for spec in running.specs for name in spec.host_names()}
    real = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):
        return real(names.get(host, host), *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


# --- the report -----------------------------------------------------------------------------------

def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    docs = doc_session(session.config)
    if docs.report.done and docs.built:
        import datetime

        docs.report.write_verified(ROOT / "test-results" / "verified.json", docs.options.target,
                                   docs.rendered.pages, docs.rendered.docs_uri, datetime.date.today().isoformat())


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    docs = doc_session(config)
    times = docs.lab_times
    if times:
        terminalreporter.section("loopback lab")
        terminalreporter.write_line(f"lab up (venv, models, every server healthy) in {times.up:.1f} s; "
                                    f"servers' peak RSS {times.peak_rss_gb:.1f} GiB")
        for name, seconds in times.healthy.items():
            terminalreporter.write_line(f"  {name}: healthy {seconds:.0f} s after start")
    if docs.host_report:
        terminalreporter.section("host stand-ins: deltas, pages run in order")
        for line in docs.host_report:
            terminalreporter.write_line(line)
    lines = docs.report.lines(docs.options.target)
    if lines:
        terminalreporter.section("doc blocks")
        for line in lines:
            terminalreporter.write_line(line)
