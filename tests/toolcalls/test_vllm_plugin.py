"""Conformance of the vLLM tool-parser plugin (toolcalls/vllm_plugin.py) inside vLLM's own parser
interface: the lab venv's vLLM (0.32, the CPU build) loads the plugin by path as the server does and
runs every case of plugin_cases.py whole and streamed, in its own serving layer's call convention
and in the 0.11 and 0.14 conventions (vllm_conformance.py). The test venv has no vLLM, so that runs
in a subprocess; this side compares what a client would assemble with the expected calls."""

from __future__ import annotations

import json
import subprocess
from collections import defaultdict

import pytest

from conftest import ROOT

from plugin_cases import CASES

pytestmark = pytest.mark.slow
RUNNER = ROOT / "tests" / "toolcalls" / "vllm_conformance.py"
PLUGIN = ROOT / "toolcalls" / "vllm_plugin.py"


def _words(text: str | None) -> str | None:
    return " ".join((text or "").split()) or None


@pytest.fixture(scope="module")
def runs() -> dict:
    from labdocs.lab import lab_specs
    from labdocs.lab.servers import build_models
    from labdocs.lab.venv import ensure_venv
    from labdocs.model.loader import load

    python = ensure_venv(ROOT)
    spec = lab_specs.specs(load(), ["stella"])[0][0]  # stella's tiny Qwen3-MoE model: its tokenizer
    model = build_models([spec], ROOT, python)[spec.name]
    out = subprocess.run([str(python), str(RUNNER), "--plugin", str(PLUGIN), "--tokenizer", model["path"]],
                         capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    lines = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    head, records = lines[0], lines[1:]
    print(f"\nconformance: vLLM {head['vllm']} ({head['vllm_file']}), plugin base {head['base']}")
    by_case = defaultdict(list)
    for rec in records:
        by_case[rec["case"]].append(rec)
    return {"head": head, "by_case": by_case}


def test_loaded_as_a_vllm_tool_parser(runs):
    assert runs["head"]["base"] == ["vllm.tool_parsers.abstract_tool_parser.ToolParser"]


@pytest.mark.parametrize("case_id", list(CASES))
def test_case(runs, case_id):
    _, _, want_calls, want_content = CASES[case_id]
    records = runs["by_case"][case_id]
    # whole, 1/5/16 chars, tokens, coalesced end, max_tokens end; in 3 conventions
    assert len(records) == 3 * 7, [r["chunking"] for r in records]
    ids = set()
    failures = []
    for rec in records:
        where = f"{rec['convention']} {rec['chunking']}"
        if "error" in rec:
            failures.append(f"{where}: raised\n{rec['error']}")
            continue
        got = [(c["name"], c["arguments"]) for c in rec["calls"]]
        if got != [tuple(c) for c in want_calls]:
            failures.append(f"{where}: calls {got}")
        if _words(rec["content"]) != _words(want_content):
            failures.append(f"{where}: content {rec['content']!r}")
        if not all(c["prefix_ok"] for c in rec["calls"]):
            failures.append(f"{where}: an argument delta is not a prefix of the final JSON")
        if any(not (c["id"] or "").startswith("call_") for c in rec["calls"]):
            failures.append(f"{where}: call without id: {rec['calls']}")
        ids.add(tuple(c["id"] for c in rec["calls"]))
    assert not failures, "\n".join(failures)
    assert len(ids) == 1, f"ids differ between whole and streamed runs: {ids}"
    if want_calls:
        assert len(set(next(iter(ids)))) == len(want_calls), "ids are not unique within the message"
