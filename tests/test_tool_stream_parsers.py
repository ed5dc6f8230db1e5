"""Streaming and the tool-call parser, shown in the lab: every server is made to write the same
Qwen3-Coder XML call (structured outputs force the text, as the probe's format check does) with
tool_choice "auto" and stream=True. Stella's `hermes` parser drops the call: it holds everything after
`<tool_call>` as partial JSON that never parses, so neither `content` nor `tool_calls` carries it and a
client-side normalizer sees nothing. vLLM's parsers for the format (`qwen3_xml`, `qwen3_coder`) stream it
as `tool_calls`. The same servers without streaming: tests/test_tool_parser_fix.py."""

from __future__ import annotations

import json

import httpx
import pytest

from conftest import ROOT
from labdocs.model.loader import load
from labdocs.probe.toolformat import CALL_TEXT, PROMPT, TOOL, regex_for

DEPLOYED = load()
FIXED = load(ROOT / "data" / "examples" / "native-tool-parser.yaml")

pytestmark = pytest.mark.lab


def stream_forced_xml_call(lab, key: str, model_id: str) -> dict:
    """Stream one forced Qwen3-Coder XML call; return the content and the assembled tool calls."""
    url = next(s.url for s in lab.specs if s.name == key)
    body = {"model": model_id, "messages": [{"role": "user", "content": PROMPT}], "temperature": 0,
            "tools": [TOOL], "tool_choice": "auto", "max_tokens": 128, "stream": True,
            "structured_outputs": {"regex": regex_for(CALL_TEXT["qwen3-xml"])}}
    content, calls, finish = [], {}, None
    with httpx.stream("POST", f"{url}/v1/chat/completions", json=body, timeout=120) as response:
        response.raise_for_status()
        for line in response.iter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            choice = json.loads(line[6:])["choices"][0]
            delta = choice.get("delta") or {}
            content.append(delta.get("content") or "")
            for call in delta.get("tool_calls") or []:
                slot = calls.setdefault(call.get("index", 0), {"name": "", "arguments": ""})
                fn = call.get("function") or {}
                slot["name"] += fn.get("name") or ""
                slot["arguments"] += fn.get("arguments") or ""
            finish = choice.get("finish_reason") or finish
    return {"content": "".join(content), "tool_calls": [calls[i] for i in sorted(calls)], "finish_reason": finish}


def test_streaming_with_hermes_loses_a_qwen3_coder_call(lab):
    stella = DEPLOYED.systems["stella"]
    assert stella.tool_calling.parser == "hermes"
    result = stream_forced_xml_call(lab, "stella", stella.model.id)
    assert result["tool_calls"] == [], result
    assert "<function=get_weather>" not in result["content"] and "Paris" not in result["content"], result


@pytest.mark.parametrize("key", ["stella-xml", "stella-next"])
def test_streaming_with_a_qwen3_parser_keeps_the_call(lab, key):
    system = FIXED.systems[key]
    result = stream_forced_xml_call(lab, key, system.model.id)
    assert [c["name"] for c in result["tool_calls"]] == ["get_weather"], (system.tool_calling.parser, result)
    assert json.loads(result["tool_calls"][0]["arguments"]) == {"city": "Paris"}
    # The call's text stays out of content; vLLM 0.32 does stream the opening "<tool_call>" tag itself as
    # content before the parser takes over (seen in the lab), which a client shows as a stray tag.
    assert "<function=" not in result["content"] and "Paris" not in result["content"], result
