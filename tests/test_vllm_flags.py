"""Each system's generated `vllm serve` flags pass vLLM's own argument parser and validation
(run in the lab's venv, without serving), so an unknown or malformed flag in data fails the suite."""

from __future__ import annotations

import json
import subprocess

import pytest

from conftest import ROOT
from labdocs.lab.lab_specs import local_flags
from labdocs.model.loader import load
from labdocs.engines.vllm import serve_flags

DATA = load()
PLUGIN_EXAMPLE = load(ROOT / "data" / "examples" / "native-tool-parser.yaml")


@pytest.fixture(scope="module")
def answers():
    """vLLM's answers to both questions below, from one lab-venv process (its parser's import is most of a run)."""
    from labdocs.lab.venv import ensure_venv
    from labdocs.engines.vllm import RESERVED_FLAGS

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
    # Every prefix of each generated flag, with and without `no-`: how vLLM's own parser reads it.
    names = sorted({f"{no}{flag[:i]}" for flag in RESERVED_FLAGS for i in range(2, len(flag) + 1) for no in ("", "no-")})
    result = subprocess.run([str(python), str(ROOT / "labdocs" / "lab" / "check_flags.py"), "--both"],
                            input=json.dumps({"check": requests, "resolve": names}),
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def verdicts(answers):
    return answers["check"]


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


@pytest.fixture(scope="module")
def resolution(answers):
    """How vLLM's own parser reads every prefix of each generated flag, with and without `no-`."""
    return answers["resolve"]


def test_every_name_vllm_reads_as_a_generated_flag_is_refused(resolution):
    """argparse takes unique prefixes (vLLM keeps allow_abbrev): `max-model` sets --max-model-len.
    Every name vLLM resolves to a generated flag's dest is refused by vllm.reserved_flag, and no real
    vLLM flag with another dest is (issue 19: vLLM argument injection)."""
    from labdocs.engines.vllm import RESERVED_FLAGS, reserved_flag

    flags = resolution["flags"]
    assert resolution["allow_abbrev"] and len(flags) > 100
    reserved_dests = {flags[f"--{flag}"] for flag in RESERVED_FLAGS}
    resolved = {name: r["dest"] for name, r in resolution["names"].items() if r}
    to_reserved = [name for name, dest in resolved.items() if dest in reserved_dests]
    print(f"\n{len(to_reserved)} names vLLM reads as a generated flag")
    assert len(to_reserved) > 50
    assert [name for name in to_reserved if not reserved_flag(name)] == []
    assert [o for o, dest in flags.items() if reserved_flag(o[2:]) and dest not in reserved_dests] == []


def test_secret_flags_are_exactly_vllms_secrets(resolution):
    """The flags refused as secrets, among all of vLLM's: its API key and hub token, nothing else."""
    from labdocs.engines.vllm import SECRET_FLAG

    assert sorted(o for o in resolution["flags"] if SECRET_FLAG.search(o[2:])) == ["--api-key", "--hf-token"]
