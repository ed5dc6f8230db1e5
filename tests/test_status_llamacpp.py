"""Issue 18: `make status` probes a llama.cpp system. With TARGET=lab it starts the lab's real llama-server for
it (labdocs/lab/llamacpp_server.py: the cached build of tests/test_llamacpp_lab.py, the tiny GGUF under the
documented file name) and checks /health, /v1/models, /props, /metrics, decode speed and the tool-call format;
the results go to test-results/status/ only, never to the published status."""

from __future__ import annotations

import json
import subprocess

import pytest

from conftest import ROOT
from labdocs.lab import llamacpp_server
from labdocs.model.loader import load
from labdocs.observed.store import PUBLISHED_HISTORY, PUBLISHED_STATUS

EXAMPLE = "data/examples/pegasus-llamacpp.yaml"
KEY = "pegasus"
OUT = ROOT / "test-results" / "status" / "status.json"

pytestmark = [pytest.mark.slow, pytest.mark.llama_server]


def _published() -> dict:
    return {p: (ROOT / p).read_bytes() if (ROOT / p).exists() else None for p in (PUBLISHED_STATUS, PUBLISHED_HISTORY)}


def _make_status(*args: str) -> subprocess.CompletedProcess:
    OUT.unlink(missing_ok=True)
    return subprocess.run(["make", "--no-print-directory", "status", "TARGET=lab", f"SYSTEM={KEY}", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=400)


def test_make_status_starts_and_probes_the_llamacpp_example():
    before = _published()
    proc = _make_status(f"DATA={EXAMPLE}")
    print(proc.stdout, proc.stderr[-2000:])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "llama-server healthy at http://127.0.0.40:8000" in proc.stderr
    row = next(line for line in proc.stdout.splitlines() if line.startswith(f"{KEY} "))
    assert row.split()[1:3] == ["up", "llama.cpp"], row
    rec = json.loads(OUT.read_text())["systems"][KEY]
    c = rec["checks"]
    assert rec["verdict"] == "up" and rec["engine"] == "llama.cpp" and rec["drift"] == [], rec
    assert c["models"]["served"] == ["gpt-oss-120b"] and c["models"]["id_match"] and c["models"]["context_match"]
    props = c["props"]
    assert props["model_file"] == "gpt-oss-120b-mxfp4-00001-of-00003.gguf" and props["model_file_match"]
    assert props["n_ctx"] == 131072 and props["context_match"] and props["chat_template_chars"] > 100
    assert props["build"] == c["version"]["version"]
    assert c["metrics"]["ok"] and c["metrics"]["sources"]["prompt_tokens_total"] == "llamacpp:prompt_tokens_total"
    assert c["speed"]["ok"] and c["speed"]["decode_tokens_per_s"] > 0 and not c["speed"]["compared"]
    assert c["tool_format"]["status"] in ("confirmed", "inconclusive"), c["tool_format"]
    assert _published() == before


def test_a_wrong_model_id_in_the_data_is_drift(tmp_path):
    """The data says one model id, the running llama-server (started from the example) reports another."""
    text = (ROOT / EXAMPLE).read_text(encoding="utf-8")
    broken = tmp_path / "pegasus-llamacpp-typo.yaml"
    broken.write_text(text.replace("alias: gpt-oss-120b ", "alias: gpt-oss-120b-typo ", 1), encoding="utf-8")
    assert load(broken).systems[KEY].model.id == "gpt-oss-120b-typo"
    data = load(ROOT / EXAMPLE)
    with llamacpp_server.running(data, [KEY], tmp_path / "logs"):
        proc = _make_status(f"DATA={broken}", "LAB_RUNNING=1")
    # the probe exits 1 (drift); make reports its recipe's status and exits 2
    assert proc.returncode == 2 and "status] Error 1" in proc.stderr, proc.stdout + proc.stderr
    rec = json.loads(OUT.read_text())["systems"][KEY]
    assert rec["verdict"] == "drift" and [d["kind"] for d in rec["drift"]] == ["model_id"], rec["drift"]
    assert "serves gpt-oss-120b, not the documented gpt-oss-120b-typo" in proc.stdout
