"""The doc-test plugin's hook: where another plugin (or a conftest) adds evaluators. pytest reads every
`pytest_` function here as a hook specification (plugin.py registers the module)."""

from __future__ import annotations

import pytest


def pytest_labdocs_evaluators(config: pytest.Config, target: str) -> list:
    """Evaluators (labdocs.doctests.evaluators.Evaluator) to try before the built-in ones that run or
    check blocks for this target, "lab" or "live": e.g. for the lab, one that runs on= blocks on the
    stand-in hosts, `OnHosts(fixture="standin_target", marks=("lab",), takes=...)`, so the blocks it
    takes are executed instead of checked statically. Called once per session, at collection; every
    implementation's evaluators are tried in the order pytest calls them."""
