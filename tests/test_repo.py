"""The promises of the repository itself: the README's two commands, CI, and the Makefile's help."""

from __future__ import annotations

import re

from conftest import ROOT, run


def test_readme_opens_with_serve_and_test():
    text = (ROOT / "README.md").read_text()
    first_block = re.search(r"```bash[^\n]*\n(.*?)```", text, re.S).group(1)
    commands = [line.split("#")[0].strip() for line in first_block.splitlines() if line.strip()]
    assert commands == ["make serve", "make test"]


def test_ci_runs_exactly_the_test_command():
    text = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^exec make test$", text, re.M)


def test_make_help_lists_the_targets():
    result = run(["make", "help"])
    assert result.returncode == 0
    for target in ("serve", "test", "generate", "check-generated", "build"):
        assert re.search(rf"^\s+\S*{target}\S*\s+\S", result.stdout, re.M), target
