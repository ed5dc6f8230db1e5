"""Hermes-style tool calls: ``<tool_call>{"name": ..., "arguments": {...}}</tool_call>``.

This is the format vLLM's ``hermes`` parser expects (it ``json.loads`` whatever sits
between the tags).  The end of the JSON object is found by a string-aware brace scan
(see :mod:`toolcalls.stream`) and the object is then decoded with a real JSON decoder,
so braces and the literal text ``</tool_call>`` inside JSON strings are harmless.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .convert import JSON_DECODER, decode_json_exactly


class ToolCallError(ValueError):
    """A tool-call block that cannot be turned into a call; ``code`` names the reason."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def call_fields(obj: Any) -> tuple[str, dict[str, Any]]:
    """Validate a decoded Hermes object and return ``(name, arguments_dict)``.

    ``arguments`` may be an object or a string holding a JSON object (both occur in
    the wild); ``parameters`` is accepted as an alias; a missing value means ``{}``.
    """
    if not isinstance(obj, Mapping):
        raise ToolCallError("invalid_tool_call", "tool call JSON is not an object")
    name = obj.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ToolCallError("invalid_tool_call", "tool call has no string 'name'")
    if "arguments" in obj:
        args = obj["arguments"]
    else:
        args = obj.get("parameters", {})
    if args is None:
        args = {}
    if isinstance(args, str):
        if not args.strip():
            args = {}
        else:
            ok, decoded = decode_json_exactly(args)
            if not ok or not isinstance(decoded, dict):
                raise ToolCallError("invalid_tool_call",
                                    "'arguments' is a string that is not a JSON object")
            args = decoded
    if not isinstance(args, Mapping):
        raise ToolCallError("invalid_tool_call", "'arguments' is not an object")
    return name.strip(), dict(args)


def decode_object(text: str) -> tuple[str, dict[str, Any], int]:
    """Decode the JSON object at the start of ``text`` (which must begin with ``{``).

    Returns ``(name, arguments, end)`` where ``end`` is the index just after the object.
    Raises :class:`ToolCallError` (``malformed_json`` / ``invalid_tool_call``).
    """
    try:
        obj, end = JSON_DECODER.raw_decode(text)
    except RecursionError:
        raise ToolCallError("malformed_json", "tool call JSON is nested too deeply") from None
    except ValueError as exc:
        raise ToolCallError("malformed_json", f"tool call JSON does not decode: {exc}") from None
    name, args = call_fields(obj)
    return name, args, end
