"""mkdocs hooks.

- Under `mkdocs serve`, regenerate the generated files before each build, so a saved change in data/
  shows up in the served pages. `mkdocs build` never writes outside its site directory.
- With LABDOCS_RENDERED_DIR set, write each page's Markdown after macros (what the reader sees) there,
  for the doc-tests to collect. Hooks run after plugins, so macros have already rendered the page.
"""

from __future__ import annotations

import os
from pathlib import Path

_serving = False


def on_startup(command: str, dirty: bool) -> None:
    global _serving
    _serving = command == "serve"


def on_pre_build(config) -> None:
    if _serving:
        from mkdocs.exceptions import PluginError

        from labdocs.render import generate     # (here: a plain `mkdocs build` needs none of it)
        from labdocs.model.errors import DataInvalid

        try:
            plan = generate.plan()
            if not plan.in_sync:
                with generate.locked(plan.out_root):
                    generate.apply(generate.plan())
        except DataInvalid as exc:      # the message, not a traceback; serve keeps watching for the fix
            raise PluginError(f"{exc}\n{len(exc.errors)} error(s); nothing was written.") from None
        except generate.GenerateError as exc:
            raise PluginError(str(exc)) from None


def on_page_markdown(markdown: str, page, config, files) -> str:
    out = os.environ.get("LABDOCS_RENDERED_DIR")
    if out:
        target = Path(out) / page.file.src_uri
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(markdown, encoding="utf-8")
    return markdown
