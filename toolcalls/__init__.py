"""toolcalls: turn tool calls left as text in ``content`` into OpenAI ``tool_calls``.

Why: "stella" serves Qwen/Qwen3-Coder-30B-A3B-Instruct with ``--tool-call-parser hermes``.
Qwen3-Coder writes calls as XML (``<tool_call><function=f><parameter=k>v</parameter>
</function></tool_call>``); vLLM's hermes parser ``json.loads`` the body, fails, and
returns the raw text as ``content``.  The server-side fix is ``--tool-call-parser
qwen3_coder`` (see README.md); this stdlib-only package repairs responses client-side.

Public API
----------
``normalize_message(message, tools=None, *, coerce_untyped=False, id_seed="") -> NormalizedMessage``
    ``message``: assistant message dict (``resp.choices[0].message.model_dump()``).
    Returns ``NormalizedMessage(message=<new dict>, problems=[Problem, ...])``:

    * ``message["tool_calls"] = [{"id": "call_<24 hex>", "type": "function",
      "function": {"name": str, "arguments": "<JSON object string>"}}, ...]``
    * ``message["content"]``: the text before/between/after the calls, each piece
      stripped, pieces joined with ``"\\n"``; ``None`` if nothing remains.  Text of
      blocks that could not be parsed stays in place, verbatim.
    * Unchanged (equal copy) when ``tool_calls`` is already a non-empty list, content is
      empty/None, or content contains no ``<tool_call>``.  ``tool_calls: []``/``None``
      (what vLLM and the OpenAI SDK give for "no calls") is not "already carrying calls".
    * Never raises for bad content; everything goes into ``problems``.

``StreamNormalizer(tools=None, *, coerce_untyped=False, id_seed="")``
    ``feed(delta: str | None) -> list[TextEvent | ToolCallEvent]``;
    ``finish() -> list[...]`` (call once at the end); ``result(message=None) ->
    NormalizedMessage`` (same content/tool_calls/problems as ``normalize_message`` on
    the concatenated deltas); ``problems`` (live list); ``tool_calls``.
    Text outside calls is released at once, except a trailing piece that could still
    become ``<tool_call>`` (<= 10 chars, e.g. ``"<tool_"``).  A block's text is held
    until the block ends, then it becomes a ``ToolCallEvent`` or (if unparseable) a
    ``TextEvent`` with its raw text.  Streamed text is not stripped.

``iter_events(chunks, tools=None, *, coerce_untyped=False, id_seed="")``
    Generator: feeds every chunk, then finishes.
``reasoning_of(message_or_delta) -> str | None``
    The reasoning text under either of vLLM's names (``reasoning_content``, sent by the
    hosts' vLLM 0.11/0.14, or ``reasoning``, the only one from vLLM 0.16 on).  Both
    normalizers pass either field through unchanged.

Data types (``toolcalls.model``): ``Problem(code, message, start, end)`` (offsets into
the content), ``NormalizedMessage(message, problems)`` with ``.tool_calls`` and
``.content``, ``TextEvent(text)``, ``ToolCallEvent(index, tool_call)``.

Formats recognised inside ``<tool_call>...</tool_call>``
---------------------------------------------------------
* Hermes JSON: ``{"name": "f", "arguments": {...}}``; ``arguments`` may also be a
  string holding a JSON object, or be named ``parameters``; missing means ``{}``.
  The object's end is found by a quote/escape-aware brace scan, then it is decoded
  with ``json.JSONDecoder.raw_decode`` (``strict=False``: raw newlines in strings are
  accepted; ``NaN``/``Infinity`` are rejected).  Arguments are re-serialised with
  ``json.dumps(..., ensure_ascii=False)``.  JSON values are never re-typed.
* Qwen3-Coder XML: ``<function=NAME>`` then ``<parameter=KEY>VALUE</parameter>``...
  ``</function>``.  Whitespace/newlines between tags are ignored, names are stripped,
  one leading and one trailing newline of a value are dropped (as vLLM does).  A value
  ends at ``</parameter>`` (so it may contain ``</tool_call>``).
  Typing with ``tools``: the property's JSON-schema ``type`` (string or list; also
  ``anyOf``/``oneOf``, ``enum``/``const``) decides: ``"null"`` -> None if null is allowed;
  then integer, number, boolean (``true``/``false``, any case), object and array (JSON)
  are tried in that order; ``string`` keeps the text as is.  A value that fits no
  declared type stays a string and yields a ``type_mismatch`` problem.
  Without a schema for the parameter (no ``tools``, unknown tool, undeclared key, or
  no type info) values stay strings: "123" may well be a zip code.  Pass
  ``coerce_untyped=True`` to convert obvious JSON literals (numbers, true/false/null,
  ``{...}``, ``[...]``) instead; quoted strings are never unquoted.

Unterminated blocks (choice)
----------------------------
A final block that lacks only ``</tool_call>`` (the JSON object is complete, or
``</function>`` was seen) is parsed and reported as ``missing_end_tag``.  Anything less
complete is kept as raw text and reported as ``unterminated_tool_call``.  If the input
ends inside a JSON string or an XML value, the open block is re-read once tolerantly
(JSON body ends at the first ``</tool_call>``; an XML value also ends at
``<parameter=``, ``</function>``, ``</tool_call>`` or ``<tool_call>``), so later text
and calls are still recovered.  A bare ``<function=...>`` without ``<tool_call>`` is
left alone (plain text).

Problem codes
-------------
Raw text kept: ``malformed_json``, ``invalid_tool_call`` (decoded but no string name /
arguments not an object), ``malformed_xml``, ``unknown_format``,
``unterminated_tool_call``.  Call emitted anyway: ``missing_end_tag``,
``missing_function_end``, ``missing_parameter_end``, ``type_mismatch``,
``unknown_tool`` (name not in a non-empty ``tools``).  Message untouched:
``unsupported_content`` (content is not a string).

Call ids
--------
``call_`` + first 24 hex digits of SHA-256 over ``id_seed``, the call index, the
block's offset and its raw text: identical input gives identical ids (also when
streamed in any chunking); the index makes ids unique within a message.  Pass e.g.
``id_seed=resp.id`` to keep ids apart across responses that repeat the same text.

Performance: single left-to-right pass with ``str.find`` and bounded look-back, no
regular expressions; linear in the input for any chunk size (see
``bench/toolcalls_1mb.py``).
"""

from .convert import REASONING_FIELDS, reasoning_of
from .model import NormalizedMessage, Problem, TextEvent, ToolCallEvent, make_call_id
from .normalize import normalize_message
from .stream import StreamNormalizer, iter_events

__all__ = [
    "NormalizedMessage",
    "Problem",
    "StreamNormalizer",
    "TextEvent",
    "ToolCallEvent",
    "iter_events",
    "make_call_id",
    "normalize_message",
    "reasoning_of",
    "REASONING_FIELDS",
]
