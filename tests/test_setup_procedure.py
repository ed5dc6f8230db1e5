"""Issue 16, point 3: the build kit's SETUP (vllm-gb10/SETUP.md) runs top to bottom, as written, on the host
stand-ins (lab.host_systems): the system the page's blocks name (pegasus), and the host its step 11 streams the
image to (stella). Disruptive steps included: the kit's copy, `check-prereqs.sh --for build`, `build.sh
--dry-run`, stopping and starting the production service, waiting for it, `docker save | docker load` between
the hosts, and the Rollback (trial container, service, `docker image rm`, `docker builder prune`).

Blocks run as the operator runs them (doctests.host_blocks): from the workstation in this checkout, host blocks
over `ssh ALIAS bash -e -o pipefail -s`. What truly needs a GPU or the CUDA build stays static, each with the
reason host_blocks.static_reason gives (asserted below, block by block). Two things the page assumes are set
up by the test and listed as deltas: the system deployed by its QUICKSTART (the generated compose file copied,
its container created, not started: step 9 starts it), and the image step 5 would build (a local `docker
import` under the pinned tag, since the build is static).
"""

from __future__ import annotations

import contextlib
import os
from types import SimpleNamespace

import pytest

from conftest import ROOT
from labdocs.doctests import fences, host_blocks
from labdocs.doctests.run import execute
from labdocs.lab import host_systems, nfs_standin
from labdocs.lab import standin_hosts as sh
from labdocs.model.loader import load

pytestmark = [pytest.mark.lab, pytest.mark.slow]

PAGE = "vllm-gb10/SETUP.md"
DATA = load()
STATE = ROOT / ".lab" / "standin-hosts"
KIT = next(image for image in DATA.images.values() if image.build)       # the image the kit builds
HOST_NAMES = {s.host for s in DATA.systems.values()}

# The blocks that stay static on a stand-in, by a line of their code, and the reason each must be given.
EXPECTED_STATIC = {
    "nvidia-smi --query-gpu": "needs a GPU (`nvidia-smi`)",
    "docker info --format": "needs the NVIDIA container runtime",
    "findmnt -t nfs4 /mnt/models": nfs_standin.KERNEL_NFS_REASON,
    "./build.sh 2>&1": "the CUDA build: compiles vLLM's kernels for the GB10 with the NGC base image's CUDA toolkit "
                       "(the lab's stand-in of that image has none; 45-90 min on a GB10)",
    "docker run --rm --gpus all": "needs a GPU (`docker run --gpus all`)",
    "./run.sh --port": "needs a GPU: run.sh's trial checks `nvidia-smi` first, then starts `docker run --gpus all`",
}


def blocks() -> list[fences.Block]:
    return [b for b in fences.blocks(PAGE, (ROOT / PAGE).read_text()) if b.lang in fences.RUNNABLE]


def the(snippet: str, among: list[fences.Block]) -> fences.Block:
    found = [b for b in among if snippet in b.code]
    assert len(found) == 1, f"{PAGE}: expected one block with {snippet!r}, found {[b.id for b in found]}"
    return found[0]


def systems_of_page() -> tuple[str, str]:
    """The system the page's blocks run on, and the one its image copy streams to (by ssh alias)."""
    bound = {b.on or b.needs for b in blocks()} - {None}
    assert len(bound) == 1, f"{PAGE}: blocks for several systems {bound}"
    key = bound.pop()
    copy = the("docker load", blocks())
    others = [k for k, s in DATA.systems.items() if k != key and f"ssh {s.ssh.alias} " in copy.code]
    assert len(others) == 1, copy.id
    return key, others[0]


KEY, OTHER = systems_of_page()


@pytest.fixture(scope="module")
def hosts(doc_session, request):
    """The session's host stand-ins when the doc-test plugin shares them (a `host_systems` fixture), else
    this module's own (pegasus and stella), torn down at its end; the page's report goes to the session's."""
    if os.geteuid() != 0:
        pytest.fail("host stand-ins need root (namespaces, dockerd, sshd): run the suite as root", pytrace=False)
    report = host_blocks.PageReport(PAGE, runnable=len(blocks()))
    extra: list[str] = []
    try:
        shared = request.getfixturevalue("host_systems")
    except pytest.FixtureLookupError:
        shared = None
    with contextlib.nullcontext(shared) if shared is not None else host_systems.running_systems(
            DATA, STATE, only=[KEY, OTHER]) as running:
        assert {KEY, OTHER} <= set(running.systems), f"no stand-in for {KEY} or {OTHER}"
        yield SimpleNamespace(systems=running, report=report, extra=extra)
        doc_session.host_report.extend([*report.lines(), *(f"  {PAGE} on {KEY}: {d}" for d in extra)])


def on(running, key: str, command: str, timeout: float = 120):
    """A command on a host as its user, straight through the namespaces (set-up and asserts only)."""
    s = running[key]
    return s.host.run(command, user=s.host.spec.user, cwd=f"/home/{s.host.spec.user}", timeout=timeout)


def ok(running, key: str, command: str) -> str:
    out = on(running, key, command)
    assert out.returncode == 0, f"{key}: `{command}`: {out.stderr}"
    return out.stdout.strip()


