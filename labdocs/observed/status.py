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
from dataclasses import dataclass
from html import escape
from pathlib import Path

from labdocs.observed.store import PUBLISHED_HISTORY as HISTORY_FILE
from labdocs.observed.store import PUBLISHED_STATUS as STATUS_FILE
from labdocs.observed.store import PUBLISHED_TARGET

from labdocs.model.ceiling import describe_speed
from labdocs.model.errors import DataError, DataInvalid
from labdocs.observed.chart import svg_history
from labdocs.observed.records import FORMAT, HistoryLine, Status, StatusInvalid, SystemRecord
from labdocs.observed.store import load_history, load_status
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


def observations(root: Path = ROOT) -> tuple[Status | None, list[HistoryLine]]:
    """The last live probe and the live history; raises DataInvalid if data/ holds anything else."""
    try:
        status = load_status(root / STATUS_FILE)
        history = load_history(root / HISTORY_FILE)
    except StatusInvalid as exc:
        raise _refuse(exc.path.removeprefix(f"{root}/"), exc.line, exc.key, exc.why,
                      f"it does not follow {FORMAT}: restore it from git, or remove it") from None
    if status is not None:
        if status.target != PUBLISHED_TARGET:
            raise _refuse(STATUS_FILE, None, "target", f"{status.target!r} is not {PUBLISHED_TARGET!r}", _LAB_HINT)
        if not ISO.fullmatch(status.checked_at):
            raise _refuse(STATUS_FILE, None, "checked_at", f"{status.checked_at!r} is not a UTC time "
                          "like 2026-12-02T03:00:00Z", "write it with `make status TARGET=live`")
        if status.run_url is not None and not RUN_URL.fullmatch(status.run_url):
            raise _refuse(STATUS_FILE, None, "run_url", f"{status.run_url!r} is not a plain http(s) address",
                          "the scheduled job sets LABDOCS_RUN_URL to its run's page")
    for number, entry in enumerate(history, start=1):
        if entry.target != PUBLISHED_TARGET:
            raise _refuse(HISTORY_FILE, number, "target", f"{entry.target!r} is not {PUBLISHED_TARGET!r}",
                          _LAB_HINT)
    return status, history


def observed_at(status: Status | None, key: str) -> str | None:
    """When `key` was last observed (its probe's start, else the run's), or None if never."""
    record = status.systems.get(key) if status else None
    if not record:
        return None
    started = record.started_at
    return started if ISO.fullmatch(str(started)) else status.checked_at


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


def system_badge(key: str, status: Status | None) -> str:
    record = status.systems.get(key) if status else None
    if not record:
        return badge_svg(key, NOT_PROBED, GREY, f"{key}: {NOT_PROBED} (no probe of the real host recorded)")
    verdict, when = str(record.verdict), observed_at(status, key)
    return badge_svg(key, f"{verdict}, {shown_time(when)}", COLORS.get(verdict, GREY),
                     f"{key}: {verdict}, observed {when}")


def outputs(data, root: Path = ROOT) -> tuple[dict[str, tuple[str, str]], Status | None]:
    """charts/*.svg for the generator, {path: (the file it is drawn from, svg)} (the generator adds the
    marker), and the last live status for the STATUS template."""
    status, history = observations(root)
    files = {f"charts/badge-{key}.svg": (STATUS_FILE, system_badge(key, status)) for key in data.systems}
    if history:
        for metric, title in CHARTS.items():
            files[f"charts/{metric}.svg"] = (HISTORY_FILE, svg_history(history, metric, title=title))
    return files, status


@dataclass(frozen=True)
class ObservedRow:
    """One system's row of STATUS.md's Observed table, every cell finished text."""

    key: str
    name: str
    probed: bool
    verdict: str = NOT_PROBED      # the badge's alt text
    model_id: str = NOT_PROBED
    context: str = ""
    ttft: str = ""
    decode: str = ""
    tool_calls: str = ""
    drift: str = ""

    @classmethod
    def of(cls, key: str, name: str, record: SystemRecord | None) -> ObservedRow:
        if record is None:
            return cls(key, name, probed=False)
        checks = record.checks
        models, speed = checks.models, checks.speed
        tool = checks.tool_format
        return cls(key, name, probed=True, verdict=str(record.verdict),
                   model_id=_match(models.id_match if models else None),
                   context=_match(models.context_match if models else None),
                   ttft="n/a" if speed is None or speed.ttft_s is None else f"{speed.ttft_s:.2f} s",
                   decode=(speed and (describe_speed(speed.decode_tokens_per_s, speed.measured_pct_of_ceiling)
                                      or speed.error)) or "n/a",
                   tool_calls=(tool and tool.status) or "n/a",
                   drift="; ".join(d.message.replace("|", "\\|") for d in record.drift) if record.drift else "none")


def _match(value: bool | None) -> str:
    return "matches" if value else "**differs**" if value is False else "not checked"


def observed_rows(data, status: Status | None) -> list[ObservedRow]:
    """The Observed table's rows, one per declared system, in the data's order."""
    systems = status.systems if status else {}
    return [ObservedRow.of(key, system.name, systems.get(key)) for key, system in data.systems.items()]


STATUS_MODULE = "labdocs/observed/status.py"     # what renders the charts, as their marker names it
