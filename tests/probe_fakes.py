"""Small local servers for the probe's fault cases, each on its own 127.0.0.x address and a free port.

FakeVLLM imitates what the probe reads from a vLLM server (health, version, model list, metrics with
older vLLM metric names, streamed chat with usage, and the tool-call parser's handling of a forced
call under tool_choice=auto); the others misbehave in one way each. Stdlib only; every server runs in
a daemon thread and is closed by stop().
"""

from __future__ import annotations

import json
import re
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CUT_SYNTAX = {  # what tool_choice=required shows when cut short, per parser (vLLM 0.3x behaviour)
    "hermes": '<tool_call>{"name": "get',
    "qwen3_coder": "<tool_call>\n<function=get_weather",
    "openai": "<|channel|>commentary to=functions.get_weather",
}


# What the fake "model" writes when it calls the tool by itself (natural=...).
NATURAL_CALL = {
    "hermes": '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Oslo"}}\n</tool_call>',
    "qwen3-xml": "<tool_call>\n<function=get_weather>\n<parameter=city>\nOslo\n</parameter>\n</function>\n</tool_call>",
}


def _unregex(regex: str) -> str:
    """The literal text of a regex that only escapes characters (what the probe sends)."""
    return re.sub(r"\\(.)", lambda m: "\n" if m.group(1) == "n" else m.group(1), regex)


