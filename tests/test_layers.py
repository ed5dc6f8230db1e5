"""The code's shape, enforced: imports point down the layers of pyproject.toml (import-linter), and ruff is clean.

`make lint` runs the same two tools.
"""

from __future__ import annotations

import shutil
import tomllib

from conftest import BIN, ROOT, run

CONFIG = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
LAYERS = next(c["layers"] for c in CONFIG["contracts"] if c["type"] == "layers")
LINT_IMPORTS = [str(BIN / "lint-imports"), "--no-cache", "--no-logo"]


def test_every_package_of_labdocs_sits_in_a_layer():
    # A package missing from the list would be free to import anything.
    parts = {f"labdocs.{p.stem}" for p in (ROOT / "labdocs").iterdir()
             if p.name != "__init__.py" and (p.suffix == ".py" or (p / "__init__.py").is_file())}
    assert parts == set(LAYERS), f"pyproject.toml [tool.importlinter] layers: {sorted(parts ^ set(LAYERS))}"


def test_the_import_contracts_hold():
    r = run(LINT_IMPORTS)
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"Contracts: {len(CONFIG['contracts'])} kept, 0 broken." in r.stdout, r.stdout


def test_a_reverse_import_breaks_the_contracts(tmp_path):
    # On a copy: lint-imports puts its working directory first on sys.path, so the copy is what it reads.
    for part in ("labdocs", "toolcalls"):
        shutil.copytree(ROOT / part, tmp_path / part, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    model = tmp_path / "labdocs" / "model" / "errors.py"
    model.write_text(model.read_text() + "\nimport labdocs.docsite.site  # the model reaching up to the site\n")
    line = len(model.read_text().splitlines())
    (tmp_path / "toolcalls" / "convert.py").write_text(
        (tmp_path / "toolcalls" / "convert.py").read_text() + "\nfrom labdocs.paths import ROOT\n")
    r = run(LINT_IMPORTS, cwd=tmp_path)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "Contracts: 0 kept, 2 broken." in r.stdout, r.stdout
    assert f"labdocs.model.errors -> labdocs.docsite.site (l.{line})" in r.stdout, r.stdout
    assert "toolcalls.convert -> labdocs.paths" in r.stdout, r.stdout


def test_ruff_is_clean():
    r = run([str(BIN / "ruff"), "check", "--no-cache", "--output-format", "concise", "."])
    assert r.returncode == 0, r.stdout + r.stderr
