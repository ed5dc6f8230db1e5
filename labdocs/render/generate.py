"""Write the generated files as one set, or check them for drift without writing anything.

Everything is rendered in memory first, so invalid data never leaves a half-written tree. `apply`
then holds a lock on the output folder (two runs at once cannot mix their trees), writes every
changed file into a staging folder next to the outputs, and only when all of them are written swaps
them in, one `os.replace` each, keeping the previous files as hard links in the staging folder. If a
write or a swap fails (a full disk, a read-only file, Ctrl-C), the swapped files are put back, so the
tree is the previous one, and the error says why. The outputs are spread over the repository
(systems/, STATUS.md, charts/, clients/, workflows), so no single rename can swap them all; restoring
is the next best thing. A run killed outright (SIGKILL) mid-swap can leave a mix, which the next run
repairs, since it rewrites every file that differs; its staging folder is removed by the next run.
"""

from __future__ import annotations

import contextlib
import difflib
import errno
import fcntl
import os
import shutil
import signal
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from labdocs.model.loader import load
from labdocs.paths import DEFAULT_DATA, ROOT
from labdocs.model import overlay
from labdocs.render import migration
from labdocs.render.marker import is_generated, marker
from labdocs.render.views import render_all, source_name
from labdocs.model.schema import FORGES, LabData

STAGING_PREFIX = ".generate-staging."
LOCK_WAIT_S = 120


class GenerateError(Exception):
    """Writing failed; the previous files are in place. `hint` says what to do about it."""

    def __init__(self, message: str, hint: str):
        super().__init__(message)
        self.message, self.hint = message, hint

    def __str__(self) -> str:
        return f"{self.message}\n  hint: {self.hint}"


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
    workflows = [path for folder, _ in FORGES.values() for path in (out_root / folder).glob("*.yml")]
    for path in [*(out_root / "systems").glob("*/*"), *(out_root / "charts").glob("*.svg"), *workflows,
                 *(out_root / "docs-site").glob("*"), *(out_root / "data" / "examples").glob("*.yaml")]:
        if path.is_file() or path.name.startswith("."):
            try:
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                continue
            if is_generated(text):
                owned.add(path.relative_to(out_root).as_posix())
    return owned


def plan(data_path: Path = DEFAULT_DATA, out_root: Path = ROOT, data: LabData | None = None) -> Plan:
    """What generation would write; `data` saves a second parse when the caller already loaded it."""
    data = data if data is not None else load(data_path)
    files = render_all(data, source_name(data_path))
    if Path(data_path).resolve() == DEFAULT_DATA.resolve():    # the examples build on the lab's data only
        base = source_name(data_path)
        files.update(overlay.examples(DEFAULT_DATA.read_text(encoding="utf-8"), base,
                                      lambda name: marker(base, f"overlay {name}", "hash")))
        files.update(migration.example_page(ROOT, data, base))
    result = Plan(out_root, files)
    for rel, text in files.items():
        try:
            same = (out_root / rel).read_text(encoding="utf-8") == text
        except (OSError, UnicodeDecodeError):   # missing (or removed meanwhile), unreadable: write it
            same = False
        if not same:
            result.changed.append(rel)
    result.stale = sorted(_owned_files(out_root) - set(files))
    return result


def diff(p: Plan) -> str:
    chunks = []
    for rel in p.changed:
        target = p.out_root / rel
        try:
            old = target.read_text(encoding="utf-8").splitlines(keepends=True)
        except (OSError, UnicodeDecodeError):
            old = []
        new = p.files[rel].splitlines(keepends=True)
        chunks.append("".join(difflib.unified_diff(old, new, f"a/{rel}", f"b/{rel}")))
    for rel in p.stale:
        chunks.append(f"only on disk (no longer generated): {rel}\n")
    return "".join(chunks)


