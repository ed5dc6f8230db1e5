"""Each system's generated `vllm serve` flags pass vLLM's own argument parser and validation
(run in the lab's venv, without serving), so an unknown or malformed flag in data fails the suite."""

from __future__ import annotations

import json
import subprocess

import pytest

from conftest import ROOT
from doctests.lab_specs import local_flags
from macros.loader import load
from macros.serve_args import serve_flags

DATA = load()
PLUGIN_EXAMPLE = load(ROOT / "data" / "examples" / "native-tool-parser.yaml")


@pytest.fixture(scope="module")
def verdicts():
    from lab.venv import ensure_venv

    python = ensure_venv(ROOT)
    requests = {key: {"model": s.model.id, "flags": local_flags(serve_flags(s))} for key, s in DATA.systems.items()}
    # The project's tool-call parser plugin, as a compose file passes it (the file mapped to this repo's).
    plugin = PLUGIN_EXAMPLE.systems["stella-plugin"]
    requests["stella-plugin"] = {"model": plugin.model.id, "flags": local_flags(serve_flags(plugin))}
    # Cases that must fail, so a checker that accepts everything cannot pass.
    requests["~misspelled-flag"] = {"model": "/m", "flags": ["--gpu-memory-utilisation", "0.9"]}
    requests["~bad-value"] = {"model": "/m", "flags": ["--max-model-len", "lots"]}
    requests["~unknown-parser"] = {"model": "/m", "flags": ["--tool-call-parser", "hermess", "--enable-auto-tool-choice"]}
    requests["~auto-without-parser"] = {"model": "/m", "flags": ["--enable-auto-tool-choice"]}
    result = subprocess.run([str(python), str(ROOT / "lab" / "check_flags.py")], input=json.dumps(requests),
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout)


@pytest.mark.parametrize("key", [*sorted(DATA.systems), "stella-plugin"])
def test_generated_flags_are_accepted_by_vllm(key, verdicts):
    assert verdicts[key] is None, f"systems.{key}: vLLM rejects the generated flags: {verdicts[key]}"


@pytest.mark.parametrize("case,needle", [
    ("~misspelled-flag", "unrecognized arguments: --gpu-memory-utilisation"),
    ("~bad-value", "--max-model-len"),
    ("~unknown-parser", "hermess"),
    ("~auto-without-parser", "requires --tool-call-parser"),
])
def test_vllm_rejects_bad_flags(case, needle, verdicts):
    assert verdicts[case] and needle in verdicts[case]
