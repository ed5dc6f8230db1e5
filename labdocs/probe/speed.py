"""Decode speed: a short streamed chat completion, timed, read against the ceiling (labdocs/model/ceiling.py)."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field

import httpx

from labdocs.engines import DEFAULT, ENGINES
from labdocs.observed.records import SpeedCheck
from labdocs.probe.transport import describe

ENGINE = ENGINES[DEFAULT]   # the streamed chat's path and reasoning fields


def _set(rec, **values) -> None:
    for name, value in values.items():
        setattr(rec, name, value)


def _token_in(delta: dict) -> bool:
    """Did this delta carry generated text (answer, reasoning or a tool call)?"""
    for key in ("content", *ENGINE.REASONING_FIELDS, "tool_calls"):
        if delta.get(key):
            return True
    return False


@dataclass
class _Seen:
    """What the event stream has shown so far."""

    first: float | None = None          # when the first generated text arrived
    last: float | None = None
    usage_tokens: int | None = None     # completion_tokens of the final usage chunk
    done: bool = False                  # the stream ended with [DONE]
    sample: list[str] = field(default_factory=list)


async def stream_chat(client: httpx.AsyncClient, model: str, prompt: str, max_tokens: int,
                      timeout: float, total_timeout: float | None = None) -> SpeedCheck:
    """POST a streamed chat completion and time it.

    `timeout` bounds the wait for the first byte and every gap between chunks; `total_timeout`
    (default 6 x timeout) the whole stream. min_tokens = max_tokens keeps the length fixed, so decode
    speed is always measured over the same number of tokens (an early end-of-text would leave too few).
    Returns the measurement half of a SpeedCheck (never raises): ttft_s, decode_tokens_per_s, completion_tokens,
    tokens_counted_from (usage | chunks), total_s, error, error_kind (timeout, refused, unreachable,
    protocol, garbage, http, not_streamed).
    """
    body = {
        "model": model,
        "messages": [{"role": "user", "content": prompt}],
        "max_tokens": max_tokens,
        "min_tokens": max_tokens,
        "temperature": 0,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    out = SpeedCheck(ok=False, model=model, max_tokens=max_tokens, ttft_s=None, decode_tokens_per_s=None,
                     completion_tokens=None, tokens_counted_from=None, chunks_with_text=0, total_s=None,
                     finish_reason=None, sample="", error=None, error_kind=None)
    total_timeout = total_timeout or 6 * timeout
    t0 = time.perf_counter()
    seen = _Seen()
    try:
        async with asyncio.timeout(total_timeout):
            async with client.stream("POST", ENGINE.ENDPOINTS.chat, json=body) as resp:
                if not await _is_event_stream(resp, out):
                    return out
                out.status = 200
                async for line in resp.aiter_lines():
                    if not _read_line(line.strip(), out, seen):
                        break
                if out.error is not None:
                    return out
    except Exception as exc:
        kind, message = describe(exc, timeout)
        if kind == "timeout" and seen.first is not None:
            message = f"stream stalled or exceeded {total_timeout:g} s after {out.chunks_with_text} chunks"
        _set(out, error=message, error_kind=kind)
        return out
    finally:
        out.total_s = round(time.perf_counter() - t0, 3)
        out.sample = "".join(seen.sample)[:120]
    return _timed(out, seen, t0)


async def _is_event_stream(resp: httpx.Response, out: SpeedCheck) -> bool:
    """Whether the answer is a 200 event stream; if not, out says what it is instead."""
    ctype = resp.headers.get("content-type", "")
    if resp.status_code == 200 and "event-stream" in ctype:
        return True
    raw = (await resp.aread())[:2000]
    text = raw.decode("utf-8", "replace").strip()
    if resp.status_code != 200:
        message = text
        try:
            message = json.loads(raw).get("error", {}).get("message", text)
        except (ValueError, AttributeError):
            pass
        _set(out, error=f"HTTP {resp.status_code}: {str(message)[:160]}", error_kind="http", status=resp.status_code)
        return False
    try:
        json.loads(raw)
        _set(out, error="answered 200 without streaming (no text/event-stream)", error_kind="not_streamed",
             status=200)
    except ValueError:
        _set(out, error=f"not a chat completion stream: {text[:80]!r}", error_kind="garbage", status=200)
    return False


def _read_line(line: str, out: SpeedCheck, seen: _Seen) -> bool:
    """Read one line of the event stream into `seen` and `out`. False when the stream ends here: at
    [DONE], or at something that is not a chat completion stream (then out.error says what)."""
    if not line or line.startswith(":"):
        return True
    if not line.startswith("data:"):
        if line.startswith(("event:", "id:", "retry:")):
            return True
        _set(out, error=f"not server-sent events: {line[:80]!r}", error_kind="garbage")
        return False
    payload = line[5:].strip()
    if payload == "[DONE]":
        seen.done = True
        return False
    try:
        chunk = json.loads(payload)
    except ValueError:
        _set(out, error=f"a stream chunk is not JSON: {payload[:80]!r}", error_kind="garbage")
        return False
    if not isinstance(chunk, dict):
        _set(out, error=f"a stream chunk is not an object: {payload[:80]!r}", error_kind="garbage")
        return False
    if chunk.get("error"):
        message = chunk["error"].get("message") if isinstance(chunk["error"], dict) else chunk["error"]
        _set(out, error=f"error in stream: {str(message)[:160]}", error_kind="http")
        return False
    _read_chunk(chunk, out, seen, time.perf_counter())
    return True


def _read_chunk(chunk: dict, out: SpeedCheck, seen: _Seen, now: float) -> None:
    for choice in chunk.get("choices") or []:
        delta = choice.get("delta") or {}
        if _token_in(delta):
            seen.first = seen.first if seen.first is not None else now
            seen.last = now
            out.chunks_with_text += 1
            if len("".join(seen.sample)) < 120:
                seen.sample.append(str(delta.get("content") or ENGINE.reasoning_text(delta)))
        if choice.get("finish_reason"):
            out.finish_reason = choice["finish_reason"]
    usage = chunk.get("usage")
    if isinstance(usage, dict) and isinstance(usage.get("completion_tokens"), int):
        seen.usage_tokens = usage["completion_tokens"]


def _timed(out: SpeedCheck, seen: _Seen, t0: float) -> SpeedCheck:
    """TTFT and decode speed from a stream that ended: the first token's time is TTFT; the remaining
    tokens-1 came in (last - first)."""
    if seen.first is None:
        _set(out, error="the stream carried no generated text", error_kind="garbage" if not seen.done else "empty")
        return out
    tokens = seen.usage_tokens if seen.usage_tokens is not None else out.chunks_with_text
    out.tokens_counted_from = "usage" if seen.usage_tokens is not None else "chunks"
    out.completion_tokens = tokens
    out.ttft_s = round(seen.first - t0, 4)
    if tokens >= 2 and seen.last > seen.first:
        out.decode_tokens_per_s = round((tokens - 1) / (seen.last - seen.first), 2)
    else:
        out.error = f"too few tokens to time decode ({tokens})"
        out.error_kind = "too_short"
        return out
    out.ok = True
    return out
