"""Typing of Qwen3-Coder XML parameter values with the request's ``tools`` schema.

Qwen3-Coder writes every argument as raw text (``<parameter=n>\\n5\\n</parameter>``), so
the text has to be converted to the JSON type the function declares.  The rules follow
the spirit of vLLM's ``qwen3_coder`` parser (``_convert_param_value``) but never guess
silently: a value that does not fit its declared type is kept as a string and reported.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from typing import Any


def _reject_constant(name: str) -> Any:
    raise ValueError(f"non-standard JSON constant {name}")


# strict=False accepts raw control characters (e.g. literal newlines) inside strings,
# which models emit often; NaN/Infinity are rejected because json.dumps would
# re-emit them as invalid JSON.
JSON_DECODER = json.JSONDecoder(strict=False, parse_constant=_reject_constant)

_TYPE_ALIASES = {
    "string": "string", "str": "string", "text": "string", "enum": "string",
    "integer": "integer", "int": "integer", "long": "integer",
    "number": "number", "float": "number", "double": "number",
    "boolean": "boolean", "bool": "boolean",
    "object": "object", "dict": "object",
    "array": "array", "list": "array",
    "null": "null", "none": "null",
}


def decode_json_exactly(text: str) -> tuple[bool, Any]:
    """Decode ``text`` as one JSON value with nothing but whitespace around it."""
    s = text.strip()
    if not s:
        return False, None
    try:
        value, end = JSON_DECODER.raw_decode(s)
    except (ValueError, RecursionError):
        return False, None
    return end == len(s), value


def _as_dict(obj: Any) -> Any:
    dump = getattr(obj, "model_dump", None)  # OpenAI SDK / pydantic objects
    return dump() if callable(dump) else obj


# vLLM's names for the reasoning text: `reasoning_content` first (it alone until 0.11, then a copy of
# `reasoning`), `reasoning` (the only one once vLLM removed the old name, from 0.16 on).
REASONING_FIELDS = ("reasoning_content", "reasoning")


def reasoning_of(message: Any) -> str | None:
    """The reasoning text of an assistant message or a stream delta, under either of vLLM's names."""
    message = _as_dict(message)
    if not isinstance(message, Mapping):
        return None
    for name in REASONING_FIELDS:
        value = message.get(name)
        if isinstance(value, str):
            return value
    return None


def tool_parameters(tools: Iterable[Any] | None, name: str) -> dict[str, Any] | None:
    """Return the ``parameters`` JSON schema of function ``name`` in ``tools``.

    Accepts the OpenAI request shape ``{"type": "function", "function": {...}}`` and a
    bare ``{"name": ..., "parameters": ...}``.  ``None`` means the tool is not declared.
    """
    for tool in tools or ():
        tool = _as_dict(tool)
        if not isinstance(tool, Mapping):
            continue
        fn = tool.get("function")
        fn = _as_dict(fn) if fn is not None else tool
        if isinstance(fn, Mapping) and fn.get("name") == name:
            params = fn.get("parameters")
            return dict(params) if isinstance(params, Mapping) else {}
    return None


def schema_types(schema: Any, _depth: int = 0) -> list[str]:
    """The JSON types a property schema allows, in declaration order (may be empty)."""
    if not isinstance(schema, Mapping) or _depth > 8:
        return []
    out: list[str] = []

    def add(t: Any) -> None:
        norm = _TYPE_ALIASES.get(str(t).strip().lower())
        if norm and norm not in out:
            out.append(norm)

    declared = schema.get("type")
    if isinstance(declared, str):
        add(declared)
    elif isinstance(declared, list):
        for t in declared:
            add(t)
    for key in ("anyOf", "oneOf", "allOf"):
        subs = schema.get(key)
        if isinstance(subs, list):
            for sub in subs:
                for t in schema_types(sub, _depth + 1):
                    add(t)
    if not out:
        values = schema["enum"] if isinstance(schema.get("enum"), list) else (
            [schema["const"]] if "const" in schema else [])
        for v in values:
            add("null" if v is None else "boolean" if isinstance(v, bool) else
                "integer" if isinstance(v, int) else "number" if isinstance(v, float) else
                "string" if isinstance(v, str) else "array" if isinstance(v, list) else
                "object" if isinstance(v, dict) else "string")
    if not out:
        if isinstance(schema.get("properties"), Mapping):
            out.append("object")
        elif "items" in schema:
            out.append("array")
    return out


def _to_integer(s: str) -> tuple[bool, Any]:
    digits = s[1:] if s[:1] in "+-" else s
    if digits.isascii() and digits.isdigit():
        return True, int(s)
    ok, v = decode_json_exactly(s)
    if ok and type(v) is float and v.is_integer():
        return True, int(v)
    return False, None


def _to_number(s: str) -> tuple[bool, Any]:
    ok, v = decode_json_exactly(s)
    if ok and type(v) in (int, float):
        return True, v
    if s.isascii() and "_" not in s:
        try:
            f = float(s)
        except ValueError:
            return False, None
        if math.isfinite(f):
            return True, f
    return False, None


def _to_boolean(s: str) -> tuple[bool, Any]:
    low = s.lower()
    if low in ("true", "false"):
        return True, low == "true"
    return False, None


def _to_object(s: str) -> tuple[bool, Any]:
    ok, v = decode_json_exactly(s)
    return (True, v) if ok and isinstance(v, dict) else (False, None)


def _to_array(s: str) -> tuple[bool, Any]:
    ok, v = decode_json_exactly(s)
    return (True, v) if ok and isinstance(v, list) else (False, None)


_CONVERTERS = (
    ("integer", _to_integer),
    ("number", _to_number),
    ("boolean", _to_boolean),
    ("object", _to_object),
    ("array", _to_array),
)


def coerce_literal(raw: str) -> Any:
    """Opt-in guess for untyped values: JSON numbers, true/false/null, objects, arrays.

    Quoted strings and anything else stay the original (unstripped) string.
    """
    s = raw.strip()
    if s in ("true", "false", "null") or (s[:1] in "{[-0123456789" and s):
        ok, v = decode_json_exactly(s)
        if ok and not isinstance(v, str):
            return v
    return raw


def convert_value(raw: str, schema: Any, *, coerce_untyped: bool = False) -> tuple[Any, str | None]:
    """Convert one raw XML parameter value.  Returns ``(value, error_or_None)``.

    ``schema`` is the property's JSON schema, or ``None`` when the tool or the
    parameter is not declared.  With no usable type information the raw string is
    returned unchanged (or :func:`coerce_literal` is applied if ``coerce_untyped``).
    ``"null"`` becomes ``None`` when the schema allows null.  Non-string types are
    tried in the order integer, number, boolean, object, array; ``string`` is the
    fallback.  When nothing fits, the raw string is returned with an error text.
    """
    types = schema_types(schema) if schema is not None else []
    if not types:
        return (coerce_literal(raw) if coerce_untyped else raw), None
    s = raw.strip()
    if "null" in types and s == "null":
        return None, None
    for name, conv in _CONVERTERS:
        if name in types:
            ok, value = conv(s)
            if ok:
                return value, None
    if "string" in types:
        return raw, None
    return raw, f"value {s[:40]!r} is not of declared type {'/'.join(types)}; kept as string"