def _parse(parser: str | None, text: str) -> tuple[list[dict], str | None]:
    """(tool_calls, content) as the named vLLM parser would return them for `text`."""
    if parser == "hermes":
        m = re.fullmatch(r"\s*<tool_call>\s*(.*?)\s*</tool_call>\s*", text, re.S)
        if m:
            try:
                call = json.loads(m.group(1))
                return [{"id": "call_1", "type": "function", "function": {
                    "name": call["name"], "arguments": json.dumps(call.get("arguments", {}))}}], None
            except (ValueError, KeyError, TypeError):
                pass
    if parser in ("qwen3_coder", "qwen3_xml"):
        m = re.search(r"<function=([^>]+)>(.*?)</function>", text, re.S)
        if m:
            args = dict(re.findall(r"<parameter=([^>]+)>\n?(.*?)\n?</parameter>", m.group(2), re.S))
            return [{"id": "call_1", "type": "function",
                     "function": {"name": m.group(1), "arguments": json.dumps(args)}}], None
    return [], text


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class _Base:
    """An HTTP server on (address, free port) in a thread."""

    handler: type[BaseHTTPRequestHandler]

    def __init__(self, address: str):
        owner = self

        class Handler(self.handler):  # type: ignore[misc, valid-type]
            fake = owner

            def log_message(self, *args):  # quiet
                pass

        self.httpd = _Server((address, 0), Handler)
        self.address, self.port = self.httpd.server_address[:2]
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://{self.address}:{self.port}"

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class _VLLMHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    fake: "FakeVLLM"

    def _send(self, status: int, body: bytes | str | dict, ctype: str = "application/json") -> None:
        if isinstance(body, dict):
            body = json.dumps(body)
        if isinstance(body, str):
            body = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        f = self.fake
        if self.path == "/health":
            return self._send(200, b"", "text/plain")
        if self.path == "/version":
            return self._send(200, {"version": "0.9.2-fake"})
        if self.path == "/v1/models":
            return self._send(200, {"object": "list", "data": [
                {"id": f.model_id, "object": "model", "owned_by": "vllm", "max_model_len": f.max_model_len}]})
        if self.path == "/metrics":
            # Names of the V0 engine (vLLM <= 0.8): the probe must read them as well as today's.
            lines = [
                "# HELP vllm:num_requests_running Number of requests running.",
                "# TYPE vllm:num_requests_running gauge",
                f'vllm:num_requests_running{{model_name="{f.model_id}"}} 1.0',
                "# TYPE vllm:num_requests_waiting gauge",
                f'vllm:num_requests_waiting{{model_name="{f.model_id}"}} 2.0',
                "# TYPE vllm:gpu_cache_usage_perc gauge",
                f'vllm:gpu_cache_usage_perc{{model_name="{f.model_id}"}} 0.125',
                "# TYPE vllm:gpu_prefix_cache_hit_rate gauge",
                f'vllm:gpu_prefix_cache_hit_rate{{model_name="{f.model_id}"}} 0.5',
                "# TYPE vllm:generation_tokens counter",
                f'vllm:generation_tokens_total{{model_name="{f.model_id}"}} {f.generated}.0',
            ]
            return self._send(200, "\n".join(lines) + "\n", "text/plain; version=0.0.4")
        return self._send(404, {"detail": "Not Found"})

    def do_POST(self):
        f = self.fake
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        if self.path != "/v1/chat/completions":
            return self._send(404, {"detail": "Not Found"})
        if body.get("model") != f.model_id:
            return self._send(404, {"error": {"message": f"The model `{body.get('model')}` does not exist.",
                                              "type": "NotFoundError", "code": 404}})
        if body.get("stream"):
            return self._stream(body)
        choice = body.get("tool_choice")
        content, calls, finish = "one two three", [], "stop"
        if body.get("tools") and choice == "auto":
            if not f.parser:
                return self._send(400, {"error": {"message": '"auto" tool choice requires '
                                                  "--enable-auto-tool-choice and --tool-call-parser to be set",
                                                  "type": "BadRequestError", "code": 400}})
            regex = (body.get("structured_outputs") or {}).get("regex")
            if regex:
                calls, content = _parse(f.parser, _unregex(regex))
            elif f.natural:
                calls, content = _parse(f.parser, NATURAL_CALL[f.natural])
        elif body.get("tools") and choice == "required":
            if body.get("max_tokens", 100) < 20:
                content, finish = CUT_SYNTAX.get(f.parser, '[{"name": "get'), "length"
            else:
                calls, content = [{"id": "call_2", "type": "function", "function": {
                    "name": "get_weather", "arguments": '{"city": "x"}'}}], None
        f.generated += 3
        message = {"role": "assistant", "content": content, "tool_calls": calls}
        return self._send(200, {"object": "chat.completion", "model": f.model_id, "choices": [
            {"index": 0, "message": message, "finish_reason": "tool_calls" if calls else finish}],
            "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8}})

    def _stream(self, body: dict) -> None:
        f = self.fake
        # The fake "model" ends its answer after 3 tokens, unless min_tokens holds it longer.
        n = min(int(body.get("max_tokens") or 16), max(3, int(body.get("min_tokens") or 0)))
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()

        def chunk(delta: dict | None = None, finish=None, usage=None) -> None:
            obj = {"object": "chat.completion.chunk", "model": f.model_id,
                   "choices": [] if usage else [{"index": 0, "delta": delta or {}, "finish_reason": finish}]}
            if usage:
                obj["usage"] = usage
            self.wfile.write(f"data: {json.dumps(obj)}\n\n".encode())
            self.wfile.flush()

        chunk({"role": "assistant", "content": ""})
        for i in range(n):
            chunk({"content": f" w{i}"})
        chunk({}, finish="length")
        if (body.get("stream_options") or {}).get("include_usage"):
            chunk(usage={"prompt_tokens": 9, "completion_tokens": n, "total_tokens": 9 + n})
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()
        f.generated += n
        self.close_connection = True


class FakeVLLM(_Base):
    """A vLLM look-alike serving `model_id`; parser: hermes | qwen3_coder | openai | None (auto off);
    natural: the call format its "model" writes unprompted under tool_choice=auto (None: no call)."""

    handler = _VLLMHandler

    def __init__(self, address: str, model_id: str, max_model_len: int, parser: str | None = "hermes",
                 natural: str | None = None):
        self.model_id, self.max_model_len, self.parser, self.generated = model_id, max_model_len, parser, 0
        self.natural = natural
        super().__init__(address)


class _Fixed(BaseHTTPRequestHandler):
    status, ctype, body = 200, "text/plain", b""

    def do_GET(self):
        self.send_response(self.status)
        self.send_header("Content-Type", self.ctype)
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    do_POST = do_GET


class GarbageBody(_Base):
    """200 with bytes that are no JSON, no Prometheus text, no event stream, for every path."""

    class handler(_Fixed):
        body = b"\x00\x17garbage%%% 42 {{not json"


class HtmlPage(_Base):
    """A web server's page (200, text/html) for every path: something else holds the port."""

    class handler(_Fixed):
        ctype = "text/html"
        body = b"<!DOCTYPE html><html><head><title>Welcome to nginx!</title></head><body>hi</body></html>"


class NotFound(_Base):
    """404 with a JSON body for every path (an API that is not vLLM's)."""

    class handler(_Fixed):
        status, ctype, body = 404, "application/json", b'{"detail":"Not Found"}'


class _Socket:
    def __init__(self, address: str):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((address, 0))
        self.address, self.port = self.sock.getsockname()[:2]

    @property
    def url(self) -> str:
        return f"http://{self.address}:{self.port}"


class Silent(_Socket):
    """Accepts connections (the kernel does, from the backlog) and never answers."""

    def __init__(self, address: str):
        super().__init__(address)
        self.sock.listen(16)

    def stop(self) -> None:
        self.sock.close()


class WireGarbage(_Socket):
    """Answers every connection with bytes that are not HTTP, then closes."""

    def __init__(self, address: str):
        super().__init__(address)
        self.sock.listen(16)
        self.sock.settimeout(0.1)
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            with conn:
                try:
                    conn.recv(4096)
                    conn.sendall(b"\xff\xfe SSH-2.0-nope \x00\x01\r\n\r\n")
                except OSError:
                    pass

    def stop(self) -> None:
        self._stop.set()
        self.thread.join(2)
        self.sock.close()


def refused_url(address: str) -> str:
    """An address:port where nothing listens (bound, then released)."""
    s = _Socket(address)
    url = s.url
    s.sock.close()
    return url
