"""The fast reader (libyaml, labdocs/model/yaml12.py) gives what ruamel gives: same values, same line numbers;
what no data file needs (dates, tags, duplicate keys) it refuses with a line and column.
(YAML built to hang or exhaust the reader: tests/test_yaml_tricks.py.)"""

from __future__ import annotations

from pathlib import Path

import pytest
from ruamel.yaml import YAML

from labdocs.model import loader, yaml12

from labdocs.paths import ROOT
DATA_FILES = [ROOT / "data" / "systems.yaml", *sorted((ROOT / "data" / "examples").glob("*.yaml"))]


def _paths(value, prefix=()):
    """Every key path of a plain tree, containers included."""
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _paths(v, (*prefix, i))


@pytest.mark.parametrize("path", DATA_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_same_values_and_lines_as_ruamel(path: Path):
    text = path.read_text()
    rt = YAML(typ="rt").load(text)
    fast = yaml12.parse(text)
    assert fast is not None, f"{path}: libyaml reader rejected a file ruamel reads"
    node, data = fast
    assert loader._plain(data) == loader._plain(rt)
    paths = list(_paths(loader._plain(rt)))
    assert len(paths) > 50
    wrong = [p for p in paths if yaml12.line_of(node, p) != loader.line_of(rt, p)]
    assert not wrong, f"line numbers differ for {wrong[:5]}"


SCALARS = ["yes", "no", "on", "off", "y", "n", "Yes", "NO", "010", "0o10", "0x10", "0b101", "-0x1F", "1:30",
           "1_000", ".inf", "-.Inf", "~", "null", "", "'2026-11-25'", "1e3", "1.5e-3",
           "+12", ".5", "5.", "0.85", "True", "TRUE", "tRUE", "'0.85'", '"on"', "v0.15.1", "25.12-py3"]


@pytest.mark.parametrize("scalar", SCALARS)
def test_yaml_1_2_scalars(scalar: str):
    """YAML 1.1 (PyYAML's default) reads `on` as true and `010` as 8; the data file is YAML 1.2."""
    text = f"k: {scalar}\n"
    expected = loader._plain(YAML(typ="rt").load(text))["k"]
    got = loader._plain(yaml12.parse(text)[1])["k"]
    # (ruamel's timestamp type is a datetime subclass)
    assert got == expected and (isinstance(got, type(expected)) or isinstance(expected, type(got))), \
        (scalar, got, expected)


@pytest.mark.parametrize("text, line, column, message", [
    ("a: 1\na: 2\n", 2, 1, "duplicate key 'a'"),
    ("a:\n  b: 1\n  b: 2\n", 3, 3, "duplicate key 'b'"),
    ("a: [1, 2\n", 2, 1, "YAML syntax error: did not find expected ',' or ']'"),
    ("k: <<\n", 1, 4, "unsupported tag 'tag:yaml.org,2002:merge'"),
    ("when: 2026-11-25\n", 1, 7, "2026-11-25 reads as a date, and no key takes a date"),
    ("when: 2026-11-25T01:02:03Z\n", 1, 7, "2026-11-25T01:02:03Z reads as a date, and no key takes a date"),
    ("k: &x 1\nj: &x 2\n", 2, 4, "YAML syntax error: this anchor is already defined on line 1"),
])
def test_refused_with_line_and_column(text: str, line: int, column: int, message: str):
    """Duplicates, syntax errors, dates and tags: one message with where it is, from libyaml's marks."""
    with pytest.raises(yaml12.YamlProblem) as caught:
        yaml12.parse(text)
    assert (caught.value.line, caught.value.column, caught.value.message) == (line, column, message)
    assert caught.value.hint


def test_fast_reader_is_used(tmp_path: Path):
    """The loader returns libyaml's node tree for a good file (the tree line numbers come from)."""
    target = tmp_path / "systems.yaml"
    target.write_text((ROOT / "data" / "systems.yaml").read_text())
    tree, _ = loader.parse_yaml(target)
    assert isinstance(tree, yaml12.yaml.Node)
