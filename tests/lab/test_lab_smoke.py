"""Smoke test of the loopback lab: two real vLLM CPU servers, reached by their
documented host names, serve the documented model ids and parse tool calls.

Run: .venv/bin/python -m pytest tests/lab -m lab
(first run creates .lab/venv, ~2-3 min; later runs start in ~1 min)
"""
from __future__ import annotations

import json

import pytest

from labdocs.lab import ServerSpec

pytestmark = [pytest.mark.lab, pytest.mark.slow]

PEGASUS_MODEL = "/models/models--openai--gpt-oss-120b/snapshots/b5c939de8f754692c1647ca79fbf85e8c1e70f8a"
STELLA_MODEL = "/models/models--Qwen--Qwen3-Coder-30B-A3B-Instruct/snapshots/b2cff646eb4bb1d68355c01b18ae02e7cf42d120"
SPECS = [
    ServerSpec(name="pegasus", address="127.0.0.2", port=8000, served_model_name=PEGASUS_MODEL,
               max_model_len=131072, family="gpt_oss", tool_call_parser="openai"),
    ServerSpec(name="stella", address="127.0.0.3", port=8000, served_model_name=STELLA_MODEL,
               max_model_len=204800, family="qwen3_moe", tool_call_parser="hermes"),
]

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather in a city",
        # strict pins the arguments to the schema (vLLM 0.32 otherwise only
        # constrains the call envelope; a random model then writes any JSON).
        "strict": True,
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                       "required": ["city"], "additionalProperties": False},
    },
}


def _same(a: ServerSpec, b: ServerSpec) -> bool:
    keys = ("address", "port", "served_model_name", "max_model_len", "tool_call_parser")
    return all(getattr(a, k) == getattr(b, k) for k in keys)


@pytest.fixture(scope="module")
def smoke_lab(lab):
    """The session's lab (tests/conftest.py, from the data file): one start serves every test."""
    for spec in SPECS:
        assert any(_same(spec, running) for running in lab.specs), f"the data no longer matches {spec.name}"
    return lab


def _curl_json(lab, *args: str) -> dict:
    out = lab.run(["curl", "-sS", "--max-time", "60", *args], capture_output=True, text=True, timeout=90)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_models_by_documented_hostname(smoke_lab):
    body = _curl_json(smoke_lab, "http://stella.home.arpa:8000/v1/models")
    assert body["object"] == "list"
    [model] = body["data"]
    assert model["id"] == STELLA_MODEL
    assert model["max_model_len"] == 204800


@pytest.mark.parametrize("system, model", [("pegasus", PEGASUS_MODEL), ("stella", STELLA_MODEL)],
                         ids=["pegasus", "stella"])
def test_named_tool_choice_is_parsed(smoke_lab, system, model):
    request = {
        "model": model,
        "messages": [{"role": "user", "content": "What is the weather in Paris?"}],
        "tools": [WEATHER_TOOL],
        "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
        "max_tokens": 200,
    }
    body = _curl_json(smoke_lab, f"http://{system}.home.arpa:8000/v1/chat/completions",
                      "-H", "Content-Type: application/json", "-d", json.dumps(request))
    assert body["object"] == "chat.completion"
    message = body["choices"][0]["message"]
    assert message["role"] == "assistant"
    calls = message["tool_calls"]
    assert isinstance(calls, list) and len(calls) >= 1, body
    call = calls[0]
    assert call["type"] == "function"
    assert isinstance(call["id"], str) and call["id"]
    assert call["function"]["name"] == "get_weather"
    args = json.loads(call["function"]["arguments"])
    assert set(args) == {"city"} and isinstance(args["city"], str)
