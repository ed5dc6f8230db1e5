"""Badges and charts say how old they are: stale observations are marked as stale.

The generated badges (charts/badge-KEY.svg) and charts carry the time they were observed, but whether
that is stale depends on when a reader looks, so it cannot live in a committed file. This hook gives
every badge and chart image on a page the time it shows (`data-observed`) and the data's threshold
(`data-stale-after-hours`, from probe.stale_after_hours); labdocs.js compares them with the reader's
clock on every page view. A page built when the observation was already stale says so without script
too (a "stale" note after the image), so a site that nobody rebuilds still cannot look fresh forever.
"""

from __future__ import annotations

import datetime as dt
import html
import re
from pathlib import Path

from labdocs.paths import DATA_FILE

from mkdocs.exceptions import PluginError

# <img ... src="../charts/badge-stella.svg" ...> (any depth of ../), or a chart.
_IMG = re.compile(r'<img\b[^>]*?\bsrc="(?:[^"]*/)?charts/(?:badge-(?P<key>[^"/.]+)|(?P<chart>[a-z_]+))\.svg"[^>]*>')
_state: dict = {}


def _time(iso: str) -> dt.datetime:
    return dt.datetime.fromisoformat(iso.replace("Z", "+00:00"))


def on_config(config):
    from labdocs.model.errors import DataInvalid
    from labdocs.model.loader import load
    from labdocs.observed.status import observations, observed_at

    root = Path(config.config_file_path).resolve().parent
    try:
        status, history = observations(root)
    except DataInvalid as exc:
        raise PluginError(str(exc)) from None
    data = load(root / DATA_FILE)
    _state["hours"] = data.probe.stale_after_hours
    _state["systems"] = {key: observed_at(status, key) for key in data.systems}
    _state["chart"] = max((e.checked_at for e in history if e.checked_at), default=None)
    _state["now"] = dt.datetime.now(dt.timezone.utc)
    return config


def note(observed: str, hours: float) -> str:
    """The visible mark after a stale image (labdocs.js writes the same one)."""
    when = html.escape(observed)
    return (f'<span class="labdocs-stale" title="observed {when}, more than {hours:g} hours ago">'
            f'stale</span>')


def _mark(match: re.Match) -> str:
    observed = _state["systems"].get(match["key"]) if match["key"] else _state["chart"]
    if not observed:
        return match[0]
    hours = _state["hours"]
    attrs = f' data-observed="{html.escape(observed)}" data-stale-after-hours="{hours:g}"'
    tag = match[0][:-1].rstrip("/") + attrs + ">"
    stale = _state["now"] - _time(observed) > dt.timedelta(hours=hours)
    return tag + note(observed, hours) if stale else tag


def on_page_content(content, page, config, files):
    return _IMG.sub(_mark, content)
