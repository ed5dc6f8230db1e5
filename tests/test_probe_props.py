"""The probe's /props check (llama.cpp's llama-server) on a small local server answering what llama-server's
/props holds: the GGUF file it opened, its context, its chat template. A different file is drift `model_file`;
an answer without model_path is evidence of another server. (The real llama-server: tests/test_status_llamacpp.py.)"""

from __future__ import annotations

import asyncio
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from labdocs.observed.records import Checks, HealthCheck, ModelsCheck, SystemRecord
from labdocs.probe import checks
from labdocs.probe.verdict import decide

FILE = "gpt-oss-120b-mxfp4-00001-of-00003.gguf"
TEMPLATE = "{%- for m in messages -%}{{ m.content }}{%- endfor -%}"


def _props(path: str, n_ctx: int = 131072) -> dict:
    return {"model_path": path, "build_info": "b1-0c1e570", "chat_template": TEMPLATE,
            "default_generation_settings": {"n_ctx": n_ctx}, "chat_template_caps": {"supports_tool_calls": True}}


@pytest.fixture
def serve():
    servers = []

    def start(body) -> str:
        payload = json.dumps(body).encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def _check(url: str, expected_file: str = FILE, context: int = 131072):
    async def go():
        async with httpx.AsyncClient(base_url=url, trust_env=False) as client:
            return await checks.props(client, 5, "/props", expected_file, context)
    return asyncio.run(go())


def _verdict(props) -> SystemRecord:
    rec = SystemRecord(system="pegasus", checks=Checks(health=HealthCheck(ok=True), props=props,
                                                       models=ModelsCheck(ok=True, served=["gpt-oss-120b"],
                                                                          id_match=True, context_match=True)))
    return decide(rec)


def test_the_documented_file_context_and_template(serve):
    rec = _check(serve(_props(f"/mnt/models/models--ggml-org--gpt-oss-120b-GGUF/snapshots/x/{FILE}")))
    assert rec.ok and rec.model_file == FILE and rec.model_file_match and rec.n_ctx == 131072 and rec.context_match
    assert rec.chat_template_chars == len(TEMPLATE) and len(rec.chat_template_sha256) == 12
    assert rec.build == "b1-0c1e570" and rec.supports_tool_calls is True
    assert rec.summary == (f"{FILE}, n_ctx 131072, chat template {len(TEMPLATE)} chars "
                           f"(sha256 {rec.chat_template_sha256}), tool calls supported by it")
    assert _verdict(rec).verdict == "up"


def test_another_file_is_drift(serve):
    rec = _check(serve(_props("/mnt/models/other/gpt-oss-20b-mxfp4.gguf")))
    assert not rec.ok and rec.model_file_match is False
    record = _verdict(rec)
    assert record.verdict == "drift" and [(d.kind, d.message) for d in record.drift] == [
        ("model_file", f"/props: serves gpt-oss-20b-mxfp4.gguf, not the documented {FILE}")]


def test_another_context_is_drift_when_the_model_list_does_not_say(serve):
    rec = _check(serve(_props(f"/m/{FILE}", n_ctx=4096)))
    assert rec.context_match is False
    assert [d.kind for d in _verdict(rec).drift] == ["context_length"]


def test_an_answer_without_model_path_is_another_server(serve):
    rec = _check(serve({"version": "0.11.1"}))
    assert not rec.ok and rec.error == "no model_path" and rec.evidence[0].kind == "not_vllm"
    assert [d.kind for d in _verdict(rec).drift] == ["not_vllm"]
