"""`console` blocks: `$ command` lines followed by the output they print, checked with `...` wildcards."""

from __future__ import annotations

import re
from dataclasses import dataclass

ELLIPSIS = "..."


@dataclass
class Step:
    command: str
    expected: list[str]


def parse(code: str) -> list[Step]:
    steps: list[Step] = []
    lines = code.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("$ "):
            command = line[2:]
            while command.endswith("\\") and i + 1 < len(lines):
                i += 1
                command = command[:-1] + "\n" + lines[i]
            steps.append(Step(command, []))
        elif steps:
            steps[-1].expected.append(line)
        elif line.strip():
            raise ValueError(f"output before the first '$ ' prompt: {line!r}")
        i += 1
    if not steps:
        raise ValueError("a console block needs at least one '$ ' command")
    return steps


def _pattern(expected: list[str]) -> re.Pattern:
    parts = []
    for line in expected:
        if line.strip() == ELLIPSIS:
            parts.append(r"(?:[^\n]*\n)*?")
        else:
            parts.append(".*?".join(re.escape(p) for p in line.rstrip().split(ELLIPSIS)) + r"[ \t]*\n")
    return re.compile("".join(parts), re.S)


def matches(expected: list[str], actual: str) -> bool:
    want = [line for line in expected]
    while want and not want[-1].strip():
        want.pop()
    text = "\n".join(line.rstrip() for line in actual.rstrip("\n").splitlines()) + "\n"
    if not want:
        return not actual.strip()
    return _pattern(want).fullmatch(text) is not None


def render(steps: list[Step]) -> str:
    """A console block's body from steps (for --update)."""
    out = []
    for step in steps:
        first, *rest = step.command.split("\n")
        out.append("$ " + (first + "\\" if rest else first))
        out.extend(line + "\\" for line in rest[:-1])
        if rest:
            out.append(rest[-1])
        out.extend(step.expected)
    return "\n".join(out) + "\n"
