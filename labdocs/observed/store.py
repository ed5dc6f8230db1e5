"""data/status.json (the last run, written atomically) and data/status-history.jsonl (one line per run,
bounded), and the readers the renderer uses.

Only probes of the real hosts (target "live") are published there: the site, STATUS.md and the badges
read those two files. A lab probe writes the same two files under test-results/status/ (never committed),
and the probe refuses to write a lab run to the published paths.

status.json:  Status, history line: HistoryLine (labdocs/observed/records.py).
"""

from __future__ import annotations

from pathlib import Path

from labdocs.observed.records import HistoryLine, Status
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



def write_status(path: Path | str, status: Status) -> None:
    status.write(path)


def load_status(path: Path | str) -> Status | None:
    """The last run's document, or None if there is none yet; StatusInvalid names a malformed one."""
    return Status.load(path)


def history_entry(status: Status) -> HistoryLine:
    """The compact line a run adds to the history."""
    return HistoryLine.of(status)


def append_history(path: Path | str, status: Status, keep: int = HISTORY_KEEP) -> int:
    """Add this run's line, keep only the last `keep` lines (the file is rewritten atomically; older
    lines are kept as written). Returns the number of lines kept."""
    path = Path(path)
    lines = []
    if path.exists():
        lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    lines.append(history_entry(status).line())
    lines = lines[-keep:] if keep > 0 else []
    write_atomic(path, "".join(line + "\n" for line in lines))
    return len(lines)


def load_history(path: Path | str, target: str | None = None) -> list[HistoryLine]:
    """History entries, oldest first (lines that are not JSON skipped, malformed ones refused with
    StatusInvalid); only one target's if given."""
    return [e for e in HistoryLine.load_all(path) if target is None or e.target == target]
