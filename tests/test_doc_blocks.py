"""Every fenced command block a reader sees, run as printed. Test ids are page:line.

In the lab (default) workstation blocks run against real vLLM servers on loopback, with the documented
host names resolving there; host-local blocks are checked statically. With --target live they run
against the real hosts, host-local ones over ssh; disruptive ones only with --allow-disruptive.
"""

from __future__ import annotations

import re

import pytest

from labdocs.doctests import console, fences, rendered, static, workstation
from labdocs.doctests.report import REPORT
from labdocs.doctests.run import LabTarget, LiveTarget, why_unreachable
from labdocs.model.loader import load
from labdocs.render.views import DOCS_SITE_KEY

DATA = load()
KNOWN = static.Known(DATA)
PAGES = rendered.pages()
BLOCKS = [b for page, md in PAGES.items() for b in fences.blocks(page, md)]
RUNNABLE = [b for b in BLOCKS if b.lang in fences.RUNNABLE]
for _block in RUNNABLE:
    REPORT.add_found(_block.page)

DISRUPTIVE = static.DISRUPTIVE


def systems_of(block: fences.Block) -> list[str]:
    bound = block.on or block.needs
    if bound == "any":
        return list(DATA.systems)
    if bound == DOCS_SITE_KEY:
        return []
    if bound:
        return [bound]
    return [key for key, s in DATA.systems.items() if s.host in block.code]


def ssh_aliases(block: fences.Block) -> list[str]:
    """The hosts a block marked on= runs on, live: the systems' or the docs host's."""
    if block.on == DOCS_SITE_KEY:
        return [DATA.docs_site.ssh.alias]
    return [DATA.systems[key].ssh.alias for key in systems_of(block)]


@pytest.fixture(scope="module")
def target(request):
    if request.config.getoption("target") == "live":
        return LiveTarget()
    return LabTarget(request.getfixturevalue("lab"))


def _fail(block: fences.Block, what: str, outcome, target) -> None:
    unreachable = why_unreachable(block.code, outcome, KNOWN.hosts)
    logs = target.logs(systems_of(block)) if target.name == "lab" else ""
    pytest.fail(
        f"{block.id}: {what}\n" + (f"{unreachable}\n" if unreachable else "")
        + f"--- block\n{block.code}--- stdout\n{outcome.stdout[-3000:]}--- stderr\n{outcome.stderr[-3000:]}"
        + (f"\n{logs}" if logs else ""), pytrace=False)


def _run_code(block, code: str, target, host_alias: str | None = None):
    if host_alias:
        return target.on_host(host_alias, code, block.timeout)
    return target.local(code, block.timeout)


def _check_bash(block, target, host_alias=None) -> None:
    outcome = _run_code(block, block.code, target, host_alias)
    if outcome.timed_out:
        _fail(block, f"killed after the {block.timeout:g} s timeout", outcome, target)
    if outcome.returncode != block.exit:
        _fail(block, f"exit status {outcome.returncode}, expected {block.exit}", outcome, target)


def _check_console(block, target, update: bool, host_alias=None) -> None:
    steps = console.parse(block.code)
    for step in steps:
        outcome = _run_code(block, step.command, target, host_alias)
        if outcome.timed_out or outcome.returncode != 0:
            _fail(block, f"`{step.command}` failed (exit {outcome.returncode})", outcome, target)
        if not console.matches(step.expected, outcome.stdout):
            if update:
                step.expected = outcome.stdout.rstrip("\n").splitlines()
                continue
            _fail(block, f"`{step.command}` printed other output than the page shows\n--- shown\n"
                  + "\n".join(step.expected) + "\n", outcome, target)
    if update:
        try:
            rendered.update_console(block, console.render(steps))
        except rendered.NotUpdatable as exc:
            pytest.fail(f"{block.id}: cannot --update: {exc}", pytrace=False)


def _static(block) -> None:
    problems = static.references(block, KNOWN) + static.shellcheck(block.code)
    if problems:
        pytest.fail(f"{block.id}: host-local block checked without its host:\n  " + "\n  ".join(problems)
                    + f"\n--- block\n{block.code}", pytrace=False)


