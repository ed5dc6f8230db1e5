"""How a block is checked: one evaluator per way, the first one that applies wins.

An evaluator says whether it takes a block (`applies`, from the block alone, decided at collection) and
checks it (`run`), returning what the report counts (report.KINDS): "host" (run on a host), "workstation"
(run from the workstation side), "static" or "skipped", the last two with their reason. A failure is
`pytest.fail` naming the block's page and line. The chains per target (session.py):

    lab:  Skip, <registered>, Procedure, Static, Workstation
    live: Skip, Disruptive, <registered>, OnHosts, Workstation

Procedure (procedure.py) runs the pages with blocks on a host in order on the lab's host stand-ins.
<registered> are the evaluators other plugins return from the `pytest_labdocs_evaluators` hook
(hookspecs.py); they come before the built-in ones.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import pytest

from labdocs.doctests import console, host_blocks, rendered, static
from labdocs.doctests.fences import Block
from labdocs.doctests.run import Outcome, why_unreachable

if TYPE_CHECKING:
    from labdocs.doctests.session import DocSession


@dataclass(frozen=True)
class Verdict:
    kind: str          # what the report counts: host, workstation, static or skipped (report.KINDS)
    reason: str = ""   # for static and skipped: why, printed and reported


ON_HOST, WORKSTATION = Verdict("host"), Verdict("workstation")


class Target(Protocol):
    """Where commands run: the workstation side (`local`) and, where there are hosts, a host by its ssh
    alias (`on_host`). run.LabTarget and run.LiveTarget are the two built in."""

    name: str

    def local(self, code: str, timeout: float) -> Outcome: ...

    def on_host(self, alias: str, code: str, timeout: float) -> Outcome: ...

    def logs(self, systems: list[str], lines: int = 30) -> str: ...


@dataclass
class BlockRun:
    """What an evaluator may use while it checks one block: the session (data, names, options) and the
    test's fixtures, through which a target is started only when a block needs it."""

    session: DocSession
    request: pytest.FixtureRequest

    def target(self, fixture: str = "doc_target") -> Target:
        return self.request.getfixturevalue(fixture)

    @property
    def update(self) -> bool:
        return self.session.options.update


class Evaluator(Protocol):
    name: str                    # shown by --collect-only's marks and in errors
    marks: tuple[str, ...]       # pytest marks its items get, e.g. ("lab",) when it starts the loopback lab

    def applies(self, block: Block) -> bool: ...

    def run(self, block: Block, ctx: BlockRun) -> Verdict: ...


# --- running a block's commands through a target ------------------------------------------------

def fail(block: Block, what: str, outcome: Outcome, target: Target, session: DocSession) -> None:
    unreachable = why_unreachable(block.code, outcome, session.known.hosts)
    logs = target.logs(session.systems_of(block))
    pytest.fail(
        f"{block.id}: {what}\n" + (f"{unreachable}\n" if unreachable else "")
        + f"--- block\n{block.code}--- stdout\n{outcome.stdout[-3000:]}--- stderr\n{outcome.stderr[-3000:]}"
        + (f"\n{logs}" if logs else ""), pytrace=False)


def _run_code(block: Block, code: str, target: Target, alias: str | None) -> Outcome:
    if alias:
        return target.on_host(alias, code, block.timeout)
    return target.local(code, block.timeout)


def check_bash(block: Block, target: Target, session: DocSession, alias: str | None = None) -> None:
    """A shell block as printed: it must exit with its expected status before its timeout."""
    outcome = _run_code(block, block.code, target, alias)
    if outcome.timed_out:
        fail(block, f"killed after the {block.timeout:g} s timeout", outcome, target, session)
    if outcome.returncode != block.exit:
        fail(block, f"exit status {outcome.returncode}, expected {block.exit}", outcome, target, session)


