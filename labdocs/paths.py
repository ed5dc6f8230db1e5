"""The repository root and the fixed paths under it, defined once (the bottom layer: imports nothing)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

# The checkout whose code runs. The site is the exception: it reads the checkout of its mkdocs.yml
# (env.project_dir, config.config_file_path), so a copy of the repository builds its own data.
ROOT = Path(__file__).resolve().parent.parent
DATA_FILE = Path("data") / "systems.yaml"   # relative to a checkout
DEFAULT_DATA = ROOT / DATA_FILE


def write_atomic(path: Path | str, text: str, check: Callable[[Path], object] | None = None) -> None:
    """Write text to path so that readers see the old file or the new one, never a part: a temp file in
    the same directory, flushed and fsynced, then os.replace (atomic on POSIX). `check(temp path)` runs
    before the replace; if it raises, the old file stays and the temp file is removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        if check is not None:
            check(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
