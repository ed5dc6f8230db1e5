"""The observed side of STATUS: the last probe of the real hosts (data/status.json), its history, charts
and badges.

The probe (labdocs/probe/) writes the observations; this module only reads them, so STATUS.md and the site
render from declared data plus the last observation, through the generator like every other file.
Only live observations are published: a status document or history line from another target (the
loopback lab) in data/ is refused, naming the file and the fix. Without a live probe every badge is
grey and says "not probed yet". Each badge and chart carries the time it was observed; whether that is
stale depends on when it is read, so the site marks it (labdocs/docsite/hooks/observed.py), not these files.
"""

from __future__ import annotations

import re
from html import escape
from pathlib import Path

from labdocs.observed.store import PUBLISHED_HISTORY as HISTORY_FILE
from labdocs.observed.store import PUBLISHED_STATUS as STATUS_FILE
from labdocs.observed.store import PUBLISHED_TARGET

from labdocs.model.errors import DataError, DataInvalid
from labdocs.paths import ROOT

CHARTS = {"decode_tokens_per_s": "Decode speed (tokens/s)", "ttft_s": "Time to first token (s)"}
COLORS = {"up": "#2e7d32", "drift": "#ef6c00", "down": "#c62828"}
GREY = "#757575"
NOT_PROBED = "not probed yet"
# A CI run's address, shown as a link: nothing that could end the Markdown link or start markup.
RUN_URL = re.compile(r"https?://[^\s()<>\[\]\"'`|]+")
ISO = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")


def _refuse(file: str, line: int | None, key: str, message: str, hint: str) -> DataInvalid:
    return DataInvalid([DataError(file, line, key, message, hint)])


_LAB_HINT = ("the published status holds probes of the real hosts only (`make status TARGET=live`); "
             "a lab probe writes test-results/status/. Remove the file (git rm) or restore the live one")


def observations(root: Path = ROOT) -> tuple[dict | None, list[dict]]:
    """The last live probe and the live history; raises DataInvalid if data/ holds anything else."""
    from labdocs.observed.store import load_history, load_status

    try:
        status = load_status(root / STATUS_FILE)
    except ValueError as exc:
        raise _refuse(STATUS_FILE, None, "", f"not JSON: {exc}", "restore it from git, or remove it") from None
    if status is not None:
        if status.get("target") != PUBLISHED_TARGET:
            raise _refuse(STATUS_FILE, None, "target", f"{status.get('target')!r} is not {PUBLISHED_TARGET!r}",
                          _LAB_HINT)
        if not ISO.fullmatch(str(status.get("checked_at"))):
            raise _refuse(STATUS_FILE, None, "checked_at", f"{status.get('checked_at')!r} is not a UTC time "
                          "like 2026-12-02T03:00:00Z", "write it with `make status TARGET=live`")
        run_url = status.get("run_url")
        if run_url is not None and not RUN_URL.fullmatch(str(run_url)):
            raise _refuse(STATUS_FILE, None, "run_url", f"{run_url!r} is not a plain http(s) address",
                          "the scheduled job sets LABDOCS_RUN_URL to its run's page")
    history = load_history(root / HISTORY_FILE)
    for number, entry in enumerate(history, start=1):
        if entry.get("target") != PUBLISHED_TARGET:
            raise _refuse(HISTORY_FILE, number, "target", f"{entry.get('target')!r} is not {PUBLISHED_TARGET!r}",
                          _LAB_HINT)
    return status, history


def observed_at(status: dict | None, key: str) -> str | None:
    """When `key` was last observed (its probe's start, else the run's), or None if never."""
    record = (status or {}).get("systems", {}).get(key)
    if not record:
        return None
    started = record.get("started_at")
    return started if ISO.fullmatch(str(started)) else status["checked_at"]


def shown_time(iso: str) -> str:
    """2026-12-02T03:00:05Z -> 2026-12-02 03:00 UTC"""
    return f"{iso[:10]} {iso[11:16]} UTC"


def badge_svg(label: str, value: str, color: str, title: str) -> str:
    """A flat two-part badge, like the ones CI services draw; plain SVG, no script."""
    lw, vw = 7 * len(label) + 12, 7 * len(value) + 12
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{lw + vw}" height="20" role="img" '
            f'aria-label="{escape(title)}"><title>{escape(title)}</title>'
            f'<rect width="{lw}" height="20" fill="#555"/><rect x="{lw}" width="{vw}" height="20" fill="{color}"/>'
            f'<g fill="#fff" font-family="Verdana,DejaVu Sans,sans-serif" font-size="11" text-anchor="middle">'
            f'<text x="{lw / 2}" y="14">{escape(label)}</text><text x="{lw + vw / 2}" y="14">{escape(value)}</text>'
            f'</g></svg>\n')


def system_badge(key: str, status: dict | None) -> str:
    record = (status or {}).get("systems", {}).get(key)
    if not record:
        return badge_svg(key, NOT_PROBED, GREY, f"{key}: {NOT_PROBED} (no probe of the real host recorded)")
    verdict, when = str(record.get("verdict")), observed_at(status, key)
    return badge_svg(key, f"{verdict}, {shown_time(when)}", COLORS.get(verdict, GREY),
                     f"{key}: {verdict}, observed {when}")


def outputs(data, root: Path = ROOT) -> tuple[dict[str, str], dict | None]:
    """charts/*.svg for the generator, {path: (the file it is drawn from, svg)} (the generator adds the
    marker), and the last live status for the STATUS template."""
    from labdocs.observed.chart import svg_history

    status, history = observations(root)
    files = {f"charts/badge-{key}.svg": (STATUS_FILE, system_badge(key, status)) for key in data.systems}
    if history:
        for metric, title in CHARTS.items():
            files[f"charts/{metric}.svg"] = (HISTORY_FILE, svg_history(history, metric, title=title))
    return files, status


STATUS_MODULE = "labdocs/observed/status.py"     # what renders the charts, as their marker names it
