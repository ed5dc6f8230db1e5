"""Issue 16: every QUICKSTART runs in order, as written, against a host stand-in that is its system.

One host per system (lab.host_systems): its own network, mount and UTS namespaces, sshd under the documented
host name and alias, a docker engine with compose v2, the documented image name, the tiny model at the
documented snapshot path, and one lab-only file beside the generated compose file (the deltas, printed in
the report). Blocks run as the operator runs them (doctests.host_blocks): from the workstation, host blocks
over `ssh ALIAS bash -e -o pipefail -s`. Blocks that truly need a GPU, a kernel NFS client, systemd, a
registry or the world outside stay static, each with its reason.

The stand-ins are the session's (plugin.py: `host_systems`), and each QUICKSTART runs top to bottom once, as a
doc-test page (labdocs/doctests/procedure.py: Prerequisites, Steps with copy, check, start, bounded wait for
/health, model and context check, record; Rollback; the remaining sections). From the state it leaves (last
good recorded, system stopped; the boot unit installed and enabled by the host's systemd, then started and stopped
as boot would), per system: a bad configuration applied twice (the retry that used to
overwrite the only backup), Rollback back to the last good configuration, stop. docs/maintenance.md's prunes
keep every image the data names.
Breaking a host-side value in the data (ssh alias, service directory, container name) fails with page:line.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from conftest import ROOT
from labdocs import hf_cache
from labdocs.doctests import fences, host_blocks
from labdocs.lab import host_systems
from labdocs.lab import standin_hosts as sh
from labdocs.model import operations
from labdocs.model.loader import load
from labdocs.model.schema import LabData
from labdocs.render.views import render_all

pytestmark = [pytest.mark.lab, pytest.mark.slow]

DATA = load()
KEYS, LEFT_OUT = host_systems.systems_for_hosts(DATA)
STATE = ROOT / ".lab" / "standin-hosts"
BAD_TAG = "v9.9.9-never-built"
HOST_NAMES = {s.host for s in DATA.systems.values()}


def page_path(key: str) -> str:
    return f"systems/{key}/QUICKSTART.md"


@pytest.fixture(scope="module")
def systems(host_systems):
    """The session's host stand-ins (the doc-tests' procedure pages run on the same ones: plugin.py)."""
    return host_systems


class Checkout:
    """The workstation's checkout for one configuration: this repository (good) or a rendering of other data."""

    def __init__(self, data: LabData, key: str, path: Path | None = None):
        self.data, self.key = data, key
        files = render_all(data)
        self.page = files[page_path(key)]
        self.compose = files[f"systems/{key}/docker-compose.yml"]
        self.image = data.images[data.systems[key].image].ref
        self.path = path or ROOT
        if path is not None:
            for rel in (f"systems/{key}/docker-compose.yml", f"systems/{key}/vllm-{key}.service"):
                (path / rel).parent.mkdir(parents=True, exist_ok=True)
                (path / rel).write_text(files[rel])
        else:
            assert (ROOT / page_path(key)).read_text() == self.page, "generated files out of date: make generate"

    def section(self, heading: str) -> list[fences.Block]:
        return host_blocks.section(self.page, page_path(self.key), heading)

    def blocks(self) -> list[fences.Block]:
        return [b for b in fences.blocks(page_path(self.key), self.page) if b.lang in fences.RUNNABLE]


def _alias(data: LabData, block: fences.Block) -> str | None:
    return data.systems[block.on].ssh.alias if block.on else None


def run_blocks(running, checkout: Checkout, blocks):
    """The blocks in order, as the operator runs them; stop at the first failure and return its Result."""
    return host_blocks.run_in_order(blocks, host_blocks.HostTarget(running.lab.wrap, checkout.path),
                                    lambda b: _alias(checkout.data, b),
                                    lambda b: host_blocks.static_reason(b, DATA, systemd=running.systemd),
                                    refusal_of=lambda b: host_blocks.refusal(b, DATA))


def _must_pass(result, running=None, key: str | None = None):
    """No failure; else page:line, the output, and the container's log on the host."""
    if result is None:
        return
    log = ""
    if running is not None and key:
        out = sh_on(running, key, f"docker logs --tail 40 {DATA.systems[key].container_name} 2>&1 || true")
        log = f"\n--- container log on {key}\n{out.stdout[-4000:]}"
    pytest.fail(result.message(HOST_NAMES) + log, pytrace=False)