def check_console(block: Block, target: Target, session: DocSession, update: bool = False,
                  alias: str | None = None) -> None:
    """A console block: each `$ ` command must succeed and print what the page shows (--update rewrites
    the shown output of a hand-written page instead)."""
    steps = console.parse(block.code)
    for step in steps:
        outcome = _run_code(block, step.command, target, alias)
        if outcome.timed_out or outcome.returncode != 0:
            fail(block, f"`{step.command}` failed (exit {outcome.returncode})", outcome, target, session)
        if not console.matches(step.expected, outcome.stdout):
            if update:
                step.expected = outcome.stdout.rstrip("\n").splitlines()
                continue
            fail(block, f"`{step.command}` printed other output than the page shows\n--- shown\n"
                 + "\n".join(step.expected) + "\n", outcome, target, session)
    if update:
        try:
            rendered.update_console(block, console.render(steps), session.root)
        except rendered.NotUpdatable as exc:
            pytest.fail(f"{block.id}: cannot --update: {exc}", pytrace=False)


def check(block: Block, target: Target, session: DocSession, update: bool = False,
          alias: str | None = None) -> None:
    """A runnable block (bash or console) through a target; a failure names the page and line."""
    if block.lang == "console":
        check_console(block, target, session, update, alias)
    else:
        check_bash(block, target, session, alias)


# --- the evaluators ----------------------------------------------------------------------------

class Skip:
    """skip="why": never run; the reason is printed and reported."""

    name, marks = "skip", ()

    def applies(self, block: Block) -> bool:
        return bool(block.skip)

    def run(self, block: Block, ctx: BlockRun) -> Verdict:
        return Verdict("skipped", block.skip or "")


class Disruptive:
    """Live, without --allow-disruptive: a block marked disruptive=true is skipped, saying so."""

    name, marks = "disruptive", ()

    def applies(self, block: Block) -> bool:
        return block.disruptive

    def run(self, block: Block, ctx: BlockRun) -> Verdict:
        return Verdict("skipped", "disruptive: runs only with --allow-disruptive")


class Static:
    """A block that needs a real host, checked without one: shellcheck, and every name it mentions
    must be in the data (static.py). The reason: what the block needs that no stand-in is
    (host_blocks.static_reason), else that no stand-in runs its page."""

    name, marks = "static", ()

    def applies(self, block: Block) -> bool:
        return block.host_bound

    def run(self, block: Block, ctx: BlockRun) -> Verdict:
        problems = static.references(block, ctx.session.known) + static.shellcheck(block.code)
        if problems:
            pytest.fail(f"{block.id}: host-local block checked without its host:\n  " + "\n  ".join(problems)
                        + f"\n--- block\n{block.code}", pytrace=False)
        why = host_blocks.static_reason(block, ctx.session.data) or host_blocks.NOT_HERE.get(block.page)
        return Verdict("static", why or f"no host stand-in runs this page's blocks on {block.on or block.needs}")


@dataclass
class Workstation:
    """Runs the block on the workstation side of a target (the lab's private /etc/hosts, or this
    machine with real DNS when live)."""

    fixture: str = "doc_target"
    marks: tuple[str, ...] = ()
    takes: Callable[[Block], bool] = lambda block: True
    name: str = "workstation"

    def applies(self, block: Block) -> bool:
        return self.takes(block)

    def run(self, block: Block, ctx: BlockRun) -> Verdict:
        check(block, ctx.target(self.fixture), ctx.session, ctx.update)
        return WORKSTATION


@dataclass
class OnHosts:
    """Runs an on= block on each of its hosts, by ssh alias, through a target's `on_host`: the real
    hosts live; a lab of stand-in hosts registers one with its own fixture and `takes`."""

    fixture: str = "doc_target"
    marks: tuple[str, ...] = ()
    takes: Callable[[Block], bool] = lambda block: block.on is not None
    name: str = "on-hosts"

    def applies(self, block: Block) -> bool:
        return self.takes(block)

    def run(self, block: Block, ctx: BlockRun) -> Verdict:
        target = ctx.target(self.fixture)
        for alias in ctx.session.ssh_aliases(block):
            check(block, target, ctx.session, ctx.update, alias)
        return ON_HOST
