"""Per-page "verified" marks: when the doc-tests ran this page's blocks, and with what result.

Reads test-results/verified.json (or the file named by LABDOCS_VERIFIED), written by the doc-test run;
its format is the model in labdocs/observed/verified.py. Under the page title this shows, per target:
- "verified in the lab on DATE" when blocks passed and none failed, for this very text;
- "N of M blocks failed in the lab on DATE" when some failed;
- "verified in the lab on DATE, for an earlier version of this page" when the text changed since;
- nothing for a target that has no entry, or ran no block of the page.
No file: no marks anywhere. A malformed file fails the build, naming the problem.
"""

from __future__ import annotations

import html
import os
from pathlib import Path

from mkdocs.exceptions import PluginError

from labdocs.observed.verified import TARGETS, Run, Verified, VerifiedInvalid, digest

_state: dict = {}


def _load(path: Path) -> dict[str, dict[str, Run]]:
    try:
        return Verified.load(path).pages
    except VerifiedInvalid as exc:
        raise PluginError(str(exc)) from None


def on_config(config):
    root = Path(config.config_file_path).resolve().parent
    path = Path(os.environ.get("LABDOCS_VERIFIED") or root / "test-results" / "verified.json")
    _state["pages"] = _load(path) if path.is_file() else {}
    _state["digests"] = {}
    return config


def on_page_markdown(markdown, page, config, files):
    # Hooks run after plugins: this is the text the doc-tests collect (LABDOCS_RENDERED_DIR).
    if page.file.src_uri in _state["pages"]:
        _state["digests"][page.file.src_uri] = digest(markdown)
    return markdown


def _phrase(target: str, run: Run, text_digest: str | None) -> tuple[str, str] | None:
    passed, failed, skipped = run.passed, run.failed, run.skipped
    where, date = TARGETS[target], html.escape(run.date.isoformat())
    when = f'<time datetime="{date}">{date}</time>'
    if failed:
        return "failed", f"{failed} of {passed + failed} blocks failed {where} on {when}"
    if not passed:
        return None
    counts = f"{passed} passed" + (f", {skipped} skipped" if skipped else "")
    if run.sha256 != text_digest:
        return "stale", f"verified {where} on {when} ({counts}), for an earlier version of this page"
    return "ok", f"verified {where} on {when} ({counts})"


def on_page_content(content, page, config, files):
    entry = _state["pages"].get(page.file.src_uri)
    if not entry:
        return content
    text_digest = _state["digests"].get(page.file.src_uri)
    facts = [p for p in (_phrase(t, entry[t], text_digest) for t in TARGETS if t in entry) if p]
    if not facts:
        return content
    worst = "failed" if any(k == "failed" for k, _ in facts) else \
        "stale" if any(k == "stale" for k, _ in facts) else "ok"
    text = "Blocks " + " · ".join(t for _, t in facts) + "."
    mark = f'<p class="labdocs-verified labdocs-verified--{worst}" data-labdocs-verified="{worst}">{text}</p>'
    end = content.find("</h1>")
    return content[: end + 5] + mark + content[end + 5:] if end >= 0 else mark + content
