"""Every fenced command block a reader sees, run as printed. Test ids are page:line.

In the lab (default) workstation blocks run against real vLLM servers on loopback, with the documented
host names resolving there; host-local blocks are checked statically. With --target live they run
against the real hosts, host-local ones over ssh; disruptive ones only with --allow-disruptive.
The engine is the pytest plugin labdocs/doctests/plugin.py: it parametrizes `doc_block` with every
runnable block of the rendered pages and picks each block's evaluator (labdocs/doctests/evaluators.py).
"""

from __future__ import annotations

import re

from labdocs.doctests import fences, static, workstation
from labdocs.render.views import DOCS_SITE_KEY


def test_block(doc_block: fences.Block, doc_session, request):
    """One block, by the first evaluator of the session's chain that takes it (labdocs/doctests/)."""
    doc_session.run(doc_block, request)


def test_blocks_that_act_on_a_machine_name_their_host(doc_session):
    """A block without on=/needs= runs on the machine running the tests: it must not touch docker,
    ssh, mounts or services, and anything that changes a host must be marked disruptive."""
    runnable = doc_session.runnable
    unmarked = [b.id for b in runnable if not b.host_bound and static.HOST_COMMANDS.search(b.code)]
    assert not unmarked, f"mark these on=ID or needs=ID: {unmarked}"
    undeclared = [b.id for b in runnable if static.DISRUPTIVE.search(b.code) and not b.disruptive and not b.skip]
    assert not undeclared, f"mark these disruptive=true: {undeclared}"


def test_host_attributes_name_systems(doc_session):
    data = doc_session.data
    for b in doc_session.runnable:
        for key in ("on", "needs"):
            value = b.attrs.get(key)
            hosts = {*data.systems, *([DOCS_SITE_KEY] if data.docs_site else [])}
            assert value is None or value in hosts or (key == "on" and value == "any"), \
                f"{b.id}: {key}={value!r} is not a system id ({', '.join(data.systems)}), {DOCS_SITE_KEY} or 'any'"


def test_every_page_with_commands_is_collected(doc_session):
    pages = {b.page for b in doc_session.runnable}
    for expected in ("README.md", "STATUS.md", "vllm-gb10/SETUP.md", "docs/index.md", "docs-site/QUICKSTART.md",
                     *(f"systems/{k}/QUICKSTART.md" for k in doc_session.data.systems)):
        assert expected in pages, expected


def test_workstation_blocks_need_only_what_the_workstation_has(doc_session):
    """The data says what the workstation is (lab.workstation_os); a block run there (skipped ones
    included: readers run them) may only call what a stock one has, or what the page says how to install."""
    kind, pages = doc_session.data.lab.workstation_os, doc_session.pages
    problems = [f"{b.id}: {p}" for b in doc_session.blocks for p in workstation.missing(b, pages[b.page], kind)]
    assert not problems, "\n".join(problems)


def test_every_start_on_any_page_drops_the_page_cache_first(doc_session):
    """GB10 counts the page cache as used memory: a start right after a load can fail (issue 14)."""
    from labdocs.model.operations import DROP_PAGE_CACHE

    start = re.compile(r"docker\s+compose\s+(up|start|restart)\b|docker\s+(start|restart)\b")
    missing = [b.id for b in doc_session.blocks if b.lang in fences.SHELL and (m := start.search(b.code))
               and DROP_PAGE_CACHE not in b.code[:m.start()]]
    assert not missing, f"drop the page cache before these starts: {missing}"


def test_no_block_deletes_what_rollback_needs(doc_session):
    """Every block a reader sees, skipped ones included: no prune of tagged images, no image the data
    names deleted, and no build-cache prune without its cost (issue 14)."""
    problems = [f"{b.id}: {p}" for b in doc_session.blocks if b.lang in fences.SHELL
                for p in static.deletes_rollback_images(b, doc_session.pages[b.page], doc_session.known)]
    assert not problems, "\n".join(problems)
