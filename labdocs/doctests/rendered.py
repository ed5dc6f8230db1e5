"""Every page as the reader sees it: the site's Markdown after macros, plus the repository README.

The Markdown comes from a real `mkdocs build` (labdocs/docsite/hooks/main.py writes each page after macros), so the
doc-tests see exactly what the site renders, not a second rendering of the templates.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from labdocs.paths import ROOT
from labdocs.render.marker import is_generated

EXTRA_PAGES = ["README.md"]  # shown on the repository's front page, not in the site


@dataclass(frozen=True)
class Rendered:
    """The pages of one build: repository path -> Markdown as the reader sees it, and for the site's
    pages (not the extra ones) their path under docs/, which the verified marks are keyed by."""

    pages: dict[str, str]
    docs_uri: dict[str, str]


def _repo_path(docs_uri: str, root: Path) -> str:
    """docs/systems/stella/README.md -> systems/stella/README.md (docs/ links to the real files)."""
    real = (root / "docs" / docs_uri).resolve()
    try:
        return real.relative_to(root.resolve()).as_posix()
    except ValueError:
        return f"docs/{docs_uri}"


def render(root: Path = ROOT) -> Rendered:
    """One strict `mkdocs build` into a temporary directory; nothing is kept but the pages' text."""
    with tempfile.TemporaryDirectory(prefix="labdocs-rendered-") as tmp:
        env = {**os.environ, "LABDOCS_RENDERED_DIR": f"{tmp}/md", "NO_MKDOCS_2_WARNING": "1"}
        result = subprocess.run(
            [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "--site-dir", f"{tmp}/site"],
            cwd=root, env=env, capture_output=True, text=True, timeout=300)
        if result.returncode != 0:
            raise RuntimeError(f"mkdocs build failed, cannot collect the pages:\n{result.stdout}{result.stderr}")
        pages, uris = {}, {}
        for path in sorted(Path(tmp, "md").rglob("*.md")):
            uri = path.relative_to(Path(tmp, "md")).as_posix()
            pages[_repo_path(uri, root)] = path.read_text(encoding="utf-8")
            uris[_repo_path(uri, root)] = uri
    for name in EXTRA_PAGES:
        pages[name] = (root / name).read_text(encoding="utf-8")
    return Rendered(pages, uris)


class NotUpdatable(Exception):
    pass


def update_console(block, body: str, root: Path = ROOT) -> None:
    """Rewrite a console block's body in its page, where the page is hand-written and shown as is."""
    source = root / block.page
    text = source.read_text(encoding="utf-8")
    if is_generated(text):
        raise NotUpdatable(f"{block.page} is generated: change its template under templates/ instead:\n{body}")
    lines = text.splitlines(keepends=True)
    opening = lines[block.line - 1]
    indent = opening[: len(opening) - len(opening.lstrip())]
    end = block.line
    while not lines[end].strip().startswith("```"):
        end += 1
    old = "".join(line[len(indent):] for line in lines[block.line:end])
    if old != block.code:
        raise NotUpdatable(f"{block.page} is rendered from a template (macros): edit it by hand:\n{body}")
    new = [indent + line if line.strip() else line for line in body.splitlines(keepends=True)]
    source.write_text("".join(lines[: block.line] + new + lines[end:]), encoding="utf-8")
