"""Client configuration built from the data: OpenCode's opencode.json.

JSON has no comments, so clients/opencode.json carries no do-not-edit marker; it is listed as generated
in the maintenance page and checked for drift like every other generated file.
"""

from __future__ import annotations

from labdocs.model.schema import LabData

SCHEMA_URL = "https://opencode.ai/config.json"


def opencode_provider(data: LabData, key: str) -> dict:
    """One openai-compatible provider for a system, in OpenCode's provider format."""
    s = data.systems[key]
    return {
        "npm": data.clients.opencode.provider_package,
        "name": f"{s.name} ({s.host})",
        "options": {"baseURL": f"http://{s.host}:{s.port}/v1"},
        "models": {
            s.model.id: {
                "name": f"{s.model.repo} on {s.name}",
                "tool_call": True,
                "reasoning": s.reasoning is not None,
                "limit": {"context": s.context_length, "output": data.clients.opencode.output_tokens},
            }
        },
    }


def opencode_config(data: LabData) -> dict:
    return {"$schema": SCHEMA_URL,
            "provider": {key: opencode_provider(data, key)
                         for key in data.clients.opencode.systems or data.systems}}
