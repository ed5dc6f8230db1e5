"""One broken data file per rule (tests/invalid/<rule>.yaml): each gives its own clear error, exits 2,
prints no traceback and leaves every generated file untouched. Its first line says the expected error."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from conftest import ROOT, macros_cli

INVALID = sorted((ROOT / "tests" / "invalid").glob("*.yaml"))


def tree_digest(root: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        if path.is_file():
            h.update(path.relative_to(root).as_posix().encode())
            h.update(path.read_bytes())
    return h.hexdigest()


def test_corpus_is_there():
    assert len(INVALID) >= 25


def test_valid_fixture_is_valid():
    result = macros_cli("validate", "--data", "tests/valid/systems.yaml")
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.stem)
def test_invalid_file_is_rejected_clearly(path: Path, repo_copy: Path):
    expected = path.read_text(encoding="utf-8").splitlines()[0].removeprefix("# expect: ")
    before = tree_digest(repo_copy / "systems"), (repo_copy / "STATUS.md").read_bytes()

    shown = path.relative_to(ROOT).as_posix()
    result = macros_cli("generate", "--data", shown, "--out", str(repo_copy))

    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    errors = [line for line in result.stderr.splitlines() if line.startswith(shown)]
    assert errors == [f"{shown}{expected}"], result.stderr
    assert "\n  hint: " in result.stderr, result.stderr
    assert "nothing was written" in result.stderr
    assert (tree_digest(repo_copy / "systems"), (repo_copy / "STATUS.md").read_bytes()) == before


def test_missing_data_file_is_a_clear_error(tmp_path: Path):
    result = macros_cli("validate", "--data", str(tmp_path / "nope.yaml"))
    assert result.returncode == 2
    assert "cannot read the data file" in result.stderr and "Traceback" not in result.stderr
