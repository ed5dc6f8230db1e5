"""Data types shared by the normalizers: problems, results, stream events, call ids."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

TOOL_CALL_START = "<tool_call>"
TOOL_CALL_END = "</tool_call>"


@dataclass(frozen=True)
class Problem:
    """Something in the content that could not be turned into a clean tool call.

    ``code`` is a short stable identifier (see the package docstring for the list),
    ``message`` a human-readable explanation, and ``start``/``end`` the character
    offsets (``end`` exclusive) of the offending ``<tool_call>`` block in the
    original content string.  Problems never raise; the caller decides what to do.
    """

    code: str
    message: str
    start: int
    end: int

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "start": self.start, "end": self.end}


@dataclass
class NormalizedMessage:
    """Result of :func:`toolcalls.normalize_message` / :meth:`StreamNormalizer.result`.

    ``message`` is a new OpenAI-shaped assistant message dict (all keys of the input
    are kept; ``content`` and ``tool_calls`` are replaced when calls were found).
    """

    message: dict[str, Any]
    problems: list[Problem] = field(default_factory=list)

    @property
    def tool_calls(self) -> list[dict[str, Any]]:
        return list(self.message.get("tool_calls") or [])

    @property
    def content(self) -> str | None:
        return self.message.get("content")


@dataclass(frozen=True)
class TextEvent:
    """Plain text that is certainly not part of a tool call (stream output)."""

    text: str


@dataclass(frozen=True)
class ToolCallEvent:
    """A completed tool call (stream output); ``index`` counts calls from 0."""

    index: int
    tool_call: dict[str, Any]


def make_call_id(seed: str, index: int, offset: int, raw_block: str) -> str:
    """Deterministic id ``call_<24 hex>`` from the call's raw text, its offset and index.

    The same message always yields the same ids; the index makes them unique within a
    message even when a call is repeated verbatim.  ``seed`` (e.g. the response id)
    can be mixed in to make ids differ between otherwise identical responses.
    """
    h = hashlib.sha256()
    h.update(f"{seed}\x1f{index}\x1f{offset}\x1f".encode("utf-8", "surrogatepass"))
    h.update(raw_block.encode("utf-8", "surrogatepass"))
    return "call_" + h.hexdigest()[:24]
