"""Incremental (streaming) tool-call extraction; also the engine behind normalize_message.

Design
------
One state machine reads the content left to right.  Outside a ``<tool_call>`` block
text is released immediately, except a trailing piece that could still grow into
``<tool_call>`` (at most 10 characters).  Inside a block nothing is released until the
block ends; then it becomes either tool call(s) or, if it cannot be parsed, its raw
text (plus a :class:`~toolcalls.model.Problem`).

* Hermes JSON bodies are delimited by a string-aware brace scan (quotes and backslash
  escapes tracked), then decoded once with ``json.JSONDecoder.raw_decode``; the literal
  ``</tool_call>`` or braces inside JSON strings therefore do not end the call.
* XML bodies are read tag by tag; a parameter value ends at ``</parameter>``, so a
  value may itself contain ``</tool_call>``.
* Everything uses ``str.find``/``startswith`` from a moving position, remembered
  search results (``_Finder``) and a bounded carry-over buffer, so total work is
  linear in the input whatever the chunking.  No regular expressions.

If the input ends inside a JSON string or an XML value (strict reading never closed),
:meth:`StreamNormalizer.finish` re-reads the open block once in *tolerant* mode: a
JSON body ends at the first ``</tool_call>`` and an XML value also ends at
``<parameter=``, ``</function>``, ``</tool_call>`` or ``<tool_call>``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any, Union

from . import hermes
from .convert import tool_parameters
from .model import (
    TOOL_CALL_END,
    TOOL_CALL_START,
    NormalizedMessage,
    Problem,
    TextEvent,
    ToolCallEvent,
    make_call_id,
)
from .qwen_xml import (
    FUNCTION_END,
    FUNCTION_PREFIX,
    MAX_NAME,
    PARAMETER_END,
    PARAMETER_PREFIX,
    build_arguments,
)

Event = Union[TextEvent, ToolCallEvent]

_WS = " \t\r\n"
START, END = TOOL_CALL_START, TOOL_CALL_END

# states
_OUT, _OPEN, _J_OBJ, _J_TOL, _J_AFTER, _X_FUNC, _X_NAME, _X_BODY, _X_PNAME, _X_PVAL, \
    _X_AFTER, _SKIP = range(12)

_PARTIAL = "<partial>"


class _Finder:
    """``str.find`` for one needle that remembers its last answer (absolute offsets).

    Queries come with non-decreasing positions; a hit ahead of the position is reused
    and a miss records how far the text is known to be free of the needle, so no
    character is searched more than about ``len(needle)`` times.
    """

    __slots__ = ("needle", "hit", "lo")

    def __init__(self, needle: str):
        self.needle = needle
        self.hit = -1
        self.lo = 0

    def find(self, buf: str, base: int, pos: int) -> int:
        if self.hit >= pos:
            return self.hit
        start = max(pos, self.lo)
        i = buf.find(self.needle, start - base)
        if i < 0:
            self.hit = -1
            self.lo = max(start, base + len(buf) - len(self.needle) + 1)
            return -1
        self.hit = base + i
        self.lo = self.hit
        return self.hit


def _trailing_backslashes(buf: str, lo: int, hi: int) -> int:
    k = hi - 1
    while k >= lo and buf[k] == "\\":
        k -= 1
    return hi - 1 - k


class StreamNormalizer:
    """Feed ``delta.content`` strings; get :class:`TextEvent` / :class:`ToolCallEvent`.

    >>> s = StreamNormalizer()
    >>> s.feed('Hi <tool_')
    [TextEvent(text='Hi ')]
    >>> [type(e).__name__ for e in s.feed('call>{"name": "f", "arguments": {}}</tool_call>')]
    ['ToolCallEvent']
    >>> s.finish()
    []
    >>> s.result().message["content"]
    'Hi'

    ``problems`` grows as blocks fail.  ``finish()`` must be called once at the end; it
    flushes held-back text and settles an open block (see the package docstring).
    """

    def __init__(
        self,
        tools: Iterable[Any] | None = None,
        *,
        coerce_untyped: bool = False,
        id_seed: str = "",
    ):
        self._tools = list(tools) if tools else []
        self._coerce = coerce_untyped
        self._seed = id_seed
        self.problems: list[Problem] = []
        self._calls: list[dict[str, Any]] = []
        self._segments: list[tuple[str, Any]] = []  # ("t", text) | ("c", call)
        self._events: list[Event] = []
        self._buf = ""
        self._pos = 0
        self._base = 0  # absolute offset of _buf[0]
        self._state = _OUT
        self._tolerant = False
        self._finished = False
        self._finders: dict[str, _Finder] = {}
        self._reset_block()

    # ------------------------------------------------------------------ public API
    def feed(self, chunk: str | None) -> list[Event]:
        """Consume one content delta; return the events it completes."""
        if self._finished:
            raise RuntimeError("feed() after finish()")
        if not chunk:
            return []
        if not isinstance(chunk, str):
            raise TypeError(f"chunk must be str, not {type(chunk).__name__}")
        if self._pos:
            self._base += self._pos
            self._buf = self._buf[self._pos:] + chunk
            self._pos = 0
        else:
            self._buf += chunk
        self._run(eof=False)
        return self._drain()

    def finish(self) -> list[Event]:
        """End of stream: flush held text and settle an unterminated block."""
        if self._finished:
            return []
        self._run(eof=True)
        self._finished = True
        self._buf = ""
        self._pos = 0
        return self._drain()

    @property
    def tool_calls(self) -> list[dict[str, Any]]:
        return list(self._calls)

    def result(self, message: dict[str, Any] | None = None) -> NormalizedMessage:
        """The assembled assistant message (after :meth:`finish`).

        ``message`` supplies the other keys (role, reasoning_content, ...).  With calls,
        ``content`` is the text around them, each piece stripped, joined by newlines,
        ``None`` if empty; without calls it is all text exactly as received.
        """
        if not self._finished:
            raise RuntimeError("result() before finish()")
        out = dict(message) if message is not None else {"role": "assistant"}
        if self._calls:
            pieces: list[str] = []
            current: list[str] = []
            for kind, value in self._segments:
                if kind == "t":
                    current.append(value)
                else:
                    pieces.append("".join(current))
                    current = []
            pieces.append("".join(current))
            text = "\n".join(p for p in (piece.strip() for piece in pieces) if p)
            out["content"] = text or None
            out["tool_calls"] = [
                {**c, "function": dict(c["function"])} for c in self._calls
            ]
        else:
            text = "".join(v for k, v in self._segments if k == "t")
            out["content"] = text if text else out.get("content")
        return NormalizedMessage(out, list(self.problems))

    # ------------------------------------------------------------------ plumbing
    def _drain(self) -> list[Event]:
        ev, self._events = self._events, []
        return ev

    def _reset_block(self) -> None:
        self._bstart = -1
        self._bparts: list[str] = []
        self._reason: tuple[str, str] | None = None
        self._warn: list[tuple[str, str]] = []
        self._kind = ""  # "json" | "xml"
        # JSON
        self._depth = 0
        self._in_str = False
        self._bs = 0
        self._ostart = -1
        self._pending: tuple[str, dict[str, Any]] | None = None
        # XML
        self._fname = ""
        self._pkey = ""
        self._vstart = -1
        self._params: list[tuple[str, int, int]] = []

    def _run(self, eof: bool) -> None:
        step = self._step
        while step(eof):
            pass

    def _find(self, needle: str) -> int:
        f = self._finders.get(needle)
        if f is None:
            f = self._finders[needle] = _Finder(needle)
        return f.find(self._buf, self._base, self._base + self._pos)

    def _emit_text(self, end: int) -> None:
        if end > self._pos:
            text = self._buf[self._pos:end]
            self._segments.append(("t", text))
            self._events.append(TextEvent(text))
            self._pos = end

    def _take(self, end: int) -> None:
        if end > self._pos:
            self._bparts.append(self._buf[self._pos:end])
            self._pos = end

    def _block_text(self) -> str:
        text = "".join(self._bparts)
        self._bparts = [text]
        return text

    def _skip_ws(self) -> int:
        buf, p, n = self._buf, self._pos, len(self._buf)
        while p < n and buf[p] in _WS:
            p += 1
        return p

    def _match_any(self, tags: tuple[str, ...], eof: bool) -> str | None:
        buf, p = self._buf, self._pos
        avail = len(buf) - p
        partial = False
        for tag in tags:
            if avail >= len(tag):
                if buf.startswith(tag, p):
                    return tag
            elif tag.startswith(buf[p:]):
                partial = True
        return _PARTIAL if partial and not eof else None

    def _to_skip(self, code: str, message: str) -> bool:
        self._reason = (code, message)
        self._state = _SKIP
        return True

    def _end_raw(self, code: str, message: str) -> bool:
        """Close the current block as raw text (kept in content) with a problem."""
        raw = self._block_text()
        if raw:
            self._segments.append(("t", raw))
            self._events.append(TextEvent(raw))
        self.problems.append(Problem(code, message, self._bstart, self._bstart + len(raw)))
        self._reset_block()
        self._state = _OUT
        return True

    def _end_unterminated(self, eof: bool) -> bool:
        if eof:
            self._take(len(self._buf))
        return self._end_raw(
            "unterminated_tool_call",
            "<tool_call> block ends before the call is complete; raw text kept",
        )

    def _complete(self, missing_end: bool) -> bool:
        """Close the current block as one tool call."""
        raw = self._block_text()
        warnings = list(self._warn)
        if self._kind == "json":
            assert self._pending is not None
            name, args = self._pending
        else:
            name = self._fname
            off = self._bstart
            params = [(k, raw[vs - off:ve - off]) for k, vs, ve in self._params]
            args, conv_warn = build_arguments(name, params, self._tools,
                                              coerce_untyped=self._coerce)
            warnings.extend(conv_warn)
        if self._tools and tool_parameters(self._tools, name) is None:
            warnings.append(("unknown_tool", f"function {name!r} is not in the request's tools"))
        if missing_end:
            warnings.append(("missing_end_tag", "</tool_call> missing; complete call parsed"))
        index = len(self._calls)
        call = {
            "id": make_call_id(self._seed, index, self._bstart, raw),
            "type": "function",
            "function": {"name": name, "arguments": json.dumps(args, ensure_ascii=False)},
        }
        end = self._bstart + len(raw)
        for code, msg in warnings:
            self.problems.append(Problem(code, msg, self._bstart, end))
        self._calls.append(call)
        self._segments.append(("c", call))
        self._events.append(ToolCallEvent(index, {**call, "function": dict(call["function"])}))
        self._reset_block()
        self._state = _OUT
        return True

    def _go_tolerant(self) -> bool:
        """Input ended inside a JSON string / XML value: re-read the block tolerantly."""
        rest = self._block_text() + self._buf[self._pos:]
        self._base = self._bstart
        self._buf = rest
        self._pos = 0
        self._reset_block()
        self._finders = {}
        self._tolerant = True
        self._state = _OUT
        return True

    # ------------------------------------------------------------------ states
    def _step(self, eof: bool) -> bool:
        st = self._state
        if st == _OUT:
            return self._st_out(eof)
        if st == _OPEN:
            return self._st_open(eof)
        if st == _J_OBJ:
            return self._st_json(eof)
        if st == _J_TOL:
            return self._st_json_tolerant()
        if st in (_J_AFTER, _X_AFTER):
            return self._st_after(eof)
        if st == _X_FUNC:
            return self._st_xml_func(eof)
        if st in (_X_NAME, _X_PNAME):
            return self._st_xml_name(eof)
        if st == _X_BODY:
            return self._st_xml_body(eof)
        if st == _X_PVAL:
            return self._st_xml_value(eof)
        return self._st_skip(eof)

    def _st_out(self, eof: bool) -> bool:
        buf = self._buf
        i = buf.find(START, self._pos)
        if i >= 0:
            self._emit_text(i)
            self._bstart = self._base + i
            self._take(i + len(START))
            self._state = _OPEN
            return True
        n = len(buf)
        if eof:
            self._emit_text(n)
            return False
        j = buf.rfind("<", max(self._pos, n - len(START) + 1))
        self._emit_text(j if j >= 0 and START.startswith(buf[j:]) else n)
        return False

    def _st_open(self, eof: bool) -> bool:
        p = self._skip_ws()
        self._take(p)
        if p >= len(self._buf):
            return self._end_unterminated(eof) if eof else False
        c = self._buf[p]
        if c == "{":
            self._kind = "json"
            self._ostart = self._base + p
            self._state = _J_TOL if self._tolerant else _J_OBJ
            return True
        if c == "<":
            self._kind = "xml"
            self._state = _X_FUNC
            return True
        return self._to_skip("unknown_format",
                             "<tool_call> body is neither a JSON object nor <function=...>")

    def _st_json(self, eof: bool) -> bool:
        buf, n = self._buf, len(self._buf)
        p = self._pos
        depth, in_str, carry = self._depth, self._in_str, self._bs
        while p < n:
            if in_str:
                q = buf.find('"', p)
                if q < 0:
                    run = _trailing_backslashes(buf, p, n)
                    carry = carry + run if run == n - p else run
                    p = n
                    break
                run = _trailing_backslashes(buf, p, q)
                if run == q - p:
                    run += carry
                carry = 0
                p = q + 1
                if run % 2 == 0:
                    in_str = False
                continue
            c = buf[p]
            if c == '"':
                in_str, carry = True, 0
                p += 1
            elif c == "{":
                depth += 1
                p += 1
            elif c == "}":
                depth -= 1
                p += 1
                if depth == 0:
                    self._take(p)
                    raw = self._block_text()
                    obj_text = raw[self._ostart - self._bstart:]
                    try:
                        name, args, end = hermes.decode_object(obj_text)
                    except hermes.ToolCallError as exc:
                        return self._to_skip(exc.code, exc.message)
                    if end != len(obj_text):  # cannot happen for valid JSON; be safe
                        return self._to_skip("malformed_json", "JSON object end mismatch")
                    self._pending = (name, args)
                    self._state = _J_AFTER
                    return True
            elif c == "<":
                self._take(p)
                tag = self._match_any((END, START), eof)
                if tag == _PARTIAL:
                    self._depth, self._in_str, self._bs = depth, in_str, carry
                    return False
                if tag == START:
                    return self._to_skip("unterminated_tool_call",
                                         "JSON object cut off by a new <tool_call>; raw text kept")
                return self._to_skip("malformed_json",
                                     "unbalanced or invalid JSON in <tool_call>; raw text kept")
            else:
                p += 1
        self._take(p)
        self._depth, self._in_str, self._bs = depth, in_str, carry
        if eof:
            return self._go_tolerant()
        return False

    def _st_json_tolerant(self) -> bool:
        # only reached at end of input: everything is in _buf
        a, b = self._find(END), self._find(START)
        stops = [x for x in (a, b) if x >= 0]
        stop = (min(stops) - self._base) if stops else len(self._buf)
        segment = self._buf[self._pos:stop]
        try:
            name, args, end = hermes.decode_object(segment)
        except hermes.ToolCallError as exc:
            if not stops and exc.code == "malformed_json":  # input simply ended
                return self._to_skip("unterminated_tool_call",
                                     "input ends inside the tool call JSON")
            return self._to_skip(exc.code, exc.message)
        if segment[end:].strip(_WS):
            return self._to_skip("malformed_json", "text after the JSON object in <tool_call>")
        self._take(self._pos + end)
        self._pending = (name, args)
        self._state = _J_AFTER
        return True

    def _st_after(self, eof: bool) -> bool:
        p = self._skip_ws()
        self._take(p)
        rest = len(self._buf) - p
        if eof and rest < len(END) and END.startswith(self._buf[p:]):  # nothing or a cut-off </tool_call
            self._take(len(self._buf))
            return self._complete(missing_end=True)
        if rest == 0:
            return False
        tag = self._match_any((END, START), eof)
        if tag == _PARTIAL:
            return False
        if tag == END:
            self._take(p + len(END))
            return self._complete(missing_end=False)
        if tag == START:
            return self._complete(missing_end=True)
        what = "JSON object" if self._state == _J_AFTER else "</function>"
        code = "malformed_json" if self._state == _J_AFTER else "malformed_xml"
        return self._to_skip(code, f"unexpected text after the {what} in <tool_call>")

    def _st_xml_func(self, eof: bool) -> bool:
        tag = self._match_any((FUNCTION_PREFIX, START), eof)
        if tag == _PARTIAL:
            return False
        if tag == FUNCTION_PREFIX:
            self._take(self._pos + len(FUNCTION_PREFIX))
            self._state = _X_NAME
            return True
        if tag == START:
            return self._end_unterminated(False)
        if eof and len(self._buf) - self._pos < len(FUNCTION_PREFIX) and \
                FUNCTION_PREFIX.startswith(self._buf[self._pos:]):
            return self._end_unterminated(True)
        return self._to_skip("malformed_xml", "<tool_call> body does not start with <function=")

    def _st_xml_name(self, eof: bool) -> bool:
        buf, p = self._buf, self._pos
        lim = min(len(buf), p + MAX_NAME + 1)
        i = buf.find(">", p, lim)
        what = "function" if self._state == _X_NAME else "parameter"
        if i < 0:
            if lim - p > MAX_NAME:
                return self._to_skip("malformed_xml", f"{what} name too long or '>' missing")
            return self._end_unterminated(True) if eof else False
        name = buf[p:i].strip()
        if not name or "<" in name:
            return self._to_skip("malformed_xml", f"invalid {what} name {buf[p:i][:40]!r}")
        self._take(i + 1)
        if self._state == _X_NAME:
            self._fname = name
            self._state = _X_BODY
        else:
            self._pkey = name
            self._vstart = self._base + i + 1
            self._state = _X_PVAL
        return True

    def _st_xml_body(self, eof: bool) -> bool:
        p = self._skip_ws()
        self._take(p)
        if p >= len(self._buf):
            return self._end_unterminated(True) if eof else False
        tag = self._match_any((PARAMETER_PREFIX, FUNCTION_END, END, START), eof)
        if tag == _PARTIAL:
            return False
        if tag == PARAMETER_PREFIX:
            self._take(p + len(PARAMETER_PREFIX))
            self._state = _X_PNAME
            return True
        if tag == FUNCTION_END:
            self._take(p + len(FUNCTION_END))
            self._state = _X_AFTER
            return True
        if tag == END:
            self._take(p + len(END))
            self._warn.append(("missing_function_end", "</function> missing before </tool_call>"))
            return self._complete(missing_end=False)
        if tag == START:
            return self._end_unterminated(False)
        if eof and any(t.startswith(self._buf[p:]) for t in (PARAMETER_PREFIX, FUNCTION_END, END)):
            return self._end_unterminated(True)
        return self._to_skip("malformed_xml", "unexpected text between XML parameters")

    def _st_xml_value(self, eof: bool) -> bool:
        buf = self._buf
        if not self._tolerant:
            i = buf.find(PARAMETER_END, self._pos)
            if i >= 0:
                self._params.append((self._pkey, self._vstart, self._base + i))
                self._take(i + len(PARAMETER_END))
                self._state = _X_BODY
                return True
            if eof:
                return self._go_tolerant()
            self._take(max(self._pos, len(buf) - len(PARAMETER_END) + 1))
            return False
        best, best_tag = -1, ""
        for tag in (PARAMETER_END, PARAMETER_PREFIX, FUNCTION_END, END, START):
            a = self._find(tag)
            if a >= 0 and (best < 0 or a < best):
                best, best_tag = a, tag
        if best < 0:
            return self._end_unterminated(True)
        self._params.append((self._pkey, self._vstart, best))
        i = best - self._base
        if best_tag == PARAMETER_END:
            self._take(i + len(PARAMETER_END))
        else:
            self._take(i)
            self._warn.append(("missing_parameter_end",
                               f"</parameter> missing after parameter {self._pkey!r}"))
        self._state = _X_BODY
        return True

    def _st_skip(self, eof: bool) -> bool:
        a, b = self._find(END), self._find(START)
        code, message = self._reason or ("malformed_tool_call", "invalid <tool_call> block")
        if a >= 0 and (b < 0 or a < b):
            self._take(a - self._base + len(END))
            return self._end_raw(code, message + "; raw text kept")
        if b >= 0:
            self._take(b - self._base)
            return self._end_raw(code, message + "; raw text kept (no </tool_call>)")
        if eof:
            self._take(len(self._buf))
            return self._end_raw(code, message + "; raw text kept (no </tool_call>)")
        self._take(max(self._pos, len(self._buf) - len(END) + 1))
        return False


def iter_events(
    chunks: Iterable[str | None],
    tools: Iterable[Any] | None = None,
    *,
    coerce_untyped: bool = False,
    id_seed: str = "",
) -> Iterator[Event]:
    """Generator over the events of a whole stream of content deltas."""
    s = StreamNormalizer(tools, coerce_untyped=coerce_untyped, id_seed=id_seed)
    for chunk in chunks:
        yield from s.feed(chunk)
    yield from s.finish()
