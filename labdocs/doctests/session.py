"""One pytest session's doc-tests: document -> blocks -> evaluator, and what the run did.

The session object is made once per pytest session (plugin.py, in pytest_configure) and does nothing
until asked: the data is loaded, the site built (one `mkdocs build`) and the pages split into blocks on
first use, which is collection of the doc-test modules. Everything the run learns (the report, the
QUICKSTARTs' runs on host stand-ins, the lab's start times) is kept here, not in module globals.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from labdocs.doctests import evaluators as ev
from labdocs.doctests import fences, rendered, static
from labdocs.doctests.fences import Block
from labdocs.doctests.procedure import Procedure, Procedures, procedure_pages
from labdocs.doctests.report import Report
from labdocs.model.schema import LabData
from labdocs.paths import DATA_FILE, ROOT
from labdocs.render.views import DOCS_SITE_KEY


@dataclass(frozen=True)
class Options:
    """The command line's doc-test options (plugin.py adds them)."""

    target: str = "lab"                      # lab | live
    systems: tuple[str, ...] = ()            # --system: only these systems' blocks
    allow_disruptive: bool = False
    update: bool = False

    @property
    def live(self) -> bool:
        return self.target == "live"


@dataclass
class LabTimes:
    """How the loopback lab started, for the session's summary."""

    up: float                                # seconds until every server answered /health
    healthy: dict[str, float]                # per server: seconds from its start to healthy
    peak_rss_gb: float = 0.0                 # all servers at once


@dataclass
class DocSession:
    options: Options = field(default_factory=Options)
    root: Path = ROOT
    registered: Callable[[], list[ev.Evaluator]] = list   # pytest_labdocs_evaluators' answers
    report: Report = field(default_factory=Report)
    host_report: list[str] = field(default_factory=list)  # QUICKSTARTs on host stand-ins: deltas, blocks per page
    lab_times: LabTimes | None = None
    procedures: Procedures | None = None                  # the procedure pages' runs (plugin: host_procedures)
    _counted: bool = field(default=False, init=False, repr=False)

    # --- the documents and their blocks, built on first use -------------------------------------

    @functools.cached_property
    def data(self) -> LabData:
        from labdocs.model.loader import load

        return load(self.root / DATA_FILE)

    @functools.cached_property
    def known(self) -> static.Known:
        return static.Known(self.data, self.root)

    @functools.cached_property
    def rendered(self) -> rendered.Rendered:
        return rendered.render(self.root)

    @property
    def built(self) -> bool:
        """Whether the site was built in this session (without building it)."""
        return "rendered" in self.__dict__

    @property
    def pages(self) -> dict[str, str]:
        return self.rendered.pages

    @functools.cached_property
    def blocks(self) -> list[Block]:
        return [b for page, md in self.pages.items() for b in fences.blocks(page, md)]

    @functools.cached_property
    def runnable(self) -> list[Block]:
        return [b for b in self.blocks if b.lang in fences.RUNNABLE]

    def collect_runnable(self) -> list[Block]:
        """The runnable blocks, counted as found in the report once per session."""
        if not self._counted:
            self._counted = True
            for block in self.runnable:
                self.report.add_found(block.page)
        return self.runnable

    # --- where a block runs ---------------------------------------------------------------------

    def systems_of(self, block: Block) -> list[str]:
        """The systems a block is for: its on=/needs=, or the systems whose host it names."""
        bound = block.on or block.needs
        if bound == "any":
            return list(self.data.systems)
        if bound == DOCS_SITE_KEY:
            return []
        if bound:
            return [bound]
        return [key for key, s in self.data.systems.items() if s.host in block.code]

    def ssh_aliases(self, block: Block) -> list[str]:
        """The hosts a block marked on= runs on, by ssh alias: the systems' or the docs host's."""
        if block.on == DOCS_SITE_KEY:
            return [self.data.docs_site.ssh.alias]
        return [self.data.systems[key].ssh.alias for key in self.systems_of(block)]

    @functools.cached_property
    def evaluators(self) -> list[ev.Evaluator]:
        """The chain for this target; the first evaluator that applies to a block checks it."""
        if self.options.live:
            head = [ev.Skip()] + ([] if self.options.allow_disruptive else [ev.Disruptive()])
            return [*head, *self.registered(), ev.OnHosts(), ev.Workstation()]
        return [ev.Skip(), *self.registered(), Procedure(lambda: self.procedure_pages), ev.Static(),
                ev.Workstation(marks=("lab",))]

    @functools.cached_property
    def procedure_pages(self) -> list[str]:
        """The pages run in order on the host stand-ins (procedure.py), in the order they run."""
        from labdocs.lab.host_systems import systems_for_hosts

        keys, _ = systems_for_hosts(self.data)
        keys += [DOCS_SITE_KEY] if self.data.docs_site else []         # the docs host has a stand-in too
        wanted = [k for k in keys if not self.options.systems or k in self.options.systems]
        return procedure_pages(self.runnable, wanted, list(self.data.systems))

    def evaluator_for(self, block: Block) -> ev.Evaluator:
        # Workstation takes every block, so the chain always ends in one that applies.
        return next(e for e in self.evaluators if e.applies(block))

    def run(self, block: Block, request: pytest.FixtureRequest) -> None:
        """Check one block with its evaluator and count the outcome in the report."""
        try:
            verdict = self.evaluator_for(block).run(block, ev.BlockRun(self, request))
        except pytest.fail.Exception:
            self.report.record(block.page, "failed")
            raise
        self.report.record(block.page, verdict.kind, block.id, verdict.reason)
        if verdict.kind == "skipped":
            pytest.skip(f"{block.id}: {verdict.reason}")

    def check(self, block: Block, target: ev.Target, update: bool = False, alias: str | None = None) -> None:
        """Run a block's commands through a target, as the doc-tests do, outside the chain (a test that
        breaks a block on purpose, or runs another data file's pages)."""
        ev.check(block, target, self, update, alias)
