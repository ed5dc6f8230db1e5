"""Qwen3-Coder XML tool calls.

Qwen3-Coder's chat template asks the model for::

    <tool_call>
    <function=NAME>
    <parameter=KEY>
    VALUE
    </parameter>
    </function>
    </tool_call>

vLLM parses this with ``--tool-call-parser qwen3_coder`` (or ``qwen3_xml``); ``hermes``
tries ``json.loads`` on the body, fails, and returns the whole text as ``content``.
The streaming state machine in :mod:`toolcalls.stream` locates names and values; this
module turns the located raw values into an arguments dict.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .convert import convert_value, tool_parameters

FUNCTION_PREFIX = "<function="
FUNCTION_END = "</function>"
PARAMETER_PREFIX = "<parameter="
PARAMETER_END = "</parameter>"
MAX_NAME = 256  # longest function/parameter name accepted before '>'


def strip_value(raw: str) -> str:
    """Drop one leading and one trailing newline, as vLLM's qwen3_coder parser does.

    The template puts the value on its own line; other whitespace is content.
    """
    if raw.startswith("\r\n"):
        raw = raw[2:]
    elif raw.startswith("\n"):
        raw = raw[1:]
    if raw.endswith("\r\n"):
        raw = raw[:-2]
    elif raw.endswith("\n"):
        raw = raw[:-1]
    return raw


def build_arguments(
    name: str,
    params: Iterable[tuple[str, str]],
    tools: Iterable[Any] | None,
    *,
    coerce_untyped: bool = False,
) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """Turn ``[(key, raw_value), ...]`` into an arguments dict using the tool schema.

    Returns ``(arguments, warnings)`` where warnings are ``(code, message)`` pairs
    (``type_mismatch``).  A repeated key keeps its last value.
    """
    schema = tool_parameters(tools, name)
    props = schema.get("properties") if isinstance(schema, dict) else None
    props = props if isinstance(props, dict) else {}
    args: dict[str, Any] = {}
    warnings: list[tuple[str, str]] = []
    for key, raw in params:
        value, err = convert_value(strip_value(raw), props.get(key), coerce_untyped=coerce_untyped)
        if err:
            warnings.append(("type_mismatch", f"{name}.{key}: {err}"))
        args[key] = value
    return args, warnings
