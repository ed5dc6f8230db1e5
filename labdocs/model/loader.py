"""The one loader: read data/systems.yaml, validate it, and report every error with file:line: key.

Both the site (define_env) and the command line call `load`; nothing else reads the data file.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import ValidationError

from labdocs.model import rules, yaml12
from labdocs.model.errors import DataError, DataInvalid, _friendly, key_path
from labdocs.model.schema import LabData
from labdocs.paths import DEFAULT_DATA



def _display(path: Path) -> str:
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return str(path)
    return str(path) if rel.startswith("..") else rel


def _plain(node):
    """Parsed values -> plain Python (ruamel's round-trip types too, for tests that compare)."""
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
    if isinstance(tree, yaml12.yaml.Node):   # (a key missing at the top: the line the document starts on)
        return yaml12.line_of(tree, loc) or tree.start_mark.line + 1
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
    """(node tree for line numbers, plain data), or DataInvalid with the line and column of the problem."""
    shown = _display(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataInvalid([DataError(shown, None, "", f"cannot read the data file: {exc.strerror or exc}",
                                     "pass an existing file with --data")]) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = len(raw[raw.rfind(b"\n", 0, exc.start) + 1:exc.start].decode("utf-8", "replace")) + 1
        raise DataInvalid([DataError(shown, line, "", f"byte 0x{raw[exc.start]:02x} is not UTF-8 text",
                                     "save the file as UTF-8", column)]) from None
    return _parse_text(text, shown)


def _parse_text(text: str, shown: str) -> tuple[object, dict]:
    try:
        tree, data = yaml12.parse(text)
    except yaml12.YamlProblem as exc:
        raise DataInvalid([DataError(shown, exc.line, "", exc.message, exc.hint, exc.column)]) from None
    if not isinstance(data, dict):
        raise DataInvalid([DataError(shown, 1, "", "expected a mapping at the top of the file",
                                     "start with `lab:`, `infrastructure:`, `systems:` ...")])
    return tree, _plain(data)


def load(path: Path | str = DEFAULT_DATA) -> LabData:
    return load_checked(path)[0]


def load_checked(path: Path | str = DEFAULT_DATA) -> tuple[LabData, list[DataError]]:
    """The validated data and its warnings (legal but worth a look), from one parse of the file."""
    path = Path(path)
    return _validated(_display(path), *parse_yaml(path))


def load_text(text: str, shown: str) -> LabData:
    """Data given as text (a generated example, labdocs/model/overlay.py), its errors naming `shown`."""
    return _validated(shown, *_parse_text(text, shown))[0]


def _validated(shown: str, tree, plain: dict) -> tuple[LabData, list[DataError]]:
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
