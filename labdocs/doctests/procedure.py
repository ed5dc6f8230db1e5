"""Pages run as procedures on the host stand-ins, in the style of Sybil: a page that has blocks on a host
(on=ID or on=any, for a system with a stand-in) is one document whose blocks run in page order, each block
one test item, against the session's host stand-ins (lab.host_systems, one lab per pytest session).

Each block runs once, where the page says: an on= block over `ssh ALIAS bash -e -o pipefail -s` on each of
its hosts (counted "host"), any other block on the workstation side with the lab's names and ssh config
(counted "workstation"). A host block that checks for what a stand-in is not (host_blocks.refusal: a GPU,
the NVIDIA runtime, the NFS share mounted) runs too, and must fail as on a host without it (counted
"refused"). Any other block that needs what a stand-in is not (host_blocks.static_reason: a GPU, a kernel
NFS client, systemd, a registry or a URL the lab's world stand-in does not serve) is checked statically and counted "static" with that
reason. Running a block first runs the page's earlier blocks not run yet (a `-k` that picks one
block still gets the state the page builds up to it); once a block failed, every later block of the page
fails with "not reached: PAGE:LINE failed", never a silent skip.

A page with a preparation (preparations.py: what it assumes that no step of it makes) gets it before its first
block, runs whole on first use, and then the preparation puts back the state later pages expect: no later page
or test sees a half-run page's state.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field

import pytest

from labdocs.doctests import host_blocks, preparations, static
from labdocs.doctests.evaluators import BlockRun, Verdict
from labdocs.doctests.fences import Block
from labdocs.paths import ROOT

def stand_in_keys(block: Block, systems: Collection[str], all_systems: Collection[str]) -> list[str]:
    """The systems with a stand-in an on= block runs on (on=any: every one of them)."""
    if block.on == "any":
        return [k for k in all_systems if k in systems]
    return [block.on] if block.on in systems else []


def procedure_pages(blocks: list[Block], systems: Collection[str], all_systems: Collection[str],
                    prepared: Collection[str] = preparations.PREPARATIONS) -> list[str]:
    """The pages run as procedures, in the order they run: pages about one system (its QUICKSTART) first, then
    pages with a preparation (which stands on a deployed system and puts the QUICKSTART's end state back after
    it), then pages for any host (maintenance, infrastructure), which expect deployed hosts."""
    pages: dict[str, int] = {}
    for b in blocks:
        if b.on and b.page not in host_blocks.NOT_HERE and stand_in_keys(b, systems, all_systems):
            rank = 2 if b.on == "any" else 1 if b.page in prepared else 0
            pages[b.page] = max(pages.get(b.page, 0), rank)
    return sorted(pages, key=lambda p: pages[p])      # stable: the session's page order within each rank


@dataclass
class Step:
    """One block's run: its verdict kind (host, workstation, refused, static), the reason when refused or
    static, or the failure."""

    kind: str = ""
    reason: str = ""
    failure: str | None = None
    seconds: float = 0.0
    stdout: str = ""            # what its last command printed (the tail), for checks of its content


@dataclass
class PageRun:
    page: str
    blocks: list[Block]
    steps: dict[str, Step] = field(default_factory=dict)       # block id -> its run, in page order
    failed: Block | None = None
    preparation: preparations.Preparation | None = None
    prepared: list[str] = field(default_factory=list)          # what the preparation did, in words (the report)
    broken: str | None = None                                  # the preparation's failure
    prepare_seconds: float = 0.0                               # its before and after

    @property
    def done(self) -> bool:
        return self.failed is not None or len(self.steps) == len(self.blocks)

    @property
    def seconds(self) -> float:
        return sum(s.seconds for s in self.steps.values())


class Procedures:
    """The session's page runs against running host stand-ins (a lab.host_systems.HostSystems)."""

    def __init__(self, session, systems, checkout=ROOT, log: Callable[[str], None] = lambda s: None):
        self.session, self.systems, self.checkout, self.log = session, systems, checkout, log
        self.target = host_blocks.HostTarget(systems.lab.wrap, checkout)
        self.hosts = {s.host for s in session.data.systems.values()}
        self.runs: dict[str, PageRun] = {}

    def page(self, page: str) -> PageRun:
        if page not in self.runs:
            blocks = [b for b in self.session.runnable if b.page == page]
            make = preparations.PREPARATIONS.get(page)
            self.runs[page] = PageRun(page, [b for b in blocks if not b.skip],
                                      preparation=make(self.session.data, blocks) if make else None)
        return self.runs[page]

    def run_to(self, block: Block) -> Step:
        """Run the page up to and including `block` (each block once; a page with a preparation: all of it,
        between its preparation's before and after); the block's own Step."""
        run = self.page(block.page)
        if block.id not in {b.id for b in run.blocks}:
            raise KeyError(f"{block.id} is not a block of the procedure {block.page}")
        prep = run.preparation
        if prep and not run.steps:
            run.broken = self._prepare(run, prep.before, "before its first block")
        last = run.blocks[-1] if prep else block
        for b in run.blocks:
            if b.id not in run.steps:
                if run.broken:
                    run.steps[b.id] = Step(failure=f"{b.id}: not reached: {run.page}'s preparation failed\n"
                                                   f"{run.broken}")
                elif run.failed is not None:
                    first = run.steps[run.failed.id].failure
                    run.steps[b.id] = Step(failure=f"{b.id}: not reached: {run.failed.id} failed\n{first}")
                else:
                    run.steps[b.id] = self._run(b)
                    if run.steps[b.id].failure:
                        run.failed = b
                if prep and b is last:
                    broken = self._prepare(run, prep.after, "after its last block")
                    if broken:                      # the last block's item reports it
                        step = run.steps[b.id]
                        step.failure = (step.failure + "\n" if step.failure else f"{b.id}: ") + broken
            if b.id == last.id:
                break
        return run.steps[block.id]

    def _prepare(self, run: PageRun, step: Callable, when: str) -> str | None:
        """A preparation's before or after; its failure as text (named by the page), or None."""
        t0 = time.monotonic()
        try:
            done = step(self.systems)
        except Exception as exc:            # any failure of the lab's set-up: the page's items report it
            return f"{run.page}: preparation {when}: {type(exc).__name__}: {exc}"
        finally:
            run.prepare_seconds += time.monotonic() - t0
        run.prepared += [f"{when}: {d}" for d in done]
        self.log(f"{run.page}: preparation {when} {time.monotonic() - t0:.1f} s")
        return None

    def run_page(self, page: str) -> PageRun:
        """The whole page (what it has not run yet); a test that needs the state a page leaves calls this."""
        run = self.page(page)
        if run.blocks:
            self.run_to(run.blocks[-1])
        return run

    def _run(self, block: Block) -> Step:
        t0 = time.monotonic()
        refused = host_blocks.refusal(block, self.session.data) if block.on else None
        why = None if refused else host_blocks.static_reason(block, self.session.data, systemd=self.systems.systemd)
        if why:
            problems = static.references(block, self.session.known) + static.shellcheck(block.code)
            failure = (f"{block.id}: host-local block checked without its host:\n  " + "\n  ".join(problems)
                       + f"\n--- block\n{block.code}") if problems else None
            return Step("static", why, failure, time.monotonic() - t0)
        if block.on:
            keys = stand_in_keys(block, self.systems.hosts, self.session.data.systems)
            step = Step("refused", refused.reason()) if refused else Step("host")
            for key in keys:
                result = host_blocks.run(block, self.target, self.systems.alias(key), refused)
                if not result.ok:
                    step.failure = self._message(result, key)
                    break
            step.seconds = time.monotonic() - t0
        else:
            result = host_blocks.run(block, self.target, None)
            keys = self.session.systems_of(block)
            step = Step("workstation", failure=None if result.ok else self._message(result, *keys[:1]),
                        seconds=time.monotonic() - t0)
        step.stdout = result.outcomes[-1].stdout[-4000:] if result.outcomes else ""
        self.log(f"{block.id}: {step.kind} {'FAILED ' if step.failure else ''}{step.seconds:.1f} s")
        return step

    def _message(self, result: host_blocks.Result, key: str | None = None) -> str:
        """page:line, what went wrong, the output, and the system's container log on its stand-in."""
        message = result.message(self.hosts)
        if key in self.systems.systems:
            s, container = self.systems[key], self.session.data.systems[key].container_name
            out = s.host.run(f"docker logs --tail 40 {container} 2>&1 || true", user=s.host.spec.user,
                             cwd=f"/home/{s.host.spec.user}", timeout=60)
            message += f"\n--- container log on {key}'s stand-in\n{out.stdout[-4000:]}"
        return message


@dataclass
class Procedure:
    """The evaluator: takes every block (but skip=) of a procedure page; runs it through the session's
    Procedures (the `host_procedures` fixture, which starts the stand-ins on first use)."""

    pages: Callable[[], Collection[str]]
    fixture: str = "host_procedures"
    marks: tuple[str, ...] = ("lab", "slow")
    name: str = "procedure"

    def applies(self, block: Block) -> bool:
        return block.page in self.pages()

    def run(self, block: Block, ctx: BlockRun) -> Verdict:
        step = ctx.target(self.fixture).run_to(block)
        if step.failure:
            pytest.fail(step.failure, pytrace=False)
        return Verdict(step.kind, step.reason)
