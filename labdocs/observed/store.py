"""data/status.json (the last run, written atomically) and data/status-history.jsonl (one line per run,
bounded), and the readers the renderer uses.

Only probes of the real hosts (target "live") are published there: the site, STATUS.md and the badges
read those two files. A lab probe writes the same two files under test-results/status/ (never committed),
and the probe refuses to write a lab run to the published paths.

status.json:  {"checked_at": ISO-8601 UTC, "target": "lab"|"live", "systems": {key: record}}
history line: {"checked_at", "target", "systems": {key: {verdict, drift, health_latency_ms, ttft_s,
               decode_tokens_per_s, measured_pct_of_ceiling, tool_format, served_model, version}}}
"""

from __future__ import annotations

import json
from pathlib import Path

from labdocs.paths import write_atomic

HISTORY_KEEP = 500
PUBLISHED_STATUS = "data/status.json"             # relative to the repository root
PUBLISHED_HISTORY = "data/status-history.jsonl"
LAB_RESULTS = "test-results/status"               # a lab probe's status.json and history
PUBLISHED_TARGET = "live"


def default_paths(root: Path, target: str) -> tuple[Path, Path]:
    """Where a probe of `target` writes its status document and history."""
    if target == PUBLISHED_TARGET:
        return root / PUBLISHED_STATUS, root / PUBLISHED_HISTORY
    base = root / LAB_RESULTS
    return base / "status.json", base / "status-history.jsonl"


def is_published(root: Path, path: Path) -> bool:
    """Whether `path` is one of the published files (links and relative paths resolved)."""
    resolved = Path(path).resolve()
    return any(resolved == (root / p).resolve() for p in (PUBLISHED_STATUS, PUBLISHED_HISTORY))



def write_status(path: Path | str, status: dict) -> None:
    write_atomic(path, json.dumps(status, indent=2, ensure_ascii=False) + "\n")


def load_status(path: Path | str) -> dict | None:
    """The last run's document, or None if there is none yet."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None


def history_entry(status: dict) -> dict:
    """The compact line a run adds to the history."""
    systems = {}
    for key, rec in status.get("systems", {}).items():
        checks = rec.get("checks", {})
        speed = checks.get("speed") or {}
        models = checks.get("models") or {}
        systems[key] = {
            "verdict": rec.get("verdict"),
            "drift": [d["kind"] for d in rec.get("drift", [])],
            "health_latency_ms": (checks.get("health") or {}).get("latency_ms"),
            "ttft_s": speed.get("ttft_s"),
            "decode_tokens_per_s": speed.get("decode_tokens_per_s"),
            "measured_pct_of_ceiling": speed.get("measured_pct_of_ceiling"),
            "tool_format": (checks.get("tool_format") or {}).get("status"),
            "served_model": (models.get("served") or [None])[0],
            "version": (checks.get("version") or {}).get("version"),
        }
    return {"checked_at": status.get("checked_at"), "target": status.get("target"), "systems": systems}


def append_history(path: Path | str, status: dict, keep: int = HISTORY_KEEP) -> int:
    """Add this run's line, keep only the last `keep` lines (the file is rewritten atomically).
    Returns the number of lines kept."""
    path = Path(path)
    lines = []
    if path.exists():
        lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    lines.append(json.dumps(history_entry(status), separators=(",", ":"), ensure_ascii=False))
    lines = lines[-keep:] if keep > 0 else []
    write_atomic(path, "".join(line + "\n" for line in lines))
    return len(lines)


def load_history(path: Path | str, target: str | None = None) -> list[dict]:
    """History entries, oldest first (unreadable lines skipped); only one target's if given."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    out = []
    for line in text.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and (target is None or entry.get("target") == target):
            out.append(entry)
    return out
