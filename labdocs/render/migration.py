"""A "what changes" page for a system whose engine or model changes between two data files (issue 18, point 4),
and the CHANGELOG entry for the switch. Every value comes from the two loaded data sets and the engines' own
interfaces (model id, reasoning fields, client format, endpoints); nothing is recomputed in the template.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from labdocs import hf_cache
from labdocs.model.schema import LabData
from labdocs.model.loader import load
from labdocs.render.views import SystemView, environment, marker, num

TEMPLATE = "migration/MIGRATION.md.j2"
CHANGELOG_TEMPLATE = "migration/CHANGELOG-entry.md.j2"
EXAMPLE = ("data/examples/pegasus-llamacpp.yaml", "pegasus")   # the bundled switch, committed and drift-checked
EXAMPLE_PAGE = "data/examples/pegasus-llamacpp.MIGRATION.md"


class MigrationError(ValueError):
    """The two data files do not both hold the system."""


@dataclass(frozen=True)
class Row:
    aspect: str
    old: str
    new: str

    @property
    def changed(self) -> bool:
        return self.old != self.new


def _files(v: SystemView) -> str:
    m = v.s.model
    if m.gguf:
        kind = f"GGUF, {len(m.gguf)} shard(s): " + ", ".join(m.gguf)
    else:
        kind = "HF snapshot (safetensors)"
        if m.files:
            kind += f", {m.files.safetensors} file(s)"
    where = hf_cache.snapshot_path(v.models_source, m.repo, m.snapshot)
    size = f", {num(m.files.size_gib)} GiB" if m.files else ", size not recorded"
    return f"{kind}{size}, in {where}"


def _speed(v: SystemView) -> str:
    s = v.s.speed
    if s.decode_tokens_per_s is None:
        return "not measured yet"
    how = f"estimate: {s.estimate}" if s.estimate else v.cite_plain(s.source)
    return f"{num(s.decode_tokens_per_s)} tok/s decode ({how})"


def _runs(v: SystemView) -> str:
    if v.image:
        return f"{v.s.engine} in {v.service_manager}, image {v.image.ref}"
    return f"{v.s.engine} under {v.service_manager}, unit {v.ops.unit}"


def rows(old: SystemView, new: SystemView) -> list[Row]:
    """Old vs new, one row per aspect a reader or a client notices."""
    def both(aspect, f):
        return Row(aspect, str(f(old)), str(f(new)))
    return [
        both("Engine and service manager", _runs),
        both("Start command", lambda v: " ".join(v.argv)),
        both("Model repository", lambda v: v.s.model.repo),
        both("Model files", _files),
        both("Quantization", lambda v: v.s.model.quantization),
        both("Context length (tokens)", lambda v: v.context_tokens),
        both("Expected decode speed", _speed),
        both("API base URL", lambda v: v.openai_base),
        both("Model id (as /v1/models reports it)", lambda v: v.s.model.id),
        both("Reasoning field", lambda v: ", ".join(v.reasoning_fields) or "none"),
        both("Tool calls reach clients as", lambda v: v.s.tool_calling.format),
        both("Health endpoint", lambda v: v.engine.ENDPOINTS.health),
        both("Metrics endpoint", lambda v: v.engine.ENDPOINTS.metrics or "none"),
    ]


def views(old_data: LabData, new_data: LabData, key: str) -> tuple[SystemView, SystemView]:
    for label, data in (("--from", old_data), ("--to", new_data)):
        if key not in data.systems:
            raise MigrationError(f"{label}: no system {key!r}; its systems: {', '.join(data.systems)}")
    return (SystemView(old_data, key, old_data.systems[key]), SystemView(new_data, key, new_data.systems[key]))


def _context(old_data, new_data, key, old_source, new_source):
    old, new = views(old_data, new_data, key)
    return {"old": old, "new": new, "rows": rows(old, new), "key": key,
            "old_source": old_source, "new_source": new_source}


def page(old_data: LabData, new_data: LabData, key: str, old_source: str, new_source: str) -> str:
    """The Markdown page; its marker names the target data file (the change the page describes)."""
    ctx = _context(old_data, new_data, key, old_source, new_source)
    ctx["marker"] = marker(new_source, f"templates/{TEMPLATE}", "html")
    ctx["changelog"] = changelog(old_data, new_data, key, old_source, new_source)
    return _env().get_template(TEMPLATE).render(ctx)


def changelog(old_data: LabData, new_data: LabData, key: str, old_source: str, new_source: str) -> str:
    """A Keep a Changelog entry (### Changed, ### Removed) for the switch, to paste under Unreleased."""
    return _env().get_template(CHANGELOG_TEMPLATE).render(_context(old_data, new_data, key, old_source, new_source))


def _env():
    return environment()


def example_page(root: Path, base: LabData, base_source: str) -> dict[str, str]:
    """The bundled example's page, for the drift check (generated with data/systems.yaml)."""
    rel, key = EXAMPLE
    # A lab of its own (an adopter's data, a lab made from an example) has no such system to migrate.
    if key not in base.systems or not (root / rel).is_file():
        return {}
    return {EXAMPLE_PAGE: page(base, load(root / rel), key, base_source, rel)}
