"""The code's layout, read from the tree: every package of labdocs in its layer order (the import-linter
contract in pyproject.toml: each imports only those below it) with the first sentence of its docstring.
README.md carries it as a table (tools/code_layout.py writes it, tests/test_code_layout.py fails on drift)
and the maintenance page renders it at each build."""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

from labdocs.paths import ROOT

BEGIN = "<!-- code-layout: written from the package tree by `python tools/code_layout.py`; a hand edit is overwritten -->"
END = "<!-- /code-layout -->"


def layers(root: Path = ROOT) -> list[str]:
    """The layers contract's modules, top first."""
    config = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    contracts = config["tool"]["importlinter"]["contracts"]
    return next(c["layers"] for c in contracts if c["type"] == "layers")


def unlisted(root: Path = ROOT) -> list[str]:
    """Packages and modules of labdocs that no layer names (import-linter would not check them)."""
    listed = set(layers(root))
    found = [p for p in sorted((root / "labdocs").iterdir())
             if (p / "__init__.py").is_file() or (p.suffix == ".py" and p.name != "__init__.py")]
    return [f"labdocs.{p.stem}" for p in found if f"labdocs.{p.stem}" not in listed]


def first_sentence(doc: str) -> str:
    paragraph = " ".join(doc.strip().split("\n\n")[0].split())
    return re.split(r"(?<=[.!?])\s", paragraph, maxsplit=1)[0]


def rows(root: Path = ROOT) -> list[tuple[str, str]]:
    """(path as shown, what it is) per layer, top first."""
    out = []
    for module in layers(root):
        rel = Path(*module.split("."))
        init = root / rel / "__init__.py"
        source, shown = (init, f"{rel.as_posix()}/") if init.is_file() else (root / rel.with_suffix(".py"),
                                                                                rel.with_suffix(".py").as_posix())
        doc = ast.get_docstring(ast.parse(source.read_text(encoding="utf-8"))) or ""
        out.append((shown, first_sentence(doc)))
    return out


def table(root: Path = ROOT) -> str:
    lines = ["| Package (imports only those below it) | What it is (its docstring) |", "|---|---|"]
    lines += ["| `%s` | %s |" % (shown, text.replace("|", "\\|")) for shown, text in rows(root)]
    return "\n".join(lines)


def section(root: Path = ROOT) -> str:
    return f"{BEGIN}\n{table(root)}\n{END}"


def replace_section(text: str, root: Path = ROOT) -> str:
    """`text` with its code-layout section made anew; ValueError if it has none."""
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < start:
        raise ValueError(f"no code-layout section ({BEGIN} ... {END})")
    return text[:start] + section(root) + text[end + len(END):]
