"""The engine seam: every registered engine module defines the whole interface, and the rest of labdocs
reaches engine specifics only through it (labdocs/engines/)."""

from __future__ import annotations


import pytest

from conftest import ROOT
from labdocs.engines import ENGINES, INTERFACE, engine_of
from labdocs.model.loader import load

DATA = load()


@pytest.mark.parametrize("name", sorted(ENGINES))
def test_each_engine_defines_the_interface(name):
    module = ENGINES[name]
    missing = [n for n in INTERFACE if not hasattr(module, n)]
    assert not missing, f"labdocs/engines/{name}.py lacks {missing}"
    assert module.NAME == name


def test_interface_names_what_the_code_calls():
    assert {"serve_argv", "serve_flags", "problems", "reads", "client_format", "ENDPOINTS",
            "REASONING_FIELDS", "GPU_ONLY_FLAGS"} <= set(INTERFACE)


def test_every_system_has_an_engine_and_its_command():
    for key, system in DATA.systems.items():
        argv = engine_of(system).serve_argv(system)
        assert argv[:2] == ["vllm", "serve"] and system.model.id in argv, key


def test_vllm_specifics_live_in_the_engine_module():
    """vLLM's flag spellings and response fields appear in labdocs/ only in engines/vllm.py."""
    found = []
    for path in sorted((ROOT / "labdocs").rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if rel.startswith("labdocs/engines/") or rel.startswith("labdocs/lab/"):
            continue   # the engine itself; the lab runs vLLM's own CPU build
        text = path.read_text()
        for needle in ('"reasoning_content"', '"/v1/chat/completions"',
                       '"/health"'):
            if needle in text:
                found.append(f"{rel}: {needle}")
    assert not found, found
