"""Each derived fact is spelled in one place (issue 15): the code, the templates and mkdocs.yml are
searched for the literal text of each fact, and only its owner may contain it. A second copy (a module
that builds `models--ORG--NAME` itself, a hook that writes the marker's words, a default of 12 beside
`max_children`) fails here with the files that spell it."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from conftest import ROOT

# What is searched: every module of the package, the templates, the site's config and hand-written pages
# (not the generated ones linked into docs/), the theme overrides. Tests are not: they state expected values
# on their own; nor are benchmarks, which override the nav threshold on purpose.
SEARCHED = ["labdocs/**/*.py", "toolcalls/**/*.py", "templates/**/*.j2", "mkdocs.yml", "docs/*.md",
            "overrides/**/*.html", "overrides/**/*.js", "tools/**/*.py"]
# Pages show real model ids of example systems (data/examples/), each a value, not the layout rule.
SHOWS_MODEL_IDS = {"docs/toolcalls-plugin.md"}

# fact -> (pattern of its literal spelling, the one file allowed to hold it)
FACTS = {
    "Hugging Face cache layout": (r"models--|/snapshots/|[\"']snapshots[\"']", "labdocs/hf_cache.py"),
    "do-not-edit marker": (r"(?i)do not edit", "labdocs/render/marker.py"),
    "nav threshold (max_children's number)": (r"max_children\W{1,4}\d", "mkdocs.yml"),
    "num filter (how pages print a figure)": (r"def num\(|[\"']num[\"']\]?\s*[:=]\s*lambda", "labdocs/render/views.py"),
    # what a client sees for a tool call: each engine defines client_format, LabData._derive alone calls it
    # and stores the answer as tool_calling.format
    # the data file's path in code (prose may name it): labdocs.paths.DATA_FILE
    "data file path": (r"[\"']data/systems\.yaml[\"']|[\"']systems\.yaml[\"']", "labdocs/paths.py"),
    "tool-call format derivation": (r"(?<!def )\bclient_format\(", "labdocs/model/schema.py"),
}


def _files() -> list[Path]:
    seen: dict[Path, None] = {}
    for pattern in SEARCHED:
        for path in sorted(ROOT.glob(pattern)):
            if path.is_file() and not path.is_symlink():
                seen[path] = None
    return list(seen)


FILES = {p.relative_to(ROOT).as_posix(): p.read_text(encoding="utf-8") for p in _files()}


def spelled_in(pattern: str) -> set[str]:
    regex = re.compile(pattern)
    return {rel for rel, text in FILES.items() if regex.search(text)}


def test_the_search_reads_the_code():
    assert {"labdocs/render/views.py", "mkdocs.yml", "templates/system/QUICKSTART.md.j2"} <= set(FILES)
    assert len(FILES) > 60


@pytest.mark.parametrize("fact", FACTS)
def test_each_fact_is_spelled_in_one_place(fact: str):
    pattern, owner = FACTS[fact]
    where = spelled_in(pattern)
    if fact == "Hugging Face cache layout":
        where -= SHOWS_MODEL_IDS
    assert where == {owner}, f"{fact}: spelled in {sorted(where)}, expected only in {owner}"


def test_the_search_finds_a_second_copy():
    """The check is not blind: a module that spells a fact again is reported."""
    for fact, (pattern, owner) in FACTS.items():
        FILES["labdocs/extra_copy.py"] = {
            "Hugging Face cache layout": 'f"models--{org}--{name}"',
            "do-not-edit marker": '"<!-- DO NOT EDIT: generated from x -->"',
            "nav threshold (max_children's number)": 'opts.get("max_children", 12)',
            "num filter (how pages print a figure)": 'FILTERS = {"num": lambda v: f"{v:g}"}',
            "data file path": 'load(ROOT / "data/systems.yaml")',
            "tool-call format derivation": "engine.client_format(parser, family)",
        }[fact]
        try:
            assert spelled_in(pattern) - SHOWS_MODEL_IDS == {owner, "labdocs/extra_copy.py"}, fact
        finally:
            del FILES["labdocs/extra_copy.py"]


def test_probe_settings_take_their_values_from_the_data():
    """probe.run.Settings has no defaults of its own for what the data's probe: block says."""
    from labdocs.model.schema import Probe, Tolerances
    from labdocs.probe.run import Settings

    from_data = set(Probe.model_fields) - {"tolerances", "stale_after_hours"} | set(Tolerances.model_fields)
    fields = {f.name: f for f in dataclasses.fields(Settings)}
    assert from_data <= set(fields), from_data - set(fields)
    with_default = sorted(name for name in from_data if fields[name].default is not dataclasses.MISSING)
    assert not with_default, f"Settings repeats the data's probe values as defaults: {with_default}"


def test_derived_keys_are_not_declared_in_any_data_file():
    """model.id and tool_calling.format are computed at load; the loader refuses them (tests/invalid_cases.py has a
    case each), and no data file the project ships declares them."""
    from labdocs.model.loader import load
    from labdocs.model.schema import Model, ToolCalling

    assert set(Model.DERIVED) == {"id"} and set(ToolCalling.DERIVED) == {"format"}
    for path in [ROOT / "data" / "systems.yaml", *sorted((ROOT / "data" / "examples").glob("*.yaml"))]:
        data = load(path)
        for key, system in data.systems.items():
            assert system.model.id, (path.name, key)
            if system.engine == "vllm":    # vLLM reports the served snapshot folder; llama-server its --alias
                assert system.model.id.endswith(f"/{system.model.snapshot}"), (path.name, key, system.model.id)
            assert system.tool_calling.format in ("openai", "hermes", "qwen3-xml"), (path.name, key)
