"""Issue 18: a real llama-server for a llama.cpp system. The lab builds llama.cpp's server from the pinned
llama-cpp-python source archive (labdocs/lab/llamacpp_build.py, cached under .lab/llamacpp/), makes a tiny
GGUF model with llama.cpp's own converter, and serves it under the documented model file name with the
system's flags (GPU-only ones dropped, and listed) on a loopback address and the documented port. The
pages' console blocks then run exactly as printed, with the documented host name resolving to it."""

from __future__ import annotations

import json
import subprocess
import urllib.request

import pytest

from conftest import ROOT
from labdocs.doctests import console, fences
from labdocs.engines import llamacpp
from labdocs.lab import hosts, llamacpp_build, llamacpp_server
from labdocs.model.loader import load
from labdocs.render.views import render_all

EXAMPLE = ROOT / "data" / "examples" / "pegasus-llamacpp.yaml"
DATA = load(EXAMPLE)
KEY = "pegasus"
SYSTEM = DATA.systems[KEY]
FILES = render_all(DATA, "data/examples/pegasus-llamacpp.yaml")
ADDRESS = llamacpp_server.address(DATA, KEY)     # lab.addresses: apart from the vLLM servers and the docs site

pytestmark = [pytest.mark.slow, pytest.mark.llama_server]


def _get(path: str, timeout: float = 5) -> tuple[int, bytes]:
    return llamacpp_server.get(f"http://{ADDRESS}:{SYSTEM.port}{path}", timeout)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The lab's llama-server for pegasus (labdocs/lab/llamacpp_server.py, as `make status TARGET=lab` starts it)."""
    with llamacpp_server.running(DATA, [KEY], tmp_path_factory.mktemp("llama-server"),
                                 say=lambda line: print(f"\nlab: {line}", end="")) as served:
        hosts_file = llamacpp_server.hosts_file(DATA, [KEY], tmp_path_factory.mktemp("hosts") / "hosts")
        yield {"argv": served[KEY].argv, "log": served[KEY].log, "hosts": hosts_file}


def test_the_endpoints_answer_as_documented(server):
    status, body = _get(llamacpp.ENDPOINTS.health)
    assert status == 200 and json.loads(body) == {"status": "ok"}
    models = json.loads(_get(llamacpp.ENDPOINTS.models)[1])
    assert [m["id"] for m in models["data"]] == [SYSTEM.model.id]
    props = json.loads(_get(llamacpp.PROPS)[1])
    assert props["default_generation_settings"]["n_ctx"] == SYSTEM.context_length
    assert props["model_path"].endswith(SYSTEM.model.gguf[0])
    status, metrics = _get(llamacpp.ENDPOINTS.metrics)       # llamacpp.args: metrics: true
    assert status == 200 and b"llamacpp:prompt_tokens_total" in metrics


def test_a_chat_completion_answers(server):
    body = json.dumps({"model": SYSTEM.model.id, "messages": [{"role": "user", "content": "Say hello."}],
                       "max_tokens": 8}).encode()
    req = urllib.request.Request(f"http://{ADDRESS}:{SYSTEM.port}{llamacpp.ENDPOINTS.chat}", data=body,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as r:
        answer = json.loads(r.read())
    assert answer["object"] == "chat.completion" and answer["model"] == SYSTEM.model.id
    assert answer["choices"][0]["message"]["role"] == "assistant"
    assert answer["usage"]["completion_tokens"] >= 1


@pytest.mark.parametrize("page", ["README.md", "QUICKSTART.md"])
def test_the_pages_console_blocks_pass_against_it(server, page):
    """Every console block of the system's pages, run as printed: the documented host name resolves to
    the lab's llama-server (a private /etc/hosts), and the output must match what the page shows."""
    blocks = [b for b in fences.blocks(f"systems/{KEY}/{page}", FILES[f"systems/{KEY}/{page}"]) if b.lang == "console"]
    assert blocks
    for block in blocks:
        for step in console.parse(block.code):
            result = subprocess.run(hosts.wrap(["bash", "-c", step.command], server["hosts"]),
                                    capture_output=True, text=True, timeout=60)
            assert console.matches(step.expected, result.stdout), (block.id, step.command, result.stdout, result.stderr)


def test_the_flag_list_is_what_this_build_prints(server):
    """labdocs/engines/llamacpp_flags.json is the --help of the binary the lab built (the pinned build):
    `python -m labdocs.lab.llamacpp_build --facts` rewrites it."""
    assert llamacpp_build.facts(llamacpp_build.binary()) == llamacpp.facts()


@pytest.mark.parametrize("page", ["README.md", "QUICKSTART.md"])
def test_the_pages_workstation_blocks_pass_against_it(server, page):
    """The blocks run from the workstation (health, the bounded wait for /health, ping, the client
    settings), as printed and against the lab's llama-server; the host's blocks (systemd, sudo, the share)
    are listed with why they do not run here."""
    ran, not_run = 0, []
    for block in fences.blocks(f"systems/{KEY}/{page}", FILES[f"systems/{KEY}/{page}"]):
        if block.lang != "bash":
            continue
        if block.host_bound:
            not_run.append(f"{block.id}: runs on or against {block.on or block.needs} (systemd, sudo, the share)")
            continue
        timeout = int(block.attrs.get("timeout", 60))
        result = subprocess.run(hosts.wrap(["bash", "-c", block.code], server["hosts"]), capture_output=True,
                                text=True, timeout=timeout)
        assert result.returncode == 0, (block.id, block.code, result.stdout, result.stderr)
        ran += 1
    print(f"\nlab: {page}: {ran} workstation blocks ran; not run here:\n  " + "\n  ".join(not_run))
    assert ran >= 2


def test_the_probe_understands_llama_server(server):
    """`make status`'s checks against llama-server: /health, its build from /props, the alias and the
    context (/v1/models meta.n_ctx), its llamacpp: series on /metrics, and a streamed completion."""
    import asyncio

    from labdocs.probe.run import Settings, probe_system

    settings = Settings.from_data(DATA, target="lab", check_tools=False)
    rec = asyncio.run(probe_system(KEY, SYSTEM, f"http://{ADDRESS}:{SYSTEM.port}", settings))
    c = rec.checks
    assert c.health.ok and c.version.ok and c.version.version.endswith(llamacpp.facts()["llama_cpp_commit"][:7])
    assert c.models.id_match and c.models.max_model_len == SYSTEM.context_length and c.models.context_match
    assert c.metrics.ok and c.metrics.vllm_series > 5 and c.metrics.prompt_tokens_total is not None
    assert c.speed.ok, c.speed
    assert rec.verdict == "up", (rec.verdict, rec.drift, rec.down_reason)
