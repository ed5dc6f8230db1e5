"""Whole-message normalization: text tool calls in ``content`` -> OpenAI ``tool_calls``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from .model import TOOL_CALL_START, NormalizedMessage, Problem
from .stream import StreamNormalizer


def normalize_message(
    message: Mapping[str, Any] | Any,
    tools: Iterable[Any] | None = None,
    *,
    coerce_untyped: bool = False,
    id_seed: str = "",
) -> NormalizedMessage:
    """Return a new assistant message with tool calls moved from ``content`` to ``tool_calls``.

    ``message`` is an assistant message dict (e.g. ``resp.choices[0].message.model_dump()``;
    an object with ``model_dump()`` is accepted too).  ``tools`` is the request's ``tools``
    list, used to type Qwen3-Coder XML parameter values.  The input is never mutated.

    Unchanged (equal copy, no problems) when the message already has a non-empty
    ``tool_calls`` list, has no string content, or its content has no ``<tool_call>``.
    Same engine as :class:`StreamNormalizer`, so streamed and whole results agree.
    """
    dump = getattr(message, "model_dump", None)
    if callable(dump) and not isinstance(message, Mapping):
        message = dump()
    if not isinstance(message, Mapping):
        raise TypeError("message must be a mapping (an assistant message dict)")
    msg = dict(message)
    if msg.get("tool_calls"):
        return NormalizedMessage(msg, [])
    content = msg.get("content")
    if content is None or content == "":
        return NormalizedMessage(msg, [])
    if not isinstance(content, str):
        return NormalizedMessage(msg, [Problem(
            "unsupported_content", "content is not a string; message left unchanged", 0, 0)])
    if TOOL_CALL_START not in content:
        return NormalizedMessage(msg, [])
    stream = StreamNormalizer(tools, coerce_untyped=coerce_untyped, id_seed=id_seed)
    stream.feed(content)
    stream.finish()
    return stream.result(msg)