def test_setup_runs_in_order_on_the_stand_ins(hosts):
    page = blocks()
    running = hosts.systems
    report = hosts.report
    system = DATA.systems[KEY]
    service = system.service_dir
    target = host_blocks.HostTarget(running.lab.wrap, ROOT)

    times: dict[str, float] = {}
    trial = KIT.build.trial_container
    try:
        # What the page assumes: the system deployed (its QUICKSTART copies the generated file; step 9 starts it).
        if not (running[KEY].service_dir / "docker-compose.yml").exists():
            copied = running.lab.wrap(["scp", str(ROOT / f"systems/{KEY}/docker-compose.yml"),
                                     f"{system.ssh.alias}:{service}/docker-compose.yml"])
            assert execute(copied, 60, cwd=ROOT).returncode == 0
        ok(running, KEY, f"cd {service} && docker compose create")
        # ... and the image step 5 builds (static: the CUDA build), under its pinned tag.
        tar = sh.base_rootfs_tar(running[KEY].host.state / "kit-image.tar")
        sh.import_image(running[KEY].host, KIT.ref, tar)
        tar.unlink()
        hosts.extra += ["deployed as its QUICKSTART leaves it: the generated compose file copied, `docker compose "
                        "create` (step 9 starts it)",
                        f"{KIT.ref} is a local `docker import` standing in for step 5's build (static)"]

        for block in page:
            if block.skip:
                report.skipped[block.id] = block.skip
                continue
            why = host_blocks.static_reason(block, DATA)
            if why:
                report.static[block.id] = why
                continue
            if block in host_blocks.section((ROOT / PAGE).read_text(), PAGE, "Rollback")[:1]:
                # An interrupted trial (step 8 is static) left its container: Rollback 1 removes it.
                ok(running, KEY, f"docker create --name {trial} --label lab.vllm-gb10.trial=1 {KIT.ref} true")
            before = ok(running, KEY, "docker ps -q")
            result = host_blocks.run(block, target, DATA.systems[block.on].ssh.alias if block.on else None)
            times[block.id] = result.seconds
            if not result.ok:
                log = on(running, KEY, f"docker logs --tail 40 {system.container_name} 2>&1").stdout
                pytest.fail(result.message(HOST_NAMES) + f"\n--- container log on {KEY}\n{log[-3000:]}", pytrace=False)
            report.ran[block.id] = "host" if block.on else "workstation"
            out = result.outcomes[-1]
            # What each step must have done, on the host itself.
            code = block.code
            if "rsync " in code:
                for f in sorted((ROOT / "vllm-gb10").iterdir()):
                    assert (running[KEY].host.home / "vllm-gb10" / f.name).read_bytes() == f.read_bytes(), f.name
            elif "check-prereqs.sh --for build" in code:
                assert "[FAIL]" not in out.stdout and "RESULT: all checks passed" in out.stdout, out.stdout
                assert f"free disk on {sh.DOCKER_ROOT}: " in out.stdout, out.stdout
            elif "https://nvcr.io/v2/" in code:                # the world stand-in (lab.world_standin)
                assert out.stdout.split() == ["401", "200", "200"], out.stdout     # as the page says to expect
            elif "docker pull" in code:
                base = KIT.build.base_image
                assert ok(running, KEY, f"docker image inspect --format '{{{{.RepoDigests}}}}' {base}").startswith(
                    f"[{base.rsplit(':', 1)[0]}@sha256:"), base                   # pulled from the lab's registry
            elif "build.sh --dry-run" in code:
                assert "[dry-run] docker build --platform " in out.stdout, out.stdout
                assert f"--tag {KIT.ref}" in out.stdout and "failed" not in out.stderr, out.stdout + out.stderr
            elif "docker compose down" in code:
                assert ok(running, KEY, "docker ps -aq") == ""
            elif "docker compose up -d" in code:
                state = ok(running, KEY, f"docker inspect --format '{{{{.State.Running}}}} {{{{.Config.Image}}}}' "
                                         f"{system.container_name}")
                assert state.split() == ["true", DATA.images[system.image].ref], state
                if before:                                   # Rollback 2 on a running service: nothing restarted
                    assert ok(running, KEY, "docker ps -q") == before
            elif "/health" in code:
                assert out.stdout.rstrip().endswith("healthy"), out.stdout
            elif "docker load" in code:
                ids = {k: ok(running, k, f"docker image inspect --format '{{{{.Id}}}}' {KIT.ref}") for k in (KEY, OTHER)}
                assert ids[KEY] == ids[OTHER], ids
            elif f"docker rm -f {trial}" in code:
                assert ok(running, KEY, f"docker ps -aq --filter name=^/{trial}$") == ""
            elif "docker image rm" in code:
                assert on(running, KEY, f"docker image inspect {KIT.ref}").returncode != 0
                ok(running, KEY, f"docker image inspect {DATA.images[system.image].ref}")     # production's image stays
            elif "docker builder prune" in code:
                assert "Total reclaimed space" in out.stdout, out.stdout
        # Every block ran, or is static with the reason expected for it, or is marked skip= on the page.
        expected = {the(snippet, page).id: why for snippet, why in EXPECTED_STATIC.items()}
        assert report.static == expected
        assert [b.id for b in page] == sorted([*report.ran, *report.static, *report.skipped],
                                              key=lambda bid: int(bid.rsplit(":", 1)[1]))
        ran_on = {(b.on or "workstation") for b in page if b.id in report.ran}
        assert ran_on == {KEY, "workstation"}
    finally:
        # As the stand-ins were found (shared ones: the system stopped, as its QUICKSTART's last step leaves it).
        on(running, KEY, f"cd {service} && docker compose down --timeout 5; docker rm -f {trial}; "
                         f"docker image rm {KIT.ref} {KIT.build.base_image}")
        on(running, OTHER, f"docker image rm {KIT.ref}")
        slowest = sorted(times.items(), key=lambda x: -x[1])[:3]
        print(f"\n{PAGE}: {len(report.ran)} of {report.runnable} blocks ran "
              f"({sum(1 for w in report.ran.values() if w == 'host')} on {KEY}), {len(report.static)} static; "
              "slowest: " + ", ".join(f"{bid} {s:.0f} s" for bid, s in slowest))