@contextlib.contextmanager
def locked(out_root: Path, wait_s: float = LOCK_WAIT_S):
    """Hold the output folder's lock (flock on the folder itself: no lock file to leave behind)."""
    try:
        out_root.mkdir(parents=True, exist_ok=True)
        fd = os.open(out_root, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as exc:
        raise GenerateError(f"{out_root}: cannot open the output folder: {exc.strerror or exc}",
                            "pass an existing, writable folder with --out") from None
    try:
        deadline = time.monotonic() + wait_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise GenerateError(f"{out_root}: another `generate` has held the lock for {wait_s:g} s",
                                        "wait for it to finish (or stop it), then run again") from None
                time.sleep(0.1)
        yield
    finally:
        os.close(fd)        # (closing releases the lock)


def clean_stale(p: Plan) -> list[str]:
    """Staging folders and temporary files an interrupted or killed run left (we hold the lock, so
    no other run owns them)."""
    removed = []
    for staging in p.out_root.glob(STAGING_PREFIX + "*"):
        shutil.rmtree(staging, ignore_errors=True)
        removed.append(staging.name)
    for folder in {(p.out_root / rel).parent for rel in [*p.files, *p.stale]}:
        for tmp in folder.glob(".*.tmp"):
            name = tmp.name[1:].rsplit(".", 2)[0]     # write_atomic's .NAME.RANDOM.tmp
            if (folder / name).relative_to(p.out_root).as_posix() in p.files:
                tmp.unlink(missing_ok=True)
                removed.append(tmp.relative_to(p.out_root).as_posix())
    return removed


def _write_new(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = text.encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)


def _why(exc: OSError, rel: str) -> GenerateError:
    hints = {errno.ENOSPC: "free some disk space", errno.EDQUOT: "free some disk space (quota)",
             errno.EFBIG: "a file size limit (ulimit -f) is in the way",
             errno.EROFS: "the file system is read-only", errno.EACCES: "check the permissions of the folder",
             errno.EPERM: "check the permissions and attributes (chattr) of the file and its folder"}
    hint = hints.get(exc.errno, "check the folder can be written")
    return GenerateError(f"cannot write {rel}: {exc.strerror or exc}; nothing was changed, the previous files are in place",
                         f"{hint}, then run `make generate` again")


def apply(p: Plan) -> list[str]:
    """Swap in every changed file and remove the stale ones, all or nothing (see the module's doc).
    Returns the stale temporary files it cleaned up. Call it inside `locked(p.out_root)`."""
    cleaned = clean_stale(p)
    staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=p.out_root))
    new, old = staging / "new", staging / "old"
    done: list[tuple[str, bool]] = []       # (rel, had a previous file)
    removed: list[str] = []
    made: list[Path] = []                   # folders made for new files, outermost first
    previous = signal.getsignal(signal.SIGTERM)
    with contextlib.suppress(ValueError):          # SIGTERM undoes like Ctrl-C (only the main thread may set it)
        signal.signal(signal.SIGTERM, signal.default_int_handler)
    rel = ""
    try:
        for rel in p.changed:                              # 1. every new file, beside the outputs
            _write_new(new / rel, p.files[rel])
        for rel in p.changed:                              # 2. swap, keeping the previous file
            target = p.out_root / rel
            existed = target.exists()
            if existed:
                (old / rel).parent.mkdir(parents=True, exist_ok=True)
                try:
                    os.link(target, old / rel)
                except OSError:                            # (no hard links here: a copy does)
                    shutil.copy2(target, old / rel)
            missing = [d for d in (target.parent, *target.parent.parents) if not d.exists()]
            target.parent.mkdir(parents=True, exist_ok=True)
            made.extend(reversed(missing))
            os.replace(new / rel, target)
            done.append((rel, existed))
        for rel in p.stale:
            (old / rel).parent.mkdir(parents=True, exist_ok=True)
            os.replace(p.out_root / rel, old / rel)
            removed.append(rel)
    except BaseException as exc:
        lost = _restore(p.out_root, old, done, removed)
        for folder in reversed(made):
            with contextlib.suppress(OSError):
                folder.rmdir()
        if lost:      # keep the staging folder: it holds the previous files that could not go back
            raise GenerateError(f"writing {rel} failed ({exc}) and {len(lost)} previous file(s) could not be put "
                                f"back: {', '.join(lost[:5])}", f"they are in {old}; copy them back by hand") from None
        shutil.rmtree(staging, ignore_errors=True)
        if isinstance(exc, OSError):
            raise _why(exc, rel) from None
        raise
    finally:
        with contextlib.suppress(ValueError, TypeError):
            signal.signal(signal.SIGTERM, previous)
    shutil.rmtree(staging, ignore_errors=True)
    for rel in p.stale:
        parent = (p.out_root / rel).parent
        with contextlib.suppress(OSError):
            if parent.is_dir() and not any(parent.iterdir()):
                parent.rmdir()
    return cleaned


def _restore(out_root: Path, old: Path, done: list[tuple[str, bool]], removed: list[str]) -> list[str]:
    """Undo a partial swap: previous files back, files that did not exist before removed. Returns
    the files it could not restore."""
    lost = []
    for rel in removed:
        try:
            os.replace(old / rel, out_root / rel)
        except OSError:
            lost.append(rel)
    for rel, existed in reversed(done):
        try:
            if existed:
                os.replace(old / rel, out_root / rel)
            else:
                (out_root / rel).unlink()
        except OSError:
            lost.append(rel)
    return lost
