"""Client configs and real clients: the generated opencode.json type-checks against OpenCode's published
Config type (TypeScript, from the @opencode-ai/sdk package), and the openai SDK talks to every lab
server through the documented base URL."""

from __future__ import annotations

import json
import shutil

import pytest

from conftest import ROOT, run
from labdocs.model.loader import load

DATA = load()
CHECK = ROOT / "tools" / "opencode-check"


@pytest.fixture(scope="module")
def tsc():
    npm = shutil.which("npm")
    assert npm, "npm is needed to type-check the OpenCode config: install Node.js (Debian: nodejs npm)"
    stamp = CHECK / "node_modules" / ".package-lock.json"
    if not stamp.exists() or stamp.stat().st_mtime < (CHECK / "package-lock.json").stat().st_mtime:
        result = run([npm, "ci", "--no-audit", "--no-fund"], cwd=CHECK, timeout=600)
        assert result.returncode == 0, result.stdout + result.stderr

    def check(config: dict) -> str:
        source = CHECK / "check.generated.ts"
        source.write_text('import type { Config } from "@opencode-ai/sdk";\n'
                          f"const config: Config = {json.dumps(config, indent=2)};\nexport default config;\n")
        try:
            result = run([str(CHECK / "node_modules" / ".bin" / "tsc"), "-p", "tsconfig.json"], cwd=CHECK)
        finally:
            source.unlink()
        return "" if result.returncode == 0 else result.stdout + result.stderr

    return check


def test_generated_opencode_config_typechecks(tsc):
    config = json.loads((ROOT / "clients" / "opencode.json").read_text())
    assert tsc(config) == ""


def test_the_type_check_catches_a_wrong_key(tsc):
    config = json.loads((ROOT / "clients" / "opencode.json").read_text())
    model = next(iter(next(iter(config["provider"].values()))["models"].values()))
    model["limits"] = model.pop("limit")
    assert "'\"limits\"' does not exist" in tsc(config)


def test_opencode_config_lists_every_system_with_its_facts():
    config = json.loads((ROOT / "clients" / "opencode.json").read_text())
    assert set(config["provider"]) == set(DATA.systems)
    for key, s in DATA.systems.items():
        provider = config["provider"][key]
        assert provider["options"]["baseURL"] == f"http://{s.host}:{s.port}/v1"
        assert provider["models"][s.model.id]["limit"]["context"] == s.context_length


@pytest.mark.lab
@pytest.mark.parametrize("key", sorted(DATA.systems))
def test_openai_sdk_through_the_documented_base_url(key, documented_hosts):
    from openai import OpenAI

    s = DATA.systems[key]
    client = OpenAI(base_url=f"http://{s.host}:{s.port}/v1", api_key="not-needed", max_retries=0, timeout=60)

    models = client.models.list()
    assert [m.id for m in models] == [s.model.id]

    chat = client.chat.completions.create(model=s.model.id, max_tokens=8,
                                          messages=[{"role": "user", "content": "Say hello."}])
    assert chat.object == "chat.completion" and chat.model == s.model.id
    assert chat.choices[0].message.role == "assistant" and chat.usage.completion_tokens > 0

    chunks = list(client.chat.completions.create(model=s.model.id, max_tokens=8, stream=True,
                                                 messages=[{"role": "user", "content": "Say hello."}]))
    assert chunks and all(c.object == "chat.completion.chunk" for c in chunks)
    assert chunks[-1].choices[0].finish_reason in ("stop", "length")

    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {
        "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]
    named = client.chat.completions.create(
        model=s.model.id, max_tokens=200, tools=tools,
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
        messages=[{"role": "user", "content": "What is the weather in Paris?"}])
    calls = named.choices[0].message.tool_calls
    assert calls and calls[0].type == "function" and calls[0].function.name == "get_weather"
    assert isinstance(calls[0].function.arguments, str)
