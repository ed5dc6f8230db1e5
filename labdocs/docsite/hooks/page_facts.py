"""'Last updated' dates and edit links that tell the truth about where a page comes from.

Last updated (shown by mkdocs-material's own footer, through `page.meta.revision_date`):
- one `git log` for the whole repository at start (not one git call per page, which would cost
  seconds on a large lab); a page's date is the last commit that touched its real source file (links
  under docs/ resolved), and for a page rendered from the data by macros, the later of that and the
  last commit to data/systems.yaml;
- no date at all where git cannot tell: outside a git work tree (temp copies), in a shallow clone
  (every file would look changed by the one commit it has), for uncommitted files; a committed file
  with uncommitted changes shows its last commit date and says it has changed since.
  Nothing here warns, so `strict: true` holds on a fresh clone and with a dirty tree.

Edit links (material's `content.action.edit`): mkdocs would build them from `repo_url` + `edit_uri` +
the path under docs/, which is wrong here: docs/systems is a link to the generated files, and a
generated page must be changed in data/systems.yaml, not edited. With a repository URL set
(LABDOCS_REPO_URL), the link is repo_url + extra.edit_path + the real file: a hand-written page's own
file, the data file for a generated one. Without one there is no edit button, rather than a made-up
address.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import subprocess
from pathlib import Path

from labdocs.paths import DATA_FILE as DATA_PATH
from labdocs.render.marker import is_generated

log = logging.getLogger("mkdocs.hooks.page_facts")

DATA_FILE = DATA_PATH.as_posix()

_state: dict = {}


def _git(root: Path, *args: str) -> str | None:
    try:
        result = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout if result.returncode == 0 else None


def _history(root: Path) -> tuple[Path, dict[str, int], set[str], set[str]] | None:
    top = _git(root, "rev-parse", "--show-toplevel")
    if top is None:
        log.debug("not a git work tree: no 'last updated' dates")
        return None
    top_path = Path(top.strip())
    if (_git(root, "rev-parse", "--is-shallow-repository") or "").strip() == "true":
        log.info("shallow clone: no 'last updated' dates (fetch the history to get them)")
        return None
    log_out = _git(top_path, "log", "--format=@%ct", "--name-only", "--no-renames", "HEAD")
    if log_out is None:          # no commit yet
        return None
    latest: dict[str, int] = {}
    stamp = 0
    for line in log_out.splitlines():
        if line.startswith("@"):
            stamp = int(line[1:])
        elif line:
            latest.setdefault(line, stamp)
    status = _git(top_path, "status", "--porcelain", "-z", "--untracked-files=all") or ""
    modified, untracked = set(), set()
    for entry in status.split("\0"):
        if len(entry) > 3:
            (untracked if entry[:2] == "??" else modified).add(entry[3:])
    return top_path, latest, modified, untracked


def on_config(config):
    root = Path(config.config_file_path).resolve().parent
    _state.clear()
    _state["root"] = root
    _state["history"] = _history(root)
    _state["top"] = _state["history"][0] if _state["history"] else root
    return config


def _rel(path: str) -> str | None:
    """The real file's path relative to the repository (links resolved)."""
    try:
        return Path(os.path.realpath(path)).relative_to(_state["top"]).as_posix()
    except ValueError:
        return None


def _date(rel: str) -> tuple[int, bool] | None:
    """(last commit time, changed since) for a repo-relative path, or None when git cannot tell."""
    if _state["history"] is None:
        return None
    _, latest, modified, untracked = _state["history"]
    if rel in untracked or rel not in latest:
        return None
    return latest[rel], rel in modified


def on_page_markdown(markdown, page, config, files):
    # Hooks run after plugins: a page that macros rendered differs from its source file.
    page.meta["_labdocs_templated"] = markdown != page.file.content_string
    return markdown


def on_page_context(context, page, config, nav):
    templated = page.meta.pop("_labdocs_templated", False)
    rel = _rel(page.file.abs_src_path) if page.file.abs_src_path else None
    generated = is_generated(page.file.content_string)

    if rel is not None:
        sources = [rel] + ([DATA_FILE] if templated else [])
        dates = [d for d in (_date(s) for s in sources) if d is not None]
        if len(dates) == len(sources):
            stamp = max(d[0] for d in dates)
            text = dt.datetime.fromtimestamp(stamp, dt.timezone.utc).strftime("%Y-%m-%d")
            if any(changed for _, changed in dates):
                text += " (changed since, not committed)"
            page.meta["revision_date"] = text

    if config.repo_url and rel is not None:
        base = config.repo_url.rstrip("/") + "/" + str((config.extra or {}).get("edit_path") or "edit/main/")
        page.edit_url = base.rstrip("/") + "/" + (DATA_FILE if generated else rel)
    return context
