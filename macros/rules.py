"""Rules that span several fields. Each returns (key path, message, hint) so errors name their key."""

from __future__ import annotations

from collections.abc import Iterator

from .errors import key_path
from .schema import LabData

Problem = tuple[tuple, str, str | None]

# vLLM tool-call parsers that produce each client-visible format.
PARSERS_FOR_FORMAT = {
    "openai": {"openai"},
    "hermes": {"hermes"},
    "qwen3-xml": {"qwen3_coder", "qwen3_xml"},
}

# Flags the generator sets from dedicated fields; setting them in vllm_args would say a fact twice.
RESERVED_FLAGS = {
    "model": "model.id",
    "served-model-name": "model.id",
    "host": "(always 0.0.0.0 inside the container)",
    "port": "port",
    "max-model-len": "context_length",
    "tool-call-parser": "tool_calling.parser",
    "enable-auto-tool-choice": "tool_calling.auto_tool_choice",
    "reasoning-parser": "reasoning.parser",
}


def expected_model_id(data: LabData, repo: str, snapshot: str) -> str:
    org, name = repo.split("/", 1)
    return f"{data.infrastructure.nfs.container_path}/models--{org}--{name}/snapshots/{snapshot}"


def _unique(items: Iterator[tuple[tuple, object]], what: str, owner: str = "system") -> Iterator[Problem]:
    seen: dict[object, tuple] = {}
    for loc, value in items:
        if value in seen:
            yield loc, f"{what} {value!r} is already used by {key_path(seen[value])}", f"each {owner} needs its own {what}"
        else:
            seen[value] = loc


def check(data: LabData) -> Iterator[Problem]:
    systems = data.systems
    yield from _unique(((("systems", k, "host"), s.host) for k, s in systems.items()), "host name")
    yield from _unique(
        ((("systems", k, "container_name"), s.container_name) for k, s in systems.items()), "container name")
    yield from _unique(((("systems", k, "ssh", "alias"), s.ssh.alias) for k, s in systems.items()), "ssh alias")
    yield from _unique(
        ((("systems", k, "port"), f"{s.host}:{s.port}") for k, s in systems.items()), "host address and port")
    yield from _unique(((("known_issues", i, "id"), ki.id) for i, ki in enumerate(data.known_issues)), "id", "known issue")

    domain = data.infrastructure.dns.domain
    for key, s in systems.items():
        base = ("systems", key)
        if not s.host.endswith("." + domain):
            yield base + ("host",), f"{s.host!r} is not in the lab's DNS domain {domain!r}", \
                f"use a name like {key}.{domain}, or change infrastructure.dns.domain"
        if s.hardware.platform not in data.platforms:
            yield base + ("hardware", "platform"), f"unknown platform {s.hardware.platform!r}", \
                f"use one of: {', '.join(data.platforms)}"
        if s.model.quantization not in data.quantizations:
            yield base + ("model", "quantization"), f"unknown quantization {s.model.quantization!r}", \
                f"use one of: {', '.join(data.quantizations)}, or add it under quantizations:"
        if s.image not in data.images:
            yield base + ("image",), f"unknown image {s.image!r}", f"use one of: {', '.join(data.images)}"
        allowed = PARSERS_FOR_FORMAT[s.tool_calling.format]
        if s.tool_calling.parser not in allowed:
            yield base + ("tool_calling", "parser"), (
                f"parser {s.tool_calling.parser!r} does not produce the declared format "
                f"{s.tool_calling.format!r}"), f"for format {s.tool_calling.format!r} use: {', '.join(sorted(allowed))}"
        want = expected_model_id(data, s.model.repo, s.model.snapshot)
        if s.model.id != want:
            yield base + ("model", "id"), f"{s.model.id!r} does not match model.repo and model.snapshot", \
                f"vLLM reports the served path: {want}"
        if s.model.active_params_b > s.model.params_b:
            yield base + ("model", "active_params_b"), \
                f"{s.model.active_params_b:g} is larger than params_b ({s.model.params_b:g})", \
                "active parameters are the subset used per token (for a dense model, the same as params_b)"
        for flag in s.vllm_args:
            if flag in RESERVED_FLAGS:
                yield base + ("vllm_args", flag), f"--{flag} is generated, not set here", \
                    f"set {RESERVED_FLAGS[flag]} instead"

    for key, image in data.images.items():
        if image.build and image.build.platform not in data.platforms:
            yield ("images", key, "build", "platform"), f"unknown platform {image.build.platform!r}", \
                f"use one of: {', '.join(data.platforms)}"
    built = [k for k, i in data.images.items() if i.build]
    if len(built) > 1:
        yield ("images", built[1], "build"), "only one image can be built by vllm-gb10/", \
            f"{built[0]!r} already has a build block"

    for i, issue in enumerate(data.known_issues):
        for j, ref in enumerate(issue.systems):
            if ref not in systems:
                yield ("known_issues", i, "systems", j), f"unknown system {ref!r}", f"use one of: {', '.join(systems)}"
    for j, ref in enumerate(data.clients.opencode.systems):
        if ref not in systems:
            yield ("clients", "opencode", "systems", j), f"unknown system {ref!r}", f"use one of: {', '.join(systems)}"
