"""The observed side of STATUS: the last probe (data/status.json), its history, charts and badges.

The probe (probe/) writes the observations; this module only reads them, so STATUS.md and the site
render from declared data plus the last observation, through the generator like every other file.
"""

from __future__ import annotations

from html import escape
from pathlib import Path

from .loader import ROOT

STATUS_FILE = "data/status.json"
HISTORY_FILE = "data/status-history.jsonl"
CHARTS = {"decode_tokens_per_s": "Decode speed (tokens/s)", "ttft_s": "Time to first token (s)"}
COLORS = {"up": "#2e7d32", "drift": "#ef6c00", "down": "#c62828", "unknown": "#757575"}


def observations(root: Path = ROOT) -> tuple[dict | None, list[dict]]:
    from probe.store import load_history, load_status

    status = load_status(root / STATUS_FILE)
    history = load_history(root / HISTORY_FILE, target=status["target"]) if status else []
    return status, history


def badge_svg(label: str, value: str) -> str:
    """A flat two-part badge, like the ones CI services draw; plain SVG, no script."""
    color = COLORS.get(value, COLORS["unknown"])
    lw, vw = 7 * len(label) + 12, 7 * len(value) + 12
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{lw + vw}" height="20" role="img" '
            f'aria-label="{escape(label)}: {escape(value)}"><title>{escape(label)}: {escape(value)}</title>'
            f'<rect width="{lw}" height="20" fill="#555"/><rect x="{lw}" width="{vw}" height="20" fill="{color}"/>'
            f'<g fill="#fff" font-family="Verdana,DejaVu Sans,sans-serif" font-size="11" text-anchor="middle">'
            f'<text x="{lw / 2}" y="14">{escape(label)}</text><text x="{lw + vw / 2}" y="14">{escape(value)}</text>'
            f'</g></svg>\n')


def outputs(data, root: Path = ROOT) -> tuple[dict[str, str], dict | None]:
    """charts/*.svg for the generator, and the last status for the STATUS template."""
    from probe.chart import svg_history

    status, history = observations(root)
    files = {}
    for key in data.systems:
        record = (status or {}).get("systems", {}).get(key)
        files[f"charts/badge-{key}.svg"] = MARK.format(STATUS_FILE) + badge_svg(key, record["verdict"] if record else "unknown")
    if history:
        for metric, title in CHARTS.items():
            files[f"charts/{metric}.svg"] = MARK.format(HISTORY_FILE) + svg_history(history, metric, title=title)
    return files, status


MARK = "<!-- DO NOT EDIT: generated from {} by `make generate` (macros/status.py); `make status` records a probe. -->\n"
