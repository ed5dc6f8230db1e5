"""README.md's code-layout table is made from the package tree (labdocs.docsite.layout): it fails here
when a package's docstring or the layers change without `python tools/code_layout.py`, and when a package
of labdocs is in no layer."""

from __future__ import annotations

import shutil
from pathlib import Path

from conftest import BIN, ROOT, run
from labdocs.docsite import layout

README = ROOT / "README.md"


def test_readme_table_is_the_package_tree():
    text = README.read_text(encoding="utf-8")
    assert layout.replace_section(text) == text, "README.md's code layout drifted: run `python tools/code_layout.py`"
    for shown, _ in layout.rows():
        assert f"| `{shown}` |" in text


def test_every_package_is_in_a_layer():
    assert layout.unlisted() == [], "add the package to pyproject.toml's layers contract (and its docstring)"


def _tree(tmp_path: Path) -> Path:
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    for module in layout.layers():
        rel = Path(*module.split("."))
        source = ROOT / rel / "__init__.py" if (ROOT / rel).is_dir() else ROOT / rel.with_suffix(".py")
        target = tmp_path / source.relative_to(ROOT)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(source, target)
    return tmp_path


def test_the_checks_see_a_change(tmp_path: Path):
    root = _tree(tmp_path)
    text = README.read_text(encoding="utf-8")
    init = root / "labdocs" / "model" / "__init__.py"
    init.write_text('"""Data model, renamed. More after the first sentence."""\n')
    changed = layout.replace_section(text, root)
    assert changed != text and "| `labdocs/model/` | Data model, renamed. |" in changed
    (root / "labdocs" / "newpkg").mkdir()
    (root / "labdocs" / "newpkg" / "__init__.py").write_text('"""New."""\n')
    assert layout.unlisted(root) == ["labdocs.newpkg"]


def test_the_tool_reports_drift_then_writes_the_table(tmp_path: Path):
    readme = tmp_path / "README.md"
    readme.write_text(README.read_text(encoding="utf-8").replace("| `labdocs/model/` |", "| `labdocs/modell/` |"))
    tool = [str(BIN / "python"), str(ROOT / "tools" / "code_layout.py"), "--readme", str(readme)]
    check = run([*tool, "--check"])
    assert check.returncode == 1 and "-| `labdocs/modell/` |" in check.stdout, check.stdout + check.stderr
    assert run(tool).returncode == 0
    assert readme.read_text(encoding="utf-8") == README.read_text(encoding="utf-8")
