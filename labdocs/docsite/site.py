"""Variables and macros for the hand-written pages under docs/ (mkdocs-macros)."""

from __future__ import annotations

from labdocs.docsite import layout
from labdocs.docsite.hooks.nav_scope import max_children
from labdocs import hf_cache
from labdocs.model.loader import load
from pathlib import Path

from labdocs.paths import DATA_FILE
from labdocs.model.operations import fstab_line, mount_command
from labdocs.render.views import SystemView, system_views
from labdocs.render.views import attribute, num
from labdocs.model.schema import FORGES


def forced_call_regex() -> dict[str, str]:
    """{text format: a Python string literal of the regex that pins a model's output to one get_weather
    call}: the same text `make status` forces (labdocs/probe/toolformat.py)."""
    import json

    from labdocs.probe.toolformat import CALL_TEXT, regex_for

    return {fmt: json.dumps(regex_for(text)) for fmt, text in CALL_TEXT.items()}


def by_parser(views: list[SystemView]) -> list[dict]:
    """Systems grouped by tool-call parser and format, in data order: what a client sees depends on
    those two, not on the system, so pages show one example per group (a tab each) rather than one
    per system, which a lab of many systems could neither read nor build quickly."""
    groups: dict[tuple, dict] = {}
    for v in views:
        key = (v.s.tool_calling.parser, v.s.tool_calling.format, v.s.model.family)
        groups.setdefault(key, {"v": v, "systems": []})["systems"].append(v)
    for g in groups.values():
        more = len(g["systems"]) - 1
        g["label"] = g["v"].s.name + (f" and {more} more" if more else "")
        g["paths"] = g["v"].tool_paths
        g["forced"] = g["v"].data.model_families[g["v"].s.model.family].forced_tool_choice
    return list(groups.values())


def trim_blocks(env) -> None:
    """Same whitespace rules as the generator's templates, so `{% for %}` lines don't break tables.
    mkdocs-macros creates its Jinja environment after define_env, hence a per-page hook."""
    env.env.trim_blocks = True
    env.env.lstrip_blocks = True


def variables(data, extra: dict) -> dict:
    """What the pages under docs/ see, for this data (tests render the pages with other data)."""
    views = system_views(data)
    # Side-by-side tabs of every system only while the lab is small; above the size at which the
    # sidebar stops listing every system (extra.nav_scope in mkdocs.yml), a table does the comparing.
    limit = max_children(extra, "Systems")
    return {"lab": data, "views": views, "tool_groups": by_parser(views), "forced_call_regex": forced_call_regex(),
            "compare_tabs": limit is None or len(views) <= limit, "systems_nav_limit": limit,
            "hf_cache_layout": hf_cache.snapshot_path("", "ORG/NAME", "SHA").lstrip("/"),
            "code_layout": layout.table(),
            "fstab_line": fstab_line(data), "mount_command": mount_command(data),
            "ci_folder": FORGES[data.ci.forge][0] if data.ci else None}


FILTERS = {"num": num, "attribute": attribute}


def on_pre_page_macros(env) -> None:
    trim_blocks(env)


def define_env(env) -> None:
    # the data of this mkdocs.yml's checkout (a copy of the repository builds its own)
    env.variables.update(variables(load(Path(env.project_dir) / DATA_FILE), env.conf.get("extra") or {}))
    env.filters.update(FILTERS)