def sh_on(running, key: str, command: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """A command on the host as its user, straight through the namespaces (for setup and asserts only)."""
    s = running[key]
    return s.host.run(command, user=s.host.spec.user, cwd=f"/home/{s.host.spec.user}", timeout=timeout)


def reset(running, key: str) -> None:
    """A host on which nothing was deployed yet (only the lab's override in the service directory)."""
    s = running[key]
    service = DATA.systems[key].service_dir
    out = sh_on(running, key, f"cd {service} && if [ -f docker-compose.yml ]; then docker compose down --timeout 5; fi; "
                              f"find . -mindepth 1 -maxdepth 1 ! -name {host_systems.OVERRIDE} -exec rm -rf {{}} +; "
                              f"docker image rm lab-rollback:{key} >/dev/null 2>&1 || true")
    assert out.returncode == 0, out.stderr
    assert sorted(p.name for p in s.service_dir.iterdir()) == [host_systems.OVERRIDE]


def _bad_data(key: str) -> LabData:
    """An image tag the host has not got: the start cannot find it (nor the lab's registry, lab.world_standin)."""
    raw = DATA.model_dump(mode="json")
    image = raw["images"][raw["systems"][key]["image"]]
    image["ref"] = image["ref"].rsplit(":", 1)[0] + ":" + BAD_TAG
    return LabData.model_validate(raw)


def test_each_host_is_its_documented_system(systems):
    """Reached under its alias as its user; the documented image, model snapshot and service directory."""
    assert set(systems.systems) == set(KEYS) and KEYS
    for key in KEYS:
        system = DATA.systems[key]
        snapshot = hf_cache.snapshot_path(DATA.infrastructure.nfs.mount_point, system.model.repo, system.model.snapshot)
        out = systems.lab.ssh(key, f"hostname -f; id -un; docker image inspect {systems[key].image} --format ok; "
                                   f"test -s {snapshot}/config.json && echo model; ls {system.service_dir}")
        assert out.returncode == 0, out.stderr
        # the service directory holds the lab's override (and, once the page ran, what its steps put there)
        assert out.stdout.split()[:4] == [system.host, system.ssh.user, "ok", "model"], out.stdout
        assert host_systems.OVERRIDE in out.stdout.split()[4:], out.stdout
        assert any("deploy: !reset" in d for d in systems[key].deltas()[:1])
    print(f"\nstand-ins up in {systems.seconds['hosts']} s (models {systems.seconds['models']} s, "
          f"images and files {systems.seconds['prepare']} s)")


@pytest.mark.parametrize("key", KEYS)
def test_quickstart_runs_in_order_and_rollback_lands_on_the_last_good(systems, host_procedures, key, tmp_path):
    """The page, run in order by the doc-tests (tests/test_doc_blocks.py; here, if they were not selected), left
    the system deployed once, recorded, rolled back and stopped. From that state a bad configuration is applied
    twice, then the page's Rollback lands on the last good configuration."""
    s = systems[key]
    good = Checkout(DATA, key)
    service = s.service_dir
    times = {}

    # 1. The page in order: Prerequisites, Steps (copy, check, start, wait for /health, model and context,
    #    record), Rollback, the remaining sections. Every block ran or stayed static with its reason.
    t = time.monotonic()
    run = host_procedures.run_page(page_path(key))
    times["page"] = time.monotonic() - t            # ~0 when the doc-tests ran it before
    if run.failed:
        pytest.fail(f"the page's run in order failed at {run.failed.id}:\n{run.steps[run.failed.id].failure}",
                    pytrace=False)
    assert list(run.steps) == [b.id for b in good.blocks() if not b.skip]
    assert all(st.kind in ("host", "workstation") or (st.kind in ("refused", "static") and st.reason)
               for st in run.steps.values())
    assert (service / "docker-compose.yml").read_text() == good.compose            # byte for byte
    assert (service / operations.LAST_GOOD).read_text() == good.compose
    assert (service / operations.LAST_GOOD_IMAGE).read_text().strip() == good.image
    assert sh_on(systems, key, "docker ps -q").stdout.strip() == ""                # the page stopped it
    # "Start at boot": the boot unit installed and enabled by the host's own systemd (its init), as generated.
    unit = operations.boot_unit_name(key)
    assert not any(st.reason == host_blocks.SYSTEMD_REASON for st in run.steps.values()), run.steps
    assert s.host.systemctl("is-enabled", unit).stdout.strip() == "enabled"
    assert s.host.run(f"cat /etc/systemd/system/{unit}").stdout == (ROOT / f"systems/{key}/{unit}").read_text()
    # As systemd starts it at boot: its dependencies (docker.service, the model mount from /etc/fstab) are units of
    # the host; ExecStart brings the compose file up as the user, ExecStop takes it down.
    t = time.monotonic()
    started = s.host.systemctl("start", unit, timeout=120)
    journal = lambda: s.host.run(f"journalctl --no-pager -n 30 -u {unit}").stdout     # noqa: E731
    assert started.returncode == 0, started.stderr + journal()
    container = DATA.systems[key].container_name
    up = sh_on(systems, key, f"docker inspect --format '{{{{.State.Running}}}} {{{{.Config.Image}}}}' {container}")
    assert up.stdout.split() == ["true", good.image], up.stdout + up.stderr + journal()
    assert s.host.systemctl("stop", unit, timeout=120).returncode == 0, journal()
    assert sh_on(systems, key, "docker ps -aq").stdout.strip() == "", journal()
    times["boot unit"] = time.monotonic() - t
    before = sorted(service.glob(operations.BACKUP_GLOB))

    # 2. A bad configuration, applied twice (the operator retries from step 1): it fails on the host at the
    #    step that needs the image, and the last good configuration survives both attempts.
    #    Attempt 2 runs step 1 twice at once (a retried copy within the same second): no copy may be lost.
    bad = Checkout(_bad_data(key), key, tmp_path / "bad")
    bad_steps = bad.section("Steps")
    copy = [b for b in bad_steps if b.disruptive and "scp " in b.code and "docker-compose.yml" in b.code]
    assert copy and bad_steps[:len(copy)] == copy, [b.id for b in bad_steps]
    for attempt in (1, 2):
        failed = run_blocks(systems, bad, (copy if attempt == 2 else []) + bad_steps)
        # pegasus checks its local image in step 2; stella's pull finds no such tag in the registry in step 2
        assert failed is not None and failed.block.on == key and (
            bad.image in failed.block.code or "docker compose pull" in failed.block.code), \
            f"attempt {attempt}: expected a host step to fail on the missing image, got " \
            + (failed.message(HOST_NAMES) if failed else "no failure")
        assert (service / "docker-compose.yml").read_text() == bad.compose
        assert (service / operations.LAST_GOOD).read_text() == good.compose
        assert (service / operations.LAST_GOOD_IMAGE).read_text().strip() == good.image

    # Step 7 run anyway after the failed attempt (were an old container still answering /health): it must
    # refuse, and the last good configuration stays.
    record = [b for b in bad_steps if f"> {operations.LAST_GOOD_IMAGE}" in b.code]
    assert len(record) == 1, [b.id for b in bad_steps]
    refused = run_blocks(systems, bad, record)
    assert refused is not None, "step 7 recorded a file the running container was not started from"
    if sh_on(systems, key, "docker ps -q").stdout.strip():      # the old container still runs (and answers)
        assert "not recorded: the running container was not started from" in refused.outcomes[-1].stderr, \
            refused.message(HOST_NAMES)
    assert (service / operations.LAST_GOOD).read_text() == good.compose
    assert (service / operations.LAST_GOOD_IMAGE).read_text().strip() == good.image

    # 3. Rollback as the page says: restore, point the image back, start as in step 3, wait as in step 4,
    #    then check the model again (step 5). The page's last Rollback block stops the system: run at the end.
    t = time.monotonic()
    rollback = good.section("Rollback")
    stop = rollback[-1]
    assert "docker compose down" in stop.code and "up -d" not in stop.code, stop.id
    steps = good.section("Steps")
    wait = [b for b in steps if b.on is None and "/health" in b.code and "for _ in" in b.code]
    models = [b for b in steps if b.lang == "console" and "/v1/models" in b.code]
    _must_pass(run_blocks(systems, good, rollback[:-1] + wait + models), systems, key)
    times["rollback"] = time.monotonic() - t
    assert (service / "docker-compose.yml").read_text() == good.compose
    images = sh_on(systems, key, f"cd {DATA.systems[key].service_dir} && docker compose config --images")
    assert images.stdout.strip() == good.image, images.stderr
    running = sh_on(systems, key, f"docker inspect --format '{{{{.State.Running}}}} {{{{.Config.Image}}}}' "
                                  f"{DATA.systems[key].container_name}")
    assert running.stdout.split() == ["true", good.image], running.stdout + running.stderr
    added = [p for p in sorted(service.glob(operations.BACKUP_GLOB)) if p not in before]
    # attempt 1 kept the good file, attempt 2 the bad one twice, the rollback the bad one again: nothing lost
    assert [p.read_text() for p in added] == [good.compose, bad.compose, bad.compose, bad.compose], \
        [p.name for p in added]

    # 4. Stop, as the page's last Rollback block does.
    _must_pass(run_blocks(systems, good, [stop]))
    assert sh_on(systems, key, "docker ps -aq").stdout.strip() == ""
    print(f"\n{key}: page in order {run.seconds:.0f} s ({times['page']:.0f} s here), boot unit started and stopped "
          f"{times['boot unit']:.1f} s, bad twice and rollback {times['rollback']:.0f} s")


def test_maintenance_prunes_keep_every_image_the_data_names(systems, host_procedures):
    """docs/maintenance.md's cleanup, run as printed on each stand-in holding every image the data names (and
    the rollback tag, and a dangling image): the prunes remove the dangling image and nothing named in data;
    the page's list of other tags names only the tag nobody keeps."""
    page = "docs/maintenance.md"
    run = host_procedures.run_page(page)
    assert run.failed is None, run.failed and run.steps[run.failed.id].failure
    blocks = [b for b in host_procedures.page(page).blocks if b.on and not host_blocks.static_reason(b, DATA)]
    listing = [b for b in blocks if "grep -v -x -F" in b.code]
    assert any("prune" in b.code for b in blocks) and len(listing) == 1, [b.id for b in blocks]
    named = sorted({image.ref for image in DATA.images.values()})
    target = host_blocks.HostTarget(systems.lab.wrap, ROOT)
    for key in KEYS:
        s = systems[key]
        kept = [*named, f"lab-rollback:{key}"]
        setup = sh_on(systems, key, " && ".join(
            [f"docker image tag {s.image} {ref}" for ref in kept if ref != s.image]
            + [f"docker image tag {s.image} lab-scratch:unused",
               "tar -cf - --files-from /dev/null | docker import - >/dev/null",
               "docker image ls -q --filter dangling=true"]))
        assert setup.returncode == 0 and setup.stdout.strip(), setup.stderr
        dangling = setup.stdout.split()
        for block in blocks:                        # in page order: the prune, the list of other tags, ...
            result = host_blocks.run(block, target, DATA.systems[key].ssh.alias)
            assert result.ok, result.message(HOST_NAMES)
            if block in listing:
                assert result.outcomes[-1].stdout.split() == ["lab-scratch:unused"], result.message(HOST_NAMES)
        left = sh_on(systems, key, "docker image ls --format '{{.Repository}}:{{.Tag}} {{.ID}}'").stdout
        tags = {line.split()[0] for line in left.splitlines()}
        assert set(kept) <= tags, f"{key}: a prune removed {sorted(set(kept) - tags)}"
        assert not any(d in left for d in dangling), f"{key}: the dangling image survived the prune:\n{left}"
        sh_on(systems, key, " && ".join(f"docker image rm {ref} >/dev/null" for ref in
                                        [*[r for r in kept if r != s.image], "lab-scratch:unused"]))


def _broken(key: str, kind: str) -> LabData:
    raw = DATA.model_dump(mode="json")
    system = raw["systems"][key]
    if kind == "ssh alias":
        system["ssh"]["alias"] += "x"
    elif kind == "service directory":
        system["service_dir"] += "x"
    else:
        system["container_name"] += "x"
    return LabData.model_validate(raw)


@pytest.mark.parametrize("kind", ["ssh alias", "service directory", "container name"])
@pytest.mark.parametrize("key", KEYS)
def test_a_host_value_broken_in_the_data_fails_with_page_and_line(systems, key, kind, tmp_path):
    """On a deployed host (the generated file copied, its container created), every non-disruptive block that
    uses the broken value fails and names its page and line; the same blocks from the good data pass."""
    reset(systems, key)
    good = Checkout(DATA, key)
    _must_pass(run_blocks(systems, good, good.section("Steps")[:1]))                 # step 1: the copy
    created = sh_on(systems, key, f"cd {DATA.systems[key].service_dir} && docker compose create")
    assert created.returncode == 0, created.stderr
    broken = Checkout(_broken(key, kind), key, tmp_path / "broken")
    good_blocks = {b.line: b for b in good.blocks()}
    affected = [b for b in broken.blocks() if not b.disruptive and not host_blocks.static_reason(b, DATA)
                and (b.code != good_blocks[b.line].code or (kind == "ssh alias" and b.on))]
    assert affected, f"no runnable block uses the {kind}"
    _must_pass(run_blocks(systems, good, [good_blocks[b.line] for b in affected]))    # the control
    target = host_blocks.HostTarget(systems.lab.wrap, broken.path)
    for block in affected:
        result = host_blocks.run(block, target, _alias(broken.data, block))
        assert not result.ok, f"{block.id} passed with a broken {kind}"
        message = result.message(HOST_NAMES)
        assert message.startswith(f"{page_path(key)}:{block.line}: "), message
        assert broken.page.split("\n")[block.line - 1].lstrip().startswith("```"), message   # the line is the block's
    sh_on(systems, key, f"cd {DATA.systems[key].service_dir} && docker compose down")


LEAK_SCRIPT = textwrap.dedent("""
    import subprocess
    from pathlib import Path
    from labdocs.lab import host_systems
    from labdocs.model.loader import load
    data = load()
    with host_systems.running_systems(data, Path({state!r}), only=[{key!r}]) as running:
        s = running[{key!r}]
        print(running.lab.prefix, flush=True)
        copied = subprocess.run(running.lab.wrap(["scp", {compose!r}, {alias!r} + ":{service}/docker-compose.yml"]),
                                capture_output=True, text=True)
        assert copied.returncode == 0, copied.stderr
        out = s.host.run("cd {service} && docker compose create && docker ps -aq", user=s.host.spec.user)
        assert out.stdout.strip(), out.stderr
        raise RuntimeError("a failure while a container exists")
""")


def test_nothing_is_left_behind_with_a_container_created(systems):
    """A run that fails while its host has a container: the container, engines, sshd, namespaces and files go."""
    key = KEYS[0]
    system = DATA.systems[key]
    script = LEAK_SCRIPT.format(state=str(STATE), key=key, service=system.service_dir, 
                                compose=str(ROOT / f"systems/{key}/docker-compose.yml"), alias=system.ssh.alias)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, cwd=ROOT)
    prefix = out.stdout.strip().splitlines()[0] if out.stdout.strip() else ""
    assert prefix.startswith(sh.PREFIX) and prefix != systems.lab.prefix, out.stderr
    assert out.returncode == 1 and "a failure while a container exists" in out.stderr, out.stderr
    assert "host stand-ins torn down" in out.stderr
    assert sh.leftovers(prefix, STATE) == []
    shims = subprocess.run(["pgrep", "-af", f"{STATE}/{prefix}"], capture_output=True, text=True)
    assert shims.stdout == "", shims.stdout


