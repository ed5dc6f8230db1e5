"""Write the generated files (atomically), or check them for drift without writing anything.

Everything is rendered in memory first, so invalid data never leaves a half-written tree.
"""

from __future__ import annotations

import difflib
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from .loader import DEFAULT_DATA, ROOT, load
from .render import render_all, source_name
from .schema import LabData

MARKER = "DO NOT EDIT: generated from"


@dataclass
class Plan:
    out_root: Path
    files: dict[str, str]
    changed: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)

    @property
    def in_sync(self) -> bool:
        return not self.changed and not self.stale


def _owned_files(out_root: Path) -> set[str]:
    """Generated files already on disk (they carry the marker), to find ones left by a removed system
    or charts left without a history."""
    owned = set()
    for path in [*(out_root / "systems").glob("*/*"), *(out_root / "charts").glob("*.svg")]:
        if path.is_file() or path.name.startswith("."):
            try:
                head = path.read_text(encoding="utf-8")[:400]
            except (OSError, UnicodeDecodeError):
                continue
            if MARKER in head:
                owned.add(path.relative_to(out_root).as_posix())
    return owned


def plan(data_path: Path = DEFAULT_DATA, out_root: Path = ROOT, data: LabData | None = None) -> Plan:
    """What generation would write; `data` saves a second parse when the caller already loaded it."""
    data = data if data is not None else load(data_path)
    files = render_all(data, source_name(data_path))
    result = Plan(out_root, files)
    for rel, text in files.items():
        target = out_root / rel
        if not target.exists() or target.read_text(encoding="utf-8") != text:
            result.changed.append(rel)
    result.stale = sorted(_owned_files(out_root) - set(files))
    return result


def diff(p: Plan) -> str:
    chunks = []
    for rel in p.changed:
        target = p.out_root / rel
        old = target.read_text(encoding="utf-8").splitlines(keepends=True) if target.exists() else []
        new = p.files[rel].splitlines(keepends=True)
        chunks.append("".join(difflib.unified_diff(old, new, f"a/{rel}", f"b/{rel}")))
    for rel in p.stale:
        chunks.append(f"only on disk (no longer generated): {rel}\n")
    return "".join(chunks)


def write_atomic(target: Path, text: str) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def apply(p: Plan) -> None:
    for rel in p.changed:
        write_atomic(p.out_root / rel, p.files[rel])
    for rel in p.stale:
        (p.out_root / rel).unlink()
        parent = (p.out_root / rel).parent
        if parent.is_dir() and not any(parent.iterdir()):
            parent.rmdir()