@pytest.mark.parametrize("block", RUNNABLE, ids=lambda b: b.id)
def test_block(block: fences.Block, request):
    try:
        kind = _test_block(block, request)
    except pytest.fail.Exception:
        REPORT.record(block.page, "failed")
        raise
    REPORT.record(block.page, kind)


def _test_block(block: fences.Block, request) -> str:
    config = request.config
    live = config.getoption("target") == "live"
    if block.skip:
        REPORT.record(block.page, "skipped", block.id, block.skip)
        pytest.skip(f"{block.id}: {block.skip}")
    if not live:
        if block.host_bound:
            _static(block)
            return "static"
        target = request.getfixturevalue("target")
        aliases = [None]
    else:
        if block.disruptive and not config.getoption("allow_disruptive"):
            reason = "disruptive: runs only with --allow-disruptive"
            REPORT.record(block.page, "skipped", block.id, reason)
            pytest.skip(f"{block.id}: {reason}")
        target = request.getfixturevalue("target")
        aliases = ssh_aliases(block) if block.on else [None]
    for alias in aliases:
        if block.lang == "console":
            _check_console(block, target, config.getoption("update"), alias)
        else:
            _check_bash(block, target, alias)
    return "executed"


def test_blocks_that_act_on_a_machine_name_their_host():
    """A block without on=/needs= runs on the machine running the tests: it must not touch docker,
    ssh, mounts or services, and anything that changes a host must be marked disruptive."""
    unmarked = [b.id for b in RUNNABLE if not b.host_bound and static.HOST_COMMANDS.search(b.code)]
    assert not unmarked, f"mark these on=ID or needs=ID: {unmarked}"
    undeclared = [b.id for b in RUNNABLE if DISRUPTIVE.search(b.code) and not b.disruptive and not b.skip]
    assert not undeclared, f"mark these disruptive=true: {undeclared}"


def test_host_attributes_name_systems():
    for b in RUNNABLE:
        for key in ("on", "needs"):
            value = b.attrs.get(key)
            hosts = {*DATA.systems, *([DOCS_SITE_KEY] if DATA.docs_site else [])}
            assert value is None or value in hosts or (key == "on" and value == "any"), \
                f"{b.id}: {key}={value!r} is not a system id ({', '.join(DATA.systems)}), {DOCS_SITE_KEY} or 'any'"


def test_every_page_with_commands_is_collected():
    pages = {b.page for b in RUNNABLE}
    for expected in ("README.md", "STATUS.md", "vllm-gb10/SETUP.md", "docs/index.md", "docs-site/QUICKSTART.md",
                     *(f"systems/{k}/QUICKSTART.md" for k in DATA.systems)):
        assert expected in pages, expected


def test_workstation_blocks_need_only_what_the_workstation_has():
    """The data says what the workstation is (lab.workstation_os); a block run there (skipped ones
    included: readers run them) may only call what a stock one has, or what the page says how to install."""
    kind = DATA.lab.workstation_os
    problems = [f"{b.id}: {p}" for b in BLOCKS for p in workstation.missing(b, PAGES[b.page], kind)]
    assert not problems, "\n".join(problems)


def test_every_start_on_any_page_drops_the_page_cache_first():
    """GB10 counts the page cache as used memory: a start right after a load can fail (issue 14)."""
    from labdocs.model.operations import DROP_PAGE_CACHE

    start = re.compile(r"docker\s+compose\s+(up|start|restart)\b|docker\s+(start|restart)\b")
    missing = [b.id for b in BLOCKS if b.lang in fences.SHELL and (m := start.search(b.code))
               and DROP_PAGE_CACHE not in b.code[:m.start()]]
    assert not missing, f"drop the page cache before these starts: {missing}"


def test_no_block_deletes_what_rollback_needs():
    """Every block a reader sees, skipped ones included: no prune of tagged images, no image the data
    names deleted, and no build-cache prune without its cost (issue 14)."""
    problems = [f"{b.id}: {p}" for b in BLOCKS if b.lang in fences.SHELL
                for p in static.deletes_rollback_images(b, PAGES[b.page], KNOWN)]
    assert not problems, "\n".join(problems)
