"""A small self-contained SVG line chart of one metric over the probe history: one line per system.

No script, no external files, no fonts beyond the page's. Text and axes use currentColor, so the chart
takes the surrounding text colour in light and dark themes; the series colours are mid-tones that read
on both. Runs where a system had no value (down, not measured) break its line.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timezone
from html import escape

from labdocs.observed.records import HistoryLine

METRICS = {
    "decode_tokens_per_s": ("Decode speed", "tok/s"),
    "ttft_s": ("Time to first token", "s"),
    "health_latency_ms": ("/health latency", "ms"),
    "measured_pct_of_ceiling": ("Decode speed", "% of bandwidth ceiling"),
}
PALETTE = ["#4e79a7", "#f28e2b", "#e15759", "#59a14f", "#b07aa1", "#76b7b2", "#edc948", "#ff9da7"]

W, H = 640, 300
ISO = "%Y-%m-%dT%H:%M:%SZ"
LEFT, RIGHT, TOP, BOTTOM = 64, 132, 36, 48


def _time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=timezone.utc)


def _nice_step(span: float, ticks: int = 4) -> float:
    raw = span / ticks if span > 0 else 1.0
    mag = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 2.5, 5, 10):
        if raw <= m * mag:
            return m * mag
    return 10 * mag


def _num(v: float) -> str:
    if v == 0:
        return "0"
    if abs(v) >= 100:
        return f"{v:.0f}"
    if abs(v) >= 10:
        return f"{v:.1f}".rstrip("0").rstrip(".")
    return f"{v:.2f}".rstrip("0").rstrip(".")


def series(history: list[HistoryLine], metric: str) -> dict[str, list[tuple[datetime, float | None]]]:
    """system -> [(time, value or None)] in time order, for every run that has the system."""
    out: dict[str, list[tuple[datetime, float | None]]] = {}
    for entry in history:
        t = _time(entry.checked_at)
        if t is None:
            continue
        for key, rec in entry.systems.items():
            value = getattr(rec, metric, None)
            ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
            out.setdefault(key, []).append((t, float(value) if ok else None))
    for points in out.values():
        points.sort(key=lambda p: p[0])
    return out


X0, X1, Y0, Y1 = LEFT, W - RIGHT, H - BOTTOM, TOP       # the plot area: left, right, bottom, top


def svg_history(history: list[HistoryLine], metric: str, *, title: str | None = None) -> str:
    """An SVG document (a string) charting `metric` (a key of METRICS, or any numeric field of the
    history's per-system entries) over time."""
    label, unit = METRICS.get(metric, (metric, ""))
    if title is None:
        title = f"{label} ({unit})" if unit else label
    data = series(history, metric)
    values = [v for pts in data.values() for _, v in pts if v is not None]
    times = [t for pts in data.values() for t, _ in pts]
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" width="{W}" height="{H}" '
        f'role="img" aria-label="{escape(title)}" font-family="system-ui, sans-serif" font-size="12">',
        f"<title>{escape(title)}</title>",
        f'<text x="{LEFT}" y="20" fill="currentColor" font-size="14" font-weight="600">{escape(title)}</text>',
    ]
    # When it was observed, on the chart itself: an image shown alone must still say how old it is.
    if times:
        last = max(times)
        parts.append(f'<text x="{W - 8}" y="20" fill="currentColor" text-anchor="end" opacity="0.8" '
                     f'data-observed="{last.strftime(ISO)}">last observed {last.strftime("%Y-%m-%d %H:%M")} UTC</text>')
    if not values:
        parts.append(f'<text x="{(X0 + X1) / 2}" y="{(Y0 + Y1) / 2}" fill="currentColor" text-anchor="middle" '
                     f'opacity="0.7">no measurements yet</text>')
        parts.append(_axes(X0, X1, Y0, Y1))
        parts.append("</svg>")
        return "\n".join(parts) + "\n"
    scale = _Scale.of(times, values)
    parts += scale.y_grid() + scale.x_labels(len(set(times)) > 1)
    parts.append(_axes(X0, X1, Y0, Y1))
    parts.append(f'<text x="{(X0 + X1) / 2}" y="{H - 8}" fill="currentColor" text-anchor="middle" '
                 f'opacity="0.8">time (UTC)</text>')
    parts.append(f'<text transform="translate(14 {(Y0 + Y1) / 2}) rotate(-90)" fill="currentColor" '
                 f'text-anchor="middle" opacity="0.8">{escape(unit or label)}</text>')
    for i, (key, points) in enumerate(data.items()):
        parts += _series(i, key, points, scale)
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


