"""gpt-oss offline: the Harmony vocabulary comes from the model share, not the internet. The compose file
sets TIKTOKEN_ENCODINGS_BASE to its folder (from model_families.*.offline_files), and the lab serves
pegasus the same way: the file written into the lab's share folder, checked against the data's sha256,
the variable set, and the real Harmony path (--tool-call-parser openai) up on it."""

from __future__ import annotations

import hashlib
from pathlib import Path

import httpx
import pytest
import yaml

from conftest import ROOT
from labdocs.model.loader import load

DATA = load()


def test_the_compose_file_points_the_loader_at_the_share():
    compose = yaml.safe_load((ROOT / "systems" / "pegasus" / "docker-compose.yml").read_text())
    env = compose["services"]["vllm"]["environment"]
    [vocab] = DATA.model_families["gpt-oss"].offline_files
    assert env[vocab.env] == f"{DATA.infrastructure.nfs.container_path}/{vocab.dir}"
    assert env["HF_HUB_OFFLINE"] == "1"
    stella = yaml.safe_load((ROOT / "systems" / "stella" / "docker-compose.yml").read_text())
    assert vocab.env not in stella["services"]["vllm"]["environment"]  # Qwen3 has no such file


@pytest.mark.lab
def test_the_lab_serves_gpt_oss_from_the_share_copy(lab):
    [vocab] = DATA.model_families["gpt-oss"].offline_files
    spec = lab.spec("pegasus")
    folder = Path(spec.offline_dirs[vocab.env])
    assert hashlib.sha256((folder / vocab.name).read_bytes()).hexdigest() == vocab.sha256
    environ = Path(f"/proc/{lab.procs['pegasus'].pid}/environ").read_bytes().split(b"\0")
    assert f"{vocab.env}={folder}".encode() in environ
    assert lab.models["pegasus"]["family"] == "gpt_oss" and not lab.models["pegasus"]["fallback_reason"]
    reply = httpx.post(f"{spec.url}/v1/chat/completions", timeout=60, json={
        "model": spec.served_model_name, "messages": [{"role": "user", "content": "Say hello."}], "max_tokens": 8})
    assert reply.status_code == 200, reply.text
