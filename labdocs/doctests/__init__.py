"""Executable docs as a pytest plugin: every page is split into blocks, each checked by the evaluator that takes it.

plugin.py is the pytest plugin (options, fixtures, collection, report hooks; tests/conftest.py loads it),
session.py the one object per test session (data, pages, blocks, evaluator chain, what the run did),
evaluators.py the ways a block is checked (skip, static, on the workstation, on the hosts) and the
Evaluator interface, hookspecs.py the hook through which other plugins add evaluators.
rendered.py gets each page as the reader sees it (after macros), fences.py parses blocks and their header
settings, console.py checks `$ ` blocks against their shown output, static.py checks host-local blocks
without a host, run.py runs commands in the lab or against the real hosts, report.py counts outcomes,
python_blocks.py collects python blocks for pytest-markdown-docs, host_blocks.py runs a page's blocks as an
operator does (host blocks over ssh) against the host stand-ins, procedure.py runs pages in order on them (after
a page's preparation, preparations.py), workstation.py says what a stock workstation has.
"""
