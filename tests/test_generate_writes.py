"""`generate` writes the whole set or nothing: a failed write (full disk, size limit, read-only
folder), an interrupt or a failure midway leaves the previous tree as it was and says why; two runs
at once take turns; what an interrupted run left behind is cleaned up.

The tree is always a real folder: the failure is injected in-process (os.replace / os.write) where a
real one cannot be placed at an exact step, and is real elsewhere: RLIMIT_FSIZE (the kernel refuses
the write with EFBIG) and `chattr +i` (tests run as root, where chmod does not stop writes; an
immutable folder does).
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import ROOT
from labdocs.render import generate
from labdocs.model.loader import load

OLD_DATA = ROOT / "data" / "systems.yaml"                   # pegasus, stella
NEW_DATA = ROOT / "data" / "examples" / "two-node.yaml"      # orion: new files, and stale ones to remove


def digest(root: Path) -> dict[str, str]:
    """Every file and folder under root (hidden ones too) -> a hash of its content."""
    out = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()[:16] if path.is_file() else "dir"
    return out


@pytest.fixture(scope="module")
def generated_once(tmp_path_factory) -> Path:
    """The generated tree of OLD_DATA, as the command line writes it (once per module: ~0.7 s each time)."""
    folder = tmp_path_factory.mktemp("generated") / "out"
    folder.mkdir()
    result = cli_generate(OLD_DATA, folder)
    assert result.returncode == 0, result.stderr
    return folder


@pytest.fixture
def out(tmp_path: Path, generated_once: Path) -> Path:
    """An output folder holding the generated tree of OLD_DATA: a copy of every file and folder, hidden ones too."""
    folder = tmp_path / "out"
    shutil.copytree(generated_once, folder, symlinks=True)
    assert digest(folder) == digest(generated_once)
    return folder


def new_plan(out: Path) -> generate.Plan:
    p = generate.plan(NEW_DATA, out, load(NEW_DATA))
    assert len(p.changed) > 10 and p.stale, "the change must write many files and remove some"
    return p


def failing_at(n: int, exc: BaseException, real):
    calls = {"n": 0}

    def replace(src, dst, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == n:
            raise exc
        return real(src, dst, *args, **kwargs)
    return replace


@pytest.mark.parametrize("exc", [KeyboardInterrupt(), OSError(errno.ENOSPC, "No space left on device"),
                                 OSError(errno.EROFS, "Read-only file system")], ids=lambda e: type(e).__name__ + str(getattr(e, "errno", "")))
@pytest.mark.parametrize("step", [1, 2, 7, 15, -1])
def test_failure_midway_restores_the_previous_tree(out: Path, monkeypatch, step: int, exc: BaseException):
    """The swap fails at its first, second, ... last os.replace: every file is the previous one again."""
    before = digest(out)
    p = new_plan(out)
    replaces = len(p.changed) + len(p.stale)
    monkeypatch.setattr(os, "replace", failing_at(replaces if step == -1 else step, exc, os.replace))
    with pytest.raises((KeyboardInterrupt, generate.GenerateError)) as caught:
        with generate.locked(out):
            generate.apply(p)
    monkeypatch.undo()
    assert digest(out) == before
    if isinstance(exc, OSError):
        assert "nothing was changed, the previous files are in place" in str(caught.value)


def test_full_disk_while_staging_changes_nothing(out: Path, monkeypatch):
    """ENOSPC from os.write after a few files: a clear message, the tree untouched."""
    before = digest(out)
    p = new_plan(out)
    real, calls = os.write, {"n": 0}

    def write(fd, data):
        calls["n"] += 1
        if calls["n"] > 5:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(fd, data)
    monkeypatch.setattr(os, "write", write)
    with pytest.raises(generate.GenerateError) as caught:
        with generate.locked(out):
            generate.apply(p)
    monkeypatch.undo()
    assert "No space left on device" in str(caught.value) and "free some disk space" in str(caught.value)
    assert digest(out) == before


def cli_generate(data: Path, out: Path, preexec=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "labdocs.render", "generate", "--data", str(data), "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120, preexec_fn=preexec)


def test_file_size_limit_is_a_clear_error_and_changes_nothing(out: Path):
    """A real write failure: RLIMIT_FSIZE makes the kernel refuse writes past 2 KB (EFBIG; SIGXFSZ
    ignored so the write fails instead of killing the process)."""
    before = digest(out)

    def limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (2048, 2048))
    result = cli_generate(NEW_DATA, out, limit)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert "File too large" in result.stderr and "nothing was changed" in result.stderr, result.stderr
    assert "\n  hint: " in result.stderr
    assert digest(out) == before


def test_read_only_folder_is_a_clear_error_and_changes_nothing(out: Path):
    """An immutable system folder (chattr +i: even root cannot add, replace or remove its files)."""
    if not shutil.which("chattr"):
        pytest.skip("chattr (e2fsprogs) is not installed: cannot make a folder read-only for root")
    folder = out / "systems" / "stella"
    made = subprocess.run(["chattr", "+i", str(folder)], capture_output=True, text=True)
    if made.returncode != 0:
        pytest.skip(f"this file system has no immutable attribute: {made.stderr.strip()}")
    try:
        before = digest(out)
        result = cli_generate(NEW_DATA, out)
        after = digest(out)
    finally:
        subprocess.run(["chattr", "-i", str(folder)], check=True)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert "Operation not permitted" in result.stderr and "nothing was changed" in result.stderr, result.stderr
    assert after == before


def test_leftovers_of_an_interrupted_run_are_cleaned(out: Path):
    staging = out / (generate.STAGING_PREFIX + "dead1234")
    (staging / "new" / "systems").mkdir(parents=True)
    (staging / "new" / "STATUS.md").write_text("half\n")
    empty_tmp = out / "systems" / "stella" / ".README.md.k3j4h5.tmp"
    empty_tmp.write_text("")
    result = cli_generate(OLD_DATA, out)
    assert result.returncode == 0, result.stderr
    assert not staging.exists() and not empty_tmp.exists()
    assert "removed systems/stella/.README.md.k3j4h5.tmp (left by an interrupted run)" in result.stdout


def test_two_runs_take_turns(out: Path):
    """While another run holds the lock, generate waits and writes nothing; then it runs."""
    before = digest(out)
    fd = os.open(out, os.O_RDONLY | os.O_DIRECTORY)
    fcntl.flock(fd, fcntl.LOCK_EX)
    proc = subprocess.Popen([sys.executable, "-m", "labdocs.render", "generate", "--data", str(NEW_DATA), "--out", str(out)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and proc.poll() is None and digest(out) == before:
            time.sleep(0.5)
            if time.monotonic() > deadline - 27:     # 3 s: long past its start-up (0.3 s of CPU)
                break
        assert proc.poll() is None, proc.communicate()
        assert digest(out) == before
    finally:
        os.close(fd)                                  # (releases the lock)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr
    assert "systems/orion/README.md" in digest(out) and "systems/stella/README.md" not in digest(out)
