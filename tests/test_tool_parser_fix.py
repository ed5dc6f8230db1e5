"""The tool-calling page recommends a data change for stella: vLLM's qwen3_xml parser (or qwen3_coder)
instead of hermes. The lab shows its effect. The servers run the same tiny Qwen3-MoE model; each is made
to write the same Qwen3-Coder XML call (structured outputs force the text), and tool_choice is "auto",
so the parser alone decides what the client gets."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from conftest import ROOT
from labdocs.model.loader import load
from labdocs.observed.records import ForcedCall
from labdocs.probe.toolformat import CALL_TEXT, forced

DEPLOYED = load()
FIXED = load(ROOT / "data" / "examples" / "native-tool-parser.yaml")

pytestmark = pytest.mark.lab


def force_xml_call(lab, key: str, model_id: str) -> ForcedCall:
    url = next(s.url for s in lab.specs if s.name == key)

    async def run() -> ForcedCall:
        async with httpx.AsyncClient(base_url=url) as client:
            return await forced(client, model_id, "qwen3-xml", timeout=60)

    return asyncio.run(run())


FIXES = {"stella-xml": "qwen3_xml", "stella-next": "qwen3_coder"}


def test_the_data_change_is_the_parser_and_format():
    deployed = DEPLOYED.systems["stella"]
    assert (deployed.tool_calling.parser, deployed.tool_calling.format) == ("hermes", "qwen3-xml")
    for key, parser in FIXES.items():
        fixed = FIXED.systems[key]
        assert (deployed.model.repo, deployed.model.snapshot) == (fixed.model.repo, fixed.model.snapshot)
        assert (fixed.tool_calling.parser, fixed.tool_calling.format) == (parser, "openai")


def test_deployed_parser_leaves_qwen3_coder_calls_in_content(lab):
    result = force_xml_call(lab, "stella", DEPLOYED.systems["stella"].model.id)
    assert result.outcome == "content", result
    assert result.content.strip() == CALL_TEXT["qwen3-xml"].strip() and not result.tool_calls


@pytest.mark.parametrize("key", sorted(FIXES))
def test_native_parser_turns_the_same_output_into_tool_calls(lab, key):
    result = force_xml_call(lab, key, FIXED.systems[key].model.id)
    assert result.outcome == "parsed", result
    call = result.tool_calls[0]
    assert call.name == "get_weather" and '"Paris"' in call.arguments
