"""One HTTP exchange with a probed server, reduced to what the checks need, never raising.

Every failure becomes a `Reply` with `error_kind`:
  refused      nothing listens (connection refused)
  timeout      no complete answer within the timeout (connect, read or the whole exchange)
  unreachable  no route, DNS failure, connection reset before an answer
  protocol     something answered, but not HTTP (garbage on the wire)
"""

from __future__ import annotations

import asyncio
import errno
import json
import time
from dataclasses import dataclass
from typing import Any

import httpx


@dataclass
class Reply:
    status: int | None = None
    body: bytes = b""
    content_type: str = ""
    latency_ms: float | None = None
    error: str | None = None
    error_kind: str | None = None  # refused | timeout | unreachable | protocol

    @property
    def transport_ok(self) -> bool:
        return self.error_kind is None

    @property
    def down(self) -> bool:
        """The host did not answer at all (as opposed to answering nonsense)."""
        return self.error_kind in {"refused", "timeout", "unreachable"}

    def body_kind(self) -> str:
        """json | html | empty | text: what the body looks like, whatever the content type claims."""
        text = self.body.strip()
        if not text:
            return "empty"
        if "html" in self.content_type.lower() or text[:1] == b"<":
            return "html"
        try:
            json.loads(text)
        except ValueError:
            return "text"
        return "json"

    def json(self) -> Any:
        return json.loads(self.body)

    def excerpt(self, n: int = 80) -> str:
        text = self.body.decode("utf-8", "replace").strip().replace("\n", " ")
        return text[:n] + ("..." if len(text) > n else "")


def describe(exc: BaseException, timeout: float) -> tuple[str, str]:
    """(error_kind, message) for an exception raised by httpx or asyncio."""
    if isinstance(exc, (httpx.TimeoutException, TimeoutError, asyncio.TimeoutError)):
        return "timeout", f"no answer within {timeout:g} s"
    if isinstance(exc, httpx.ConnectError):
        text = str(exc) or type(exc).__name__
        codes, texts, link = set(), [text.lower()], exc
        for _ in range(8):  # httpx -> httpcore -> OSError -> ConnectionRefusedError
            link = link.__cause__ or link.__context__
            if link is None:
                break
            codes.add(getattr(link, "errno", None))
            texts.append(str(link).lower())
        text_all = " ".join(texts)
        if errno.ECONNREFUSED in codes or "refused" in text_all:
            return "refused", "connection refused"
        if any(m in text_all for m in ("name or service not known", "nodename nor servname",
                                       "temporary failure in name resolution", "no address associated")):
            return "unreachable", "host name does not resolve"
        return "unreachable", f"cannot connect: {text}"
    if isinstance(exc, (httpx.RemoteProtocolError, httpx.DecodingError)):
        return "protocol", f"not an HTTP answer: {exc}"
    if isinstance(exc, httpx.TransportError):
        return "unreachable", f"{type(exc).__name__}: {exc or 'connection lost'}"
    return "protocol", f"{type(exc).__name__}: {exc}"


async def fetch(client: httpx.AsyncClient, method: str, path: str, *, timeout: float,
                json_body: Any = None, max_bytes: int = 4 << 20) -> Reply:
    """One request with a hard limit on the whole exchange (a server that trickles bytes
    cannot hold the probe longer than `timeout`)."""
    t0 = time.perf_counter()
    try:
        async with asyncio.timeout(timeout):
            async with client.stream(method, path, json=json_body) as resp:
                chunks, size = [], 0
                async for chunk in resp.aiter_bytes():
                    chunks.append(chunk)
                    size += len(chunk)
                    if size > max_bytes:
                        break
                return Reply(status=resp.status_code, body=b"".join(chunks)[:max_bytes],
                             content_type=resp.headers.get("content-type", ""),
                             latency_ms=round((time.perf_counter() - t0) * 1000, 1))
    except Exception as exc:  # every failure is a result here
        kind, message = describe(exc, timeout)
        return Reply(error=message, error_kind=kind, latency_ms=round((time.perf_counter() - t0) * 1000, 1))
