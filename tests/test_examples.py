"""The example data files are data/systems.yaml plus a small overlay each (labdocs/model/overlay.py):
generated, committed in sync, and an error in an overlay names the overlay's line."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import ROOT, macros_cli
from labdocs.model import overlay
from labdocs.model.errors import DataInvalid
from labdocs.render import generate
from labdocs.render.marker import is_generated

BASE = (ROOT / "data" / "systems.yaml").read_text(encoding="utf-8")
EXAMPLES = overlay.overlays()


def _marker(name: str) -> str:
    return f"# DO NOT EDIT: from {name}"


def test_each_example_is_generated_and_committed_in_sync():
    assert sorted(EXAMPLES) == ["data/examples/native-tool-parser.yaml", "data/examples/two-node.yaml"]
    files = generate.plan().files
    for example, source in EXAMPLES.items():
        committed = (ROOT / example).read_text(encoding="utf-8")
        assert files[example] == committed, f"{example}: run `make generate`"
        assert is_generated(committed) and source.relative_to(ROOT).as_posix() in committed.splitlines()[0]
        # the overlay holds what differs, not a copy: most of the example is the base's lines
        assert len(source.read_text().splitlines()) < len(committed.splitlines()) / 2


def test_a_hand_edit_of_an_example_is_drift(repo_copy: Path):
    example = repo_copy / "data" / "examples" / "two-node.yaml"
    example.write_text(example.read_text().replace("name: Orion", "name: Orion (edited)"))
    result = macros_cli("check", "--out", str(repo_copy))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "a/data/examples/two-node.yaml" in result.stdout and "-    name: Orion (edited)" in result.stdout


BASE_TEXT = """\
# the base's opening comment

lab:
  name: Lab   # kept
  keep: 1

systems:
  a:
    port: 1
  b:
    port: 2

gone:
  x: 1

items:            # a list at its key's indent, as ruamel writes one
- 1

tail: [1, 2]
"""

OVERLAY_TEXT = """\
# the example's opening comment

lab:
  name: Example
  # a comment for the new key
  added: 2

systems: !replace
  c:
    port: 3

gone: !delete

tail: []
new: yes
"""


def test_merge_rules():
    lines = overlay.apply(BASE_TEXT, "base.yaml", OVERLAY_TEXT, "over.yaml", "# marker")
    assert "".join(f"{t}\n" for t, *_ in lines) == """\
# marker
# the example's opening comment

lab:
  name: Example
  keep: 1
  # a comment for the new key
  added: 2

systems:
  c:
    port: 3

items:            # a list at its key's indent, as ruamel writes one
- 1

tail: []
new: yes
"""
    # every line knows where it came from
    assert ("  keep: 1", "base.yaml", 5) in lines and ("  added: 2", "over.yaml", 6) in lines


def _example(tmp_path: Path, text: str) -> dict[str, str]:
    folder = tmp_path / overlay.OVERLAYS
    folder.mkdir(parents=True)
    (folder / "x.yaml").write_text(text)
    return overlay.examples(BASE, "data/systems.yaml", _marker, root=tmp_path)


def test_an_example_is_validated_and_its_error_names_the_overlay_line(tmp_path: Path):
    assert "data/examples/x.yaml" in _example(tmp_path, "# fine\n\nlab:\n  name: Another lab\n")
    with pytest.raises(DataInvalid) as err:
        _example(tmp_path / "bad", "# bad\n\nsystems:\n  stella:\n    port: 80000\n")
    assert str(err.value).startswith(
        "data/examples/overlays/x.yaml:5: systems.stella.port: 80000 is not a valid port (1-65535) "
        "(in data/examples/x.yaml)\n  hint: ")


@pytest.mark.parametrize("text, message", [
    ("nope: !delete\n", "data/examples/overlays/x.yaml:1: `nope: !delete` but the base has no 'nope' here"),
    ("lab:\n name: x\n", "data/examples/overlays/x.yaml:2: indent 2 spaces here, as the base does"),
    ("- a\n", "data/examples/overlays/x.yaml:1: expected `key:` or `key: value`"),
])
def test_a_malformed_overlay_names_its_line(tmp_path: Path, text: str, message: str):
    with pytest.raises(DataInvalid) as err:
        _example(tmp_path, text)
    assert str(err.value).startswith(message)
