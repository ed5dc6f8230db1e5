"""Invalid data, one case per rule (tests/invalid_cases.py: data/systems.yaml with a small edit): each
gives its own clear error at the line the edit wrote, with a hint, exits 2 and writes nothing.

The cases run the command line's `main` in this process (one process start per case made this file take
half a minute); one case runs as a user runs it, to show the process exits 2 without a traceback."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from conftest import ROOT, macros_cli
from invalid_cases import CASES, Case, write
from labdocs.render.__main__ import main

BASE = (ROOT / "data" / "systems.yaml").read_text(encoding="utf-8")


def tree_digest(root: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        if path.is_file():
            h.update(path.relative_to(root).as_posix().encode())
            h.update(path.read_bytes())
    return h.hexdigest()


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Path:
    """Every file the base data generates: an invalid case must leave them as they are."""
    out = tmp_path_factory.mktemp("generated")
    assert main(["generate", "--out", str(out)]) == 0
    assert (out / "STATUS.md").is_file() and list(out.glob("systems/*/docker-compose.yml"))
    return out


def expected(case: Case, name: str, text: str, line: int) -> str:
    """`file:line[:column]: error`, the line and column read from the text written."""
    col = f":{text.splitlines()[line - 1].index(case.col) + 1}" if case.col else ""
    return f"{name}:{line}{col}: {case.error}"


def test_corpus_covers_the_rules():
    assert len(CASES) >= 50 and len({c.rule for c in CASES}) == len(CASES)


def test_base_is_valid():
    assert main(["validate"]) == 0


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.rule)
def test_invalid_data_is_rejected_clearly(case: Case, generated: Path, tmp_path: Path, monkeypatch, capsys):
    text, line = write(case, BASE)
    assert text != BASE
    name = f"{case.rule}.yaml"
    (tmp_path / name).write_text(text, encoding="utf-8")
    monkeypatch.chdir(tmp_path)          # errors name the file as it was given: relative to here
    before = tree_digest(generated)

    code = main(["generate", "--data", name, "--out", str(generated)])

    err = capsys.readouterr().err
    assert code == 2, err
    lines = err.splitlines()
    errors = [i for i, got in enumerate(lines) if got.startswith(f"{name}:")]
    assert [lines[i] for i in errors] == [expected(case, name, text, line)], err
    assert lines[errors[0] + 1].startswith("  hint: ") and lines[errors[0] + 1].strip() != "hint:", err
    assert "nothing was written" in err
    assert tree_digest(generated) == before


def test_command_line_exits_2_without_a_traceback(tmp_path: Path):
    case = next(c for c in CASES if c.rule == "port-out-of-range")
    text, line = write(case, BASE)
    path = tmp_path / "port.yaml"
    path.write_text(text, encoding="utf-8")
    result = macros_cli("validate", "--data", str(path))
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert f"{path}:{line}: {case.error}\n  hint: " in result.stderr


def test_missing_data_file_is_a_clear_error(tmp_path: Path):
    result = macros_cli("validate", "--data", str(tmp_path / "nope.yaml"))
    assert result.returncode == 2
    assert "cannot read the data file" in result.stderr and "Traceback" not in result.stderr
