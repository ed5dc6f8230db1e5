"""The do-not-edit marker, defined once. Every generated file opens with it (JSON, which has no comments,
excepted); the drift check finds files it owns by it, and the site's edit links and the doc-tests'
console updater tell a generated page from a hand-written one by it."""

from __future__ import annotations

MARK = "DO NOT EDIT: generated from"
GENERATOR = "make generate"
HEAD_CHARS = 400     # the marker sits in a file's first lines (after a shebang or an opening line at most)


def marker(source: str, origin: str, comment: str, note: str | None = None) -> str:
    """The marker line: `source` is the data file, `origin` what renders it (a template or a module),
    `comment` the file's comment syntax ("html" or "hash"), `note` what else to know."""
    text = f"{MARK} {source} by `{GENERATOR}` ({origin})" + (f"; {note}" if note else ".")
    return f"<!-- {text} -->" if comment == "html" else f"# {text}"


def is_generated(text: str) -> bool:
    """Does this file's text open with the marker?"""
    return MARK in text[:HEAD_CHARS]