@dataclass(frozen=True)
class _Scale:
    """Time and value to chart coordinates."""

    tmin: datetime
    span_s: float
    step: float          # between grid lines
    vmax: float          # the top grid line

    @classmethod
    def of(cls, times: list[datetime], values: list[float]) -> _Scale:
        tmin, tmax = min(times), max(times)
        span_s = (tmax - tmin).total_seconds()
        if span_s <= 0:       # one run: centre it in an hour
            span_s = 3600.0
            tmin = datetime.fromtimestamp(tmin.timestamp() - span_s / 2, tz=timezone.utc)
        step = _nice_step(max(values))
        vmax = step * math.ceil(max(values) / step) if max(values) > 0 else 1.0
        return cls(tmin, span_s, step, vmax if vmax > 0 else 1.0)

    def px(self, t: datetime) -> float:
        return round(X0 + (t.timestamp() - self.tmin.timestamp()) / self.span_s * (X1 - X0), 1)

    def py(self, v: float) -> float:
        return round(Y0 - v / self.vmax * (Y0 - Y1), 1)

    def y_grid(self) -> list[str]:
        """Grid lines and value labels."""
        parts, v = [], 0.0
        while v <= self.vmax + self.step / 1000:
            y = self.py(v)
            parts.append(f'<line x1="{X0}" y1="{y}" x2="{X1}" y2="{y}" stroke="currentColor" stroke-opacity="0.15"/>')
            parts.append(f'<text x="{X0 - 6}" y="{y + 4}" fill="currentColor" text-anchor="end">{_num(v)}</text>')
            v += self.step
        return parts

    def x_labels(self, several_times: bool) -> list[str]:
        """Up to 5 evenly spaced times."""
        n = 5 if self.span_s > 0 and several_times else 1
        fmt = "%Y-%m-%d" if self.span_s >= 3 * 86400 else "%m-%d %H:%M"
        parts = []
        for i in range(n):
            ts = self.tmin.timestamp() + self.span_s * (i / (n - 1) if n > 1 else 0.5)
            t = datetime.fromtimestamp(ts, tz=timezone.utc)
            x = self.px(t)
            parts.append(f'<line x1="{x}" y1="{Y0}" x2="{x}" y2="{Y0 + 4}" stroke="currentColor"/>')
            parts.append(f'<text x="{x}" y="{Y0 + 18}" fill="currentColor" text-anchor="middle">{t.strftime(fmt)}</text>')
        return parts


def _series(i: int, key: str, points: list[tuple[datetime, float | None]], scale: _Scale) -> list[str]:
    """One system's line (broken where it has no value) and its legend entry."""
    color = PALETTE[i % len(PALETTE)]
    runs: list[list[tuple[float, float]]] = [[]]
    for t, val in points:
        if val is None:
            if runs[-1]:
                runs.append([])
            continue
        runs[-1].append((scale.px(t), scale.py(val)))
    parts = [f'<g class="series" data-system="{escape(key)}">']
    for run in runs:
        if len(run) > 1:
            pts = " ".join(f"{x},{y}" for x, y in run)
            parts.append(f'<polyline points="{pts}" fill="none" stroke="{color}" stroke-width="2" '
                         f'stroke-linejoin="round"/>')
        for x, y in run:
            parts.append(f'<circle cx="{x}" cy="{y}" r="2.5" fill="{color}"/>')
    parts.append("</g>")
    ly = Y1 + 8 + i * 18
    last = next((val for _, val in reversed(points) if val is not None), None)
    text = escape(key) + (f" ({_num(last)})" if last is not None else "")
    parts.append(f'<line x1="{X1 + 14}" y1="{ly}" x2="{X1 + 34}" y2="{ly}" stroke="{color}" stroke-width="3"/>')
    parts.append(f'<text x="{X1 + 40}" y="{ly + 4}" fill="currentColor">{text}</text>')
    return parts


def _axes(x0: float, x1: float, y0: float, y1: float) -> str:
    return (f'<path d="M{x0},{y1} V{y0} H{x1}" fill="none" stroke="currentColor" stroke-width="1"/>')