def test_make_check_live_runs_a_quickstart_against_the_stand_ins(systems, tmp_path):
    """`make check-live SYSTEM=ID ALLOW_DISRUPTIVE=1`, the operator's command for the real lab, run with the
    lab's hosts file and ssh config (the stand-ins answer the documented names and aliases): the live target,
    its ssh path and the disruptive steps end to end. Only the blocks that need what a stand-in is not may fail."""
    import xml.etree.ElementTree as ET

    key = KEYS[-1]
    reset(systems, key)
    page = Checkout(DATA, key)
    expected_failures = {b.id for b in page.blocks() if host_blocks.static_reason(b, DATA, systemd=systems.systemd)}
    results = ROOT / "test-results"
    existed = results.exists()
    # The live run writes verified.json as if the real hosts had answered: put this run's files back.
    kept = {p: p.read_bytes() for p in (results / "verified.json", results / "junit.xml") if p.exists()}
    junit = tmp_path / "live.xml"
    try:
        out = subprocess.run(systems.lab.wrap([
            "make", "--no-print-directory", "check-live", f"SYSTEM={key}", "ALLOW_DISRUPTIVE=1",
            f"PYTEST_ARGS=-k {page_path(key)} -p no:cacheprovider --junitxml={junit}"]),
            cwd=ROOT, capture_output=True, text=True, timeout=1500)
    finally:
        for p in (results / "verified.json", results / "junit.xml"):
            if p in kept:
                p.write_bytes(kept[p])
            else:
                p.unlink(missing_ok=True)
        if not existed and results.exists() and not any(results.iterdir()):
            results.rmdir()
    cases = ET.parse(junit).getroot().iter("testcase")
    outcome = {}
    for case in cases:
        block_id = case.get("name").split("[", 1)[1].rstrip("]")
        outcome[block_id] = ("failed" if case.find("failure") is not None or case.find("error") is not None
                             else "skipped" if case.find("skipped") is not None else "passed")
    assert set(outcome) == {b.id for b in page.blocks()}, out.stdout[-3000:] + out.stderr[-3000:]
    failed = {bid for bid, o in outcome.items() if o == "failed"}
    assert failed == expected_failures, (f"unexpected: {sorted(failed - expected_failures)}, "
                                         f"passed though static: {sorted(expected_failures - failed)}\n"
                                         + out.stdout[-5000:])
    assert "skipped" not in outcome.values()                # ALLOW_DISRUPTIVE=1: the disruptive steps ran too
    assert sh_on(systems, key, "docker ps -aq").stdout.strip() == ""      # the page's last steps stopped it
