"""Per-page "verified" marks: when the doc-tests ran this page's blocks, and with what result.

Reads test-results/verified.json (or the file named by LABDOCS_VERIFIED), written by the doc-test
run. Format (format 1):

    {
      "format": 1,
      "pages": {
        "systems/pegasus/QUICKSTART.md": {           # the page's path under docs/ (page.file.src_uri)
          "lab":  {"date": "2026-11-25", "passed": 7, "failed": 0, "skipped": 1,
                   "sha256": "<hex digest of the page's Markdown after macros>"},
          "live": {"date": "2026-11-20", "passed": 5, "failed": 0, "skipped": 3, "sha256": "..."}
        }
      }
    }

`sha256` is taken over the exact text the doc-tests ran (what LABDOCS_RENDERED_DIR receives, UTF-8),
so a mark is only claimed for the page as it is now. Under the page title this shows, per target:
- "verified in the lab on DATE" when blocks passed and none failed, for this very text;
- "N of M blocks failed in the lab on DATE" when some failed;
- "verified in the lab on DATE, for an earlier version of this page" when the text changed since;
- nothing for a target that has no entry, or ran no block of the page.
No file: no marks anywhere. A malformed file fails the build, naming the problem.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import html
import json
import os
from pathlib import Path

from mkdocs.exceptions import PluginError

TARGETS = {"lab": "in the lab", "live": "live"}
_state: dict = {}


def _fail(path: Path, where: str, why: str):
    raise PluginError(f"{path}: {where}: {why} (format: labdocs/docsite/hooks/verified.py)")


def _load(path: Path) -> dict:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        _fail(path, "file", str(exc))
    if not isinstance(doc, dict) or doc.get("format") != 1 or not isinstance(doc.get("pages"), dict):
        _fail(path, "top level", 'expected {"format": 1, "pages": {...}}')
    for uri, entry in doc["pages"].items():
        if not isinstance(entry, dict) or not set(entry) <= set(TARGETS):
            _fail(path, f"pages.{uri}", f"expected an object with keys among {sorted(TARGETS)}")
        for target, run in entry.items():
            where = f"pages.{uri}.{target}"
            if not isinstance(run, dict):
                _fail(path, where, "expected an object")
            try:
                dt.date.fromisoformat(str(run.get("date")))
            except ValueError:
                _fail(path, where + ".date", f"{run.get('date')!r} is not a YYYY-MM-DD date")
            for key in ("passed", "failed", "skipped"):
                value = run.get(key, 0)
                if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                    _fail(path, f"{where}.{key}", f"{value!r} is not a count")
            if not isinstance(run.get("sha256"), str) or len(run["sha256"]) != 64:
                _fail(path, where + ".sha256", "expected the hex SHA-256 of the page's Markdown after macros")
    return doc["pages"]


def on_config(config):
    root = Path(config.config_file_path).resolve().parent
    path = Path(os.environ.get("LABDOCS_VERIFIED") or root / "test-results" / "verified.json")
    _state["pages"] = _load(path) if path.is_file() else {}
    _state["digests"] = {}
    return config


def on_page_markdown(markdown, page, config, files):
    # Hooks run after plugins: this is the text the doc-tests collect (LABDOCS_RENDERED_DIR).
    if page.file.src_uri in _state["pages"]:
        _state["digests"][page.file.src_uri] = hashlib.sha256(markdown.encode("utf-8")).hexdigest()
    return markdown


def _phrase(target: str, run: dict, digest: str | None) -> tuple[str, str] | None:
    passed, failed, skipped = run.get("passed", 0), run.get("failed", 0), run.get("skipped", 0)
    where, date = TARGETS[target], html.escape(str(run["date"]))
    when = f'<time datetime="{date}">{date}</time>'
    if failed:
        return "failed", f"{failed} of {passed + failed} blocks failed {where} on {when}"
    if not passed:
        return None
    counts = f"{passed} passed" + (f", {skipped} skipped" if skipped else "")
    if run["sha256"] != digest:
        return "stale", f"verified {where} on {when} ({counts}), for an earlier version of this page"
    return "ok", f"verified {where} on {when} ({counts})"


def on_page_content(content, page, config, files):
    entry = _state["pages"].get(page.file.src_uri)
    if not entry:
        return content
    digest = _state["digests"].get(page.file.src_uri)
    facts = [p for p in (_phrase(t, entry[t], digest) for t in TARGETS if t in entry) if p]
    if not facts:
        return content
    worst = "failed" if any(k == "failed" for k, _ in facts) else \
        "stale" if any(k == "stale" for k, _ in facts) else "ok"
    text = "Blocks " + " · ".join(t for _, t in facts) + "."
    mark = f'<p class="labdocs-verified labdocs-verified--{worst}" data-labdocs-verified="{worst}">{text}</p>'
    end = content.find("</h1>")
    return content[: end + 5] + mark + content[end + 5:] if end >= 0 else mark + content
