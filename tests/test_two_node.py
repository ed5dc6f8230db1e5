"""A system served by two GB10 machines (data/examples/two-node.yaml): one compose file per node, a
quickstart that brings the Ray cluster up in order, the site, and the head's endpoint in the lab."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from conftest import BIN, ROOT, copy_repo, macros_cli, run
from doctests import fences, static
from doctests.run import LabTarget
from macros.loader import load

EXAMPLE = ROOT / "data" / "examples" / "two-node.yaml"
DATA = load(EXAMPLE)
KEY = "orion"
SYSTEM = DATA.systems[KEY]


@pytest.fixture(scope="module")
def example_repo(tmp_path_factory) -> Path:
    """A copy of the repository whose data file is the example, generated and built."""
    dest = copy_repo(tmp_path_factory.mktemp("two-node") / "repo")
    shutil.copy(EXAMPLE, dest / "data" / "systems.yaml")
    result = macros_cli("generate", cwd=dest)
    assert result.returncode == 0, result.stderr
    return dest


def test_one_compose_file_per_node(example_repo):
    files = sorted(p.name for p in (example_repo / "systems" / KEY).glob("docker-compose*.yml"))
    assert files == ["docker-compose.worker-1.yml", "docker-compose.yml"]
    assert not (example_repo / "systems" / "pegasus").exists()  # the old systems' files were removed


def test_compose_files_pass_the_compose_spec(example_repo):
    files = [str(p) for p in (example_repo / "systems" / KEY).glob("docker-compose*.yml")]
    result = run([str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.compose-spec", *files])
    assert result.returncode == 0, result.stdout


def test_head_starts_ray_waits_for_every_gpu_then_serves(example_repo):
    svc = yaml.safe_load((example_repo / "systems" / KEY / "docker-compose.yml").read_text())["services"]["vllm"]
    c = SYSTEM.cluster
    assert svc["command"][:2] == ["bash", "-c"]
    script = svc["command"][2]
    lines = script.splitlines()
    assert lines[1] == f"ray start --head --port={c.ray_port} --node-ip-address={c.head_address} --num-gpus=1"
    assert f"timeout {c.ready_timeout_s} sh -c 'until ray status" in script and '"/2.0 GPU"' in script
    assert lines[-1].startswith(f"exec vllm serve {SYSTEM.model.id} ")
    assert "--tensor-parallel-size 2 --pipeline-parallel-size 1 --distributed-executor-backend ray" in lines[-1]
    env = svc["environment"]
    assert env["VLLM_HOST_IP"] == c.head_address
    assert env["NCCL_SOCKET_IFNAME"] == env["GLOO_SOCKET_IFNAME"] == c.interface


def test_worker_joins_the_head_and_blocks(example_repo):
    c, worker = SYSTEM.cluster, SYSTEM.cluster.workers[0]
    svc = yaml.safe_load((example_repo / "systems" / KEY / "docker-compose.worker-1.yml").read_text())["services"]["vllm"]
    assert svc["command"] == ["ray", "start", f"--address={c.head_address}:{c.ray_port}",
                              f"--node-ip-address={worker.address}", "--num-gpus=1", "--block"]
    assert svc["environment"]["VLLM_HOST_IP"] == worker.address
    assert svc["restart"] == f"on-failure:{DATA.infrastructure.container.restart_max_retries}"


@pytest.mark.parametrize("old,new,expected", [
    ("      tensor_parallel_size: 2\n", "      tensor_parallel_size: 4\n",
     "systems.orion.cluster.tensor_parallel_size: tensor 4 x pipeline 1 GPUs != 2 nodes"),
    ("          address: 192.168.100.11\n", "          address: 192.168.100.10\n",
     "systems.orion.cluster.workers[0].address: interconnect address '192.168.100.10' is already used"),
    ("        - host: orion-2.home.arpa\n", "        - host: orion.home.arpa\n",
     "systems.orion.cluster.workers[0].host: host name 'orion.home.arpa' is already used by systems.orion.host"),
    ("      gpu-memory-utilization: 0.85\n", "      gpu-memory-utilization: 0.85\n      tensor-parallel-size: 2\n",
     "--tensor-parallel-size is generated, not set here"),
])
def test_cluster_rules(tmp_path, old, new, expected):
    text = EXAMPLE.read_text()
    assert old in text
    bad = tmp_path / "two-node.yaml"
    bad.write_text(text.replace(old, new, 1))
    result = macros_cli("validate", "--data", str(bad))
    assert result.returncode == 2 and expected in result.stderr, result.stderr


def test_quickstart_brings_the_cluster_up_in_order(example_repo):
    text = (example_repo / "systems" / KEY / "QUICKSTART.md").read_text()
    steps = text.split("## Steps")[1].split("## Rollback")[0]
    head_up = steps.index("  && docker compose up -d\n")
    worker_up = steps.index("ssh orion-2-llm bash -s <<'EOF'\n    cd ~/vllm-service && docker compose down")
    ray_check = steps.index("ray status | grep -q \"/2.0 GPU\"")
    health = steps.index("/health && break; sleep 10; done")
    assert head_up < worker_up < ray_check < health


def test_its_blocks_are_collected_and_pass_the_static_checks(example_repo):
    known = static.Known(DATA, example_repo)
    problems = []
    for page in ("README.md", "QUICKSTART.md", "COMPOSE.md"):
        blocks = fences.blocks(f"systems/{KEY}/{page}", (example_repo / "systems" / KEY / page).read_text())
        for b in blocks:
            if b.lang in fences.SHELL and b.host_bound:
                problems += [f"{b.id}: {p}" for p in static.references(b, known) + static.shellcheck(b.code)]
    assert not problems


def test_the_site_shows_it_like_any_system(example_repo):
    built = run([str(BIN / "mkdocs"), "build", "--strict"], cwd=example_repo)
    assert built.returncode == 0, built.stdout + built.stderr
    site = example_repo / "site" / "systems" / KEY
    for page in ("index.html", "QUICKSTART/index.html", "COMPOSE/index.html", "docker-compose.yml",
                 "docker-compose.worker-1.yml"):
        assert (site / page).is_file(), page
    assert "orion-2.home.arpa" in (site / "index.html").read_text()


@pytest.mark.lab
def test_the_heads_endpoint_answers_its_documented_blocks_in_the_lab(example_repo, lab):
    from test_doc_blocks import _check_bash, _check_console

    target, ran = LabTarget(lab), 0
    for page in ("README.md", "QUICKSTART.md"):
        for b in fences.blocks(f"systems/{KEY}/{page}", (example_repo / "systems" / KEY / page).read_text()):
            if b.lang in fences.RUNNABLE and not b.host_bound and not b.skip:
                (_check_console if b.lang == "console" else _check_bash)(b, target, *(() if b.lang == "bash" else (False,)))
                ran += 1
    assert ran >= 6
