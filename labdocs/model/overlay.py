"""A data file as the base data plus an overlay: data/examples/overlays/NAME.yaml on top of data/systems.yaml
is data/examples/NAME.yaml, which `make generate` writes and `make check-generated` keeps in sync, so an
example repeats nothing of the lab by hand and still reads (and copies) as a whole data file.

An overlay is written like the data file, with only what differs:
- a block mapping merges into the base's, key by key, at any depth; a new key goes at the end;
- any other value (text, number, list, flow mapping) replaces the base's;
- `key: !replace` with a block below replaces the base's value whole (`systems: !replace`);
- `key: !delete` removes the key.
The merge works on the text (block style, as the data file is written): kept lines are the base's byte for
byte, with their comments; an overlay's entry brings its own comments, and its opening comment replaces the
base's. Each line remembers its file and line, so an error in the result names the line to fix.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from labdocs.model.errors import DataError, DataInvalid
from labdocs.model.loader import load_text
from labdocs.paths import ROOT

OVERLAYS = "data/examples/overlays"
KEY = re.compile(r"""(?P<key>"[^"]*"|'[^']*'|[^\s#'"-][^:]*?|-[^\s:][^:]*?)\s*:(?:\s+(?P<value>[^#\s].*?))?(?:\s+#.*)?\s*""")

Line = tuple[str, str, int]          # text without its newline, the file it comes from, its 1-based line


FORM = "write the overlay as the data file is written: `key:` and a block below, or `key: value`"
ON_BASE = ("an example builds on data/systems.yaml; a lab that does not keep this project's examples can delete "
           f"{OVERLAYS}/")


def _problem(line: Line, message: str, hint: str = FORM) -> DataInvalid:
    return DataInvalid([DataError(line[1], line[2], "", message, hint)])


@dataclass
class Entry:
    head: list[Line]                 # blank and comment lines before the key
    lines: list[Line]                # the key's line and its block
    key: str = ""
    value: str = ""                  # what follows `key:` on its line ('' for a block)
    body: list[Line] = field(default_factory=list)


def _indent(text: str) -> int:
    return len(text) - len(text.lstrip(" "))


def _entries(lines: list[Line], indent: int) -> tuple[list[Entry], list[Line]]:
    """A block mapping's entries at this indent, and the blank or comment lines after the last one."""
    entries: list[Entry] = []
    pending: list[Line] = []
    for line in lines:
        text = line[0]
        stripped = text.strip()
        item = _indent(text) == indent and (text[indent:].startswith("- ") or stripped == "-")  # `key:\n- x`
        if not stripped or (stripped.startswith("#") and _indent(text) <= indent):
            pending.append(line)
        elif entries and (_indent(text) > indent or item):
            entries[-1].lines += [*pending, line]
            entries[-1].body += [*pending, line]
            pending = []
        elif _indent(text) == indent:
            match = KEY.fullmatch(text[indent:])
            if match is None:
                raise _problem(line, "expected `key:` or `key: value` (an overlay merges block mappings)")
            entries.append(Entry(pending, [line], match["key"].strip("'\""), (match["value"] or "").strip(),
                                 []))
            pending = []
        else:
            raise _problem(line, f"expected a key indented by {indent} spaces")
    return entries, pending


def _is_mapping(entry: Entry) -> bool:
    first = next((t for t, *_ in entry.body if t.strip() and not t.strip().startswith("#")), None)
    return entry.value == "" and first is not None and not first.lstrip().startswith("- ")


def _child_indent(entry: Entry) -> int:
    return next(_indent(t) for t, *_ in entry.body if t.strip() and not t.strip().startswith("#"))


def _has_comment(head: list[Line]) -> bool:
    return any(t.strip() for t, *_ in head)


def _untagged(entry: Entry) -> list[Line]:
    text, *where = entry.lines[0]
    return [(re.sub(r"\s*!replace\b", "", text, count=1), *where), *entry.lines[1:]]


def _merge(base: list[Entry], over: list[Entry], indent: int) -> list[Entry]:
    out = list(base)
    index = {e.key: i for i, e in enumerate(out)}
    for o in over:
        i = index.get(o.key)
        if o.value == "!delete":
            if i is None:
                raise _problem(o.lines[0], f"`{o.key}: !delete` but the base has no {o.key!r} here", ON_BASE)
            out[i] = None
            continue
        if i is None:
            out.append(Entry(o.head, _untagged(o), o.key))
            continue
        b = out[i]
        head = o.head if _has_comment(o.head) else b.head
        if o.value == "" and _is_mapping(o) and _is_mapping(b):
            inner = _child_indent(b)
            if _child_indent(o) != inner:
                raise _problem(o.body[0], f"indent {inner} spaces here, as the base does")
            b_entries, b_tail = _entries(b.body, inner)
            o_entries, _ = _entries(o.body, inner)
            merged = _merge(b_entries, o_entries, inner)
            out[i] = Entry(head, [b.lines[0], *_flatten(merged), *b_tail], b.key)
        else:
            out[i] = Entry(head, _untagged(o), o.key)
    return [e for e in out if e is not None]


def _flatten(entries: list[Entry]) -> list[Line]:
    return [line for e in entries for line in (*e.head, *e.lines)]


def _split(text: str, name: str) -> tuple[list[Line], list[Line]]:
    """(the opening comment, the rest): the comment lines up to the first blank line."""
    lines = [(t, name, n) for n, t in enumerate(text.split("\n"), 1)]
    if lines and lines[-1][0] == "":
        lines.pop()
    n = 0
    while n < len(lines) and lines[n][0].startswith("#"):
        n += 1
    return lines[:n], lines[n:]


def apply(base: str, base_name: str, overlay: str, overlay_name: str, marker: str) -> list[Line]:
    """The merged data file's lines: the marker, the overlay's opening comment, the merged mappings."""
    _, base_rest = _split(base, base_name)
    over_head, over_rest = _split(overlay, overlay_name)
    base_entries, base_tail = _entries(base_rest, 0)
    over_entries, _ = _entries(over_rest, 0)
    return [(marker, overlay_name, 1), *over_head, *_flatten(_merge(base_entries, over_entries, 0)), *base_tail]


def overlays(root: Path = ROOT) -> dict[str, Path]:
    """Each overlay, by the path of the example it makes (data/examples/NAME.yaml)."""
    return {f"{Path(OVERLAYS).parent.as_posix()}/{p.name}": p for p in sorted((root / OVERLAYS).glob("*.yaml"))}


def examples(base: str, base_name: str, marker: Callable[[str], str], root: Path = ROOT) -> dict[str, str]:
    """Each example's text by its path, validated like the data file; an error names the line to fix, in
    the overlay or the base."""
    out = {}
    for rel, path in overlays(root).items():
        name = path.relative_to(root).as_posix()
        lines = apply(base, base_name, path.read_text(encoding="utf-8"), name, marker(name))
        text = "".join(f"{t}\n" for t, *_ in lines)
        try:
            load_text(text, rel)
        except DataInvalid as exc:
            raise DataInvalid([_traced(e, lines, rel) for e in exc.errors]) from None
        out[rel] = text
    return out


def _traced(error: DataError, lines: list[Line], example: str) -> DataError:
    if not error.line or error.line > len(lines):
        return error
    _, file, line = lines[error.line - 1]
    return dataclasses.replace(error, file=file, line=line, message=f"{error.message} (in {example})")
