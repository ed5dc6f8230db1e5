"""Python blocks of the rendered pages, run by pytest-markdown-docs' own items (its options work:
notest, continuation, fixture:NAME, retry:N, in the superfences form `{.python continuation}`).

Each block also requests the `documented_hosts` fixture (plugin.py): in the lab it makes the documented host
names resolve to the lab's loopback addresses inside the test process, so the code runs as printed.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from pytest_markdown_docs.plugin import FenceSyntax, MarkdownInlinePythonItem, extract_fence_tests

from labdocs.doctests import fences
from labdocs.doctests.plugin import doc_session


class RenderedPythonBlocks(pytest.File):
    def collect(self):
        session = doc_session(self.config)
        parser = self.config.hook.pytest_markdown_docs_markdown_it()
        for page, markdown in session.pages.items():
            fences.blocks(page, markdown)  # header settings are validated for every page
            for test in extract_fence_tests(parser, fences.unwrap_containers(markdown), start_line_offset=0,
                                            source_path=Path(page), fence_syntax=FenceSyntax.superfences):
                test = dataclasses.replace(test, fixture_names=[*test.fixture_names, "documented_hosts"])
                session.report.add_found(page)
                # start_line is the first code line; the id names the fence line, like the shell blocks.
                item = MarkdownInlinePythonItem.from_parent(self, name=f"{page}:{test.start_line}",
                                                            test_definition=test)
                item.doc_page = page  # the plugin counts its outcome in the doc-block report
                if not session.options.live:  # documented_hosts starts the loopback lab for it
                    item.add_marker(pytest.mark.lab)
                yield item
