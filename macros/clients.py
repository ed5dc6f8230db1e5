"""Client configuration built from the data: OpenCode's opencode.json."""

from __future__ import annotations

from .render import SystemView
from .schema import LabData


def opencode_config(data: LabData) -> dict:
    """An opencode.json with one openai-compatible provider per system (OpenCode's config format)."""
    oc = data.clients.opencode
    providers = {}
    for key in oc.systems:
        view = SystemView(data, key, data.systems[key])
        s = view.s
        providers[key] = {
            "npm": oc.provider_package,
            "name": f"{s.name} ({s.host})",
            "options": {"baseURL": view.openai_base},
            "models": {
                s.model.id: {
                    "name": s.model.repo,
                    "limit": {"context": s.context_length, "output": oc.output_tokens},
                }
            },
        }
    return {"$schema": "https://opencode.ai/config.json", "provider": providers}
