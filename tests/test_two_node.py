"""A system served by two GB10 machines (data/examples/two-node.yaml): one compose file per node, a
quickstart that brings the Ray cluster up in order, the site, and the head's endpoint in the lab."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from conftest import BIN, ROOT, copy_repo, macros_cli, run
from labdocs.doctests import fences, static
from labdocs.doctests.run import LabTarget
from labdocs.model.loader import load
from labdocs.model.overlay import OVERLAYS

EXAMPLE = ROOT / "data" / "examples" / "two-node.yaml"
DATA = load(EXAMPLE)
KEY = "orion"
SYSTEM = DATA.systems[KEY]


@pytest.fixture(scope="module")
def example_repo(tmp_path_factory) -> Path:
    """A copy of the repository whose data file is the example, generated and built."""
    dest = copy_repo(tmp_path_factory.mktemp("two-node") / "repo")
    shutil.copy(EXAMPLE, dest / "data" / "systems.yaml")
    shutil.rmtree(dest / OVERLAYS)      # a lab made from an example keeps none of this project's examples
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


def _compose(repo: Path, name: str) -> dict:
    return yaml.safe_load((repo / "systems" / KEY / name).read_text())["services"]["vllm"]


def test_head_starts_ray_waits_for_every_gpu_then_serves(example_repo):
    svc = _compose(example_repo, "docker-compose.yml")
    c = SYSTEM.cluster
    assert svc["command"][:2] == ["bash", "-c"]
    script = svc["command"][2]
    lines = script.splitlines()
    assert lines[0] == f"ray start --head --port={c.ray_port} --node-ip-address={c.head_address} --num-gpus={SYSTEM.gpus} || exit 1"
    # A late worker must find the head waiting: no `set -e`, no time limit on the wait (issue 21).
    assert "set -e" not in script and "timeout" not in script
    assert 'until ray status 2>/dev/null | grep -q "/2.0 GPU"; do' in lines
    assert lines[-1].startswith(f"exec vllm serve {SYSTEM.model.id} ")
    assert "--tensor-parallel-size 2 --pipeline-parallel-size 1 --distributed-executor-backend ray" in lines[-1]
    assert svc["restart"] == f"on-failure:{DATA.infrastructure.container.restart_max_retries}"


# What NVIDIA's playbook sets with `-e` on both nodes ("Run on two Sparks", steps 4 and 5; source
# nvidia-vllm-two-sparks), written out here from the playbook, not from the generator's own list.
PLAYBOOK_INTERFACE_VARS = ["UCX_NET_DEVICES", "NCCL_SOCKET_IFNAME", "OMPI_MCA_btl_tcp_if_include",
                           "GLOO_SOCKET_IFNAME", "TP_SOCKET_IFNAME"]


@pytest.mark.parametrize("name, address", [
    ("docker-compose.yml", SYSTEM.cluster.head_address),
    ("docker-compose.worker-1.yml", SYSTEM.cluster.workers[0].address),
])
def test_every_node_gets_every_variable_the_playbook_sets(example_repo, name, address):
    c = SYSTEM.cluster
    env = _compose(example_repo, name)["environment"]
    assert env["VLLM_HOST_IP"] == address
    assert env["MASTER_ADDR"] == c.head_address          # the head's, on the worker too
    assert env["RAY_memory_monitor_refresh_ms"] == "0"
    for var in PLAYBOOK_INTERFACE_VARS:
        assert env[var] == c.interface == "enp1s0f1np1", var
    # The community build adds the port's RoCE devices, both twins (sources spark-vllm-docker-cluster).
    assert env["NCCL_IB_HCA"] == "rocep1s0f1,roceP2p1s0f1"


def test_the_interconnect_names_are_facts_with_a_source():
    port = next(p for p in DATA.platforms["gb10"].interconnect.ports if p.interface == SYSTEM.cluster.interface)
    assert (port.interface, port.twin, port.rdma_devices) == ("enp1s0f1np1", "enP2p1s0f1np1", ["rocep1s0f1", "roceP2p1s0f1"])
    assert DATA.sources[DATA.platforms["gb10"].interconnect.source].vendor.startswith(
        "https://github.com/NVIDIA/dgx-spark-playbooks/")
    assert "nvidia/vllm/README.md" in DATA.sources[SYSTEM.cluster.source].vendor


def test_it_runs_the_image_that_serves_gpt_oss_on_gb10_in_the_labs_records():
    lab = load()  # data/systems.yaml: pegasus runs gpt-oss-120b on GB10 (lab-records.md)
    [pegasus] = [s for s in lab.systems.values() if s.model.repo == SYSTEM.model.repo]
    assert DATA.images[SYSTEM.image].ref == lab.images[pegasus.image].ref == "vllm-gb10:latest"
    assert DATA.images[SYSTEM.image].version_source == "pegasus-deploy"


def test_worker_joins_the_head_and_blocks(example_repo):
    c, worker = SYSTEM.cluster, SYSTEM.cluster.workers[0]
    svc = _compose(example_repo, "docker-compose.worker-1.yml")
    assert svc["command"] == ["ray", "start", f"--address={c.head_address}:{c.ray_port}",
                              f"--node-ip-address={worker.address}", f"--num-gpus={worker.gpus}", "--block"]
    assert svc["image"] == _compose(example_repo, "docker-compose.yml")["image"]
    assert svc["restart"] == f"on-failure:{DATA.infrastructure.container.restart_max_retries}"


WORKER_SSH = "            user: llm-agent\n          gpus: 1\n"


def _worker_says(line: str) -> tuple[str, str]:
    """(old, new) that adds a line to the worker's entry, after its gpus."""
    return WORKER_SSH, WORKER_SSH + f"          {line}\n"


