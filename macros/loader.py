"""The one loader: read data/systems.yaml, validate it, and report every error with file:line: key.

Both the site (define_env) and the command line call `load`; nothing else reads the data file.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from pydantic import ValidationError

from . import rules, yaml12
from .errors import DataError, DataInvalid, _friendly, key_path
from .schema import LabData

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = ROOT / "data" / "systems.yaml"


def _display(path: Path) -> str:
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return str(path)
    return str(path) if rel.startswith("..") else rel


def _plain(node):
    """ruamel's round-trip types -> plain Python, so nothing YAML-specific leaks into outputs."""
    if isinstance(node, dict):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    if isinstance(node, bool) or node is None:
        return node
    for kind in (int, float, str):
        if isinstance(node, kind):
            return kind(node)
    return node


def line_of(tree, loc: tuple) -> int | None:
    """1-based line of the deepest key of `loc` present in the tree (libyaml nodes or ruamel's round trip)."""
    if isinstance(tree, yaml12.yaml.Node):
        return yaml12.line_of(tree, loc)
    line, node = None, tree
    for part in loc:
        try:
            if isinstance(node, dict) and part in node:
                line = node.lc.key(part)[0] + 1
                node = node[part]
            elif isinstance(node, list) and isinstance(part, int) and part < len(node):
                line = node.lc.item(part)[0] + 1
                node = node[part]
            else:
                break
        except (AttributeError, KeyError, TypeError):
            break
    return line


def parse_yaml(path: Path) -> tuple[object, dict]:
    """(tree for line numbers, plain data). libyaml first; ruamel for what it rejects, to explain why."""
    shown = _display(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DataInvalid([DataError(shown, None, "", f"cannot read the data file: {exc.strerror}",
                                     "pass an existing file with --data")]) from None
    fast = yaml12.parse(text)
    if fast is not None and isinstance(fast[1], dict):
        return fast[0], _plain(fast[1])
    from ruamel.yaml import YAML                       # (only here: its import alone takes 0.1 s)
    from ruamel.yaml.constructor import DuplicateKeyError
    from ruamel.yaml.error import MarkedYAMLError

    try:
        tree = YAML(typ="rt").load(text)
    except DuplicateKeyError as exc:
        mark = exc.problem_mark
        found = re.search(r'duplicate key "(.*?)"', exc.problem or "")
        raise DataInvalid([DataError(shown, mark.line + 1 if mark else None, "",
                                     f"duplicate key {found.group(1) if found else ''!r}".replace("''", "").strip(),
                                     "each key (and each system id) may appear once in a mapping")]) from None
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise DataInvalid([DataError(shown, mark.line + 1 if mark else None, "",
                                     f"YAML syntax error: {exc.problem or exc.context}",
                                     "check indentation and quoting on this line or the one above")]) from None
    if not isinstance(tree, dict):
        raise DataInvalid([DataError(shown, 1, "", "expected a mapping at the top of the file",
                                     "start with `lab:`, `infrastructure:`, `systems:` ...")])
    return tree, _plain(tree)


def load(path: Path | str = DEFAULT_DATA) -> LabData:
    return load_checked(path)[0]


def load_checked(path: Path | str = DEFAULT_DATA) -> tuple[LabData, list[DataError]]:
    """The validated data and its warnings (legal but worth a look), from one parse of the file."""
    path = Path(path)
    shown = _display(path)
    tree, plain = parse_yaml(path)
    try:
        data = LabData.model_validate(plain)
    except ValidationError as exc:
        errors = []
        for err in exc.errors(include_url=False):
            loc = tuple(p for p in err["loc"] if p != "[key]")
            message, hint = _friendly(err, LabData)
            errors.append(DataError(shown, line_of(tree, loc), key_path(loc), message, hint))
        raise DataInvalid(errors) from None
    problems = [DataError(shown, line_of(tree, loc), key_path(loc), msg, hint)
                for loc, msg, hint in rules.check(data)]
    if problems:
        raise DataInvalid(problems)
    warnings = [DataError(shown, line_of(tree, loc), key_path(loc), f"warning: {msg}", hint)
                for loc, msg, hint in rules.warnings(data)]
    return data, warnings
