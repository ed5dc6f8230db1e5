"""mkdocs hook: under `mkdocs serve`, regenerate the generated files before each build, so a saved
change in data/ shows up in the served pages. `mkdocs build` never writes outside site/."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from macros import generate  # noqa: E402

_serving = False


def on_startup(command: str, dirty: bool) -> None:
    global _serving
    _serving = command == "serve"


def on_pre_build(config) -> None:
    if _serving:
        plan = generate.plan()
        if not plan.in_sync:
            generate.apply(plan)