@pytest.mark.parametrize("old,new,expected", [
    ("      tensor_parallel_size: 2\n", "      tensor_parallel_size: 4\n",
     "systems.orion.cluster.tensor_parallel_size: tensor 4 x pipeline 1 = 4 GPUs, but the nodes declare 2 (1 + 1)"),
    (WORKER_SSH, WORKER_SSH.replace("gpus: 1", "gpus: 2"),
     "systems.orion.cluster.tensor_parallel_size: tensor 2 x pipeline 1 = 2 GPUs, but the nodes declare 3 (1 + 2)"),
    ("    gpus: 1                         # the head's GPU (one per GB10)\n", "",
     "systems.orion.gpus: a cluster's head declares its GPUs"),
    (*_worker_says("ray_port: 6380"),
     "systems.orion.cluster.workers[0].ray_port: 6380 differs from the head's 6379 (cluster.ray_port)"),
    (*_worker_says("interface: enp1s0f0np0"),
     "systems.orion.cluster.workers[0].interface: 'enp1s0f0np0' differs from the head's 'enp1s0f1np1' (cluster.interface)"),
    (*_worker_says("tensor_parallel_size: 1"),
     "systems.orion.cluster.workers[0].tensor_parallel_size: 1 differs from the head's 2 (cluster.tensor_parallel_size)"),
    (*_worker_says("pipeline_parallel_size: 2"),
     "systems.orion.cluster.workers[0].pipeline_parallel_size: 2 differs from the head's 1 (cluster.pipeline_parallel_size)"),
    (*_worker_says("model_snapshot: c0ffee0000000000000000000000000000000000"),
     "systems.orion.cluster.workers[0].model_snapshot: 'c0ffee0000000000000000000000000000000000' differs from "
     "the head's 'b5c939de8f754692c1647ca79fbf85e8c1e70f8a' (model.snapshot)"),
    (*_worker_says("image: gb10-kit"),
     "systems.orion.cluster.workers[0].image: 'gb10-kit' differs from the head's 'gb10-community' (image)"),
    ("      interface: enp1s0f1np1 ", "      interface: enP2p1s0f1np1 ",
     "systems.orion.cluster.interface: 'enP2p1s0f1np1' is the twin name of 'enp1s0f1np1'"),
    ("      interface: enp1s0f1np1 ", "      interface: eth0 ",
     "systems.orion.cluster.interface: 'eth0' is not an interconnect port of NVIDIA GB10"),
    ("      source: nvidia-vllm-two-sparks\n", "      source: nvidia-vllm-three-sparks\n",
     "systems.orion.cluster.source: unknown source 'nvidia-vllm-three-sparks'"),
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
    # file:line: key, at the line that says it (a key left out: the line of the mapping that lacks it)
    key = expected.split(":")[0] if expected.startswith("systems.") else \
        "systems.orion.vllm_args.tensor-parallel-size"
    line = next(ln for ln in result.stderr.splitlines() if f": {key}:" in ln)
    number = int(line.split(":")[1])
    said = bad.read_text().splitlines()[number - 1].strip().lstrip("- ")
    leaf = key.rsplit(".", 1)[-1].split("[")[0]   # the flag case: its line in vllm_args
    assert said.startswith(f"{leaf}:") or (new == "" and said == f"{KEY}:"), (line, said)


def test_a_worker_may_restate_the_heads_values(tmp_path):
    same = "\n".join(f"          {k}: {v}" for k, v in [
        ("ray_port", 6379), ("interface", "enp1s0f1np1"), ("tensor_parallel_size", 2), ("pipeline_parallel_size", 1),
        ("model_snapshot", SYSTEM.model.snapshot), ("image", SYSTEM.image)])
    good = tmp_path / "two-node.yaml"
    good.write_text(EXAMPLE.read_text().replace(WORKER_SSH, WORKER_SSH + same + "\n", 1))
    result = macros_cli("validate", "--data", str(good))
    assert result.returncode == 0, result.stderr


def test_quickstart_brings_the_cluster_up_in_order(example_repo):
    text = (example_repo / "systems" / KEY / "QUICKSTART.md").read_text()
    steps = text.split("## Steps")[1].split("## Rollback")[0]
    worker_down = steps.index("ssh orion-2-llm 'cd ~/vllm-service && docker compose down'")
    head_up = steps.index("  && docker compose up -d\n")
    worker_up = steps.index("ssh orion-2-llm bash -s <<'EOF'\n    cd ~/vllm-service && docker compose down")
    ray_check = steps.index("grep -c '^ 1 node_')\" -eq 2 ] && printf '%s\\n' \"$s\" | grep -q '/2.0 GPU'")
    health = steps.index("/health && break; sleep 10; done")
    assert worker_down < head_up < worker_up < ray_check < health


def test_rollback_stops_the_workers_before_the_head(example_repo):
    text = (example_repo / "systems" / KEY / "QUICKSTART.md").read_text()
    rollback = text.split("## Rollback")[1].split("## Troubleshooting")[0]
    restart, stop = rollback.split("To stop Orion altogether")
    assert restart.index("ssh orion-2-llm 'cd ~/vllm-service && docker compose down'") \
        < restart.index("cd ~/vllm-service && docker compose down \\\n") \
        < restart.index("ssh orion-2-llm bash -s") < restart.index("ray status")
    assert stop.index("ssh orion-2-llm 'cd ~/vllm-service && docker compose down'") \
        < stop.index("```bash {on=orion disruptive=true}\ncd ~/vllm-service && docker compose down\n```")


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
def test_the_heads_endpoint_answers_its_documented_blocks_in_the_lab(example_repo, doc_session, lab):
    target, ran = LabTarget(lab), 0
    for page in ("README.md", "QUICKSTART.md"):
        for b in fences.blocks(f"systems/{KEY}/{page}", (example_repo / "systems" / KEY / page).read_text()):
            if b.lang in fences.RUNNABLE and not b.host_bound and not b.skip:
                doc_session.check(b, target)
                ran += 1
    assert ran >= 6
