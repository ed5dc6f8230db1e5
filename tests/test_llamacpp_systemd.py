"""Issue 18 under real systemd: the llama.cpp system of data/examples/pegasus-llamacpp.yaml on a host stand-in
whose init is systemd (lab.standin_hosts, HostSpec.systemd: Debian's systemd as PID 1 of the host's own PID,
cgroup, mount, UTS and network namespaces). Its QUICKSTART runs in order as the operator runs it, from the
workstation over ssh: the administrator's install (the sudoers drop-in checked with `visudo -cf`, the unit,
daemon-reload, enable), then Prerequisites and Steps with only the drop-in's sudo rules, Rollback and stop.
The generated unit runs the lab-built llama-server (the CPU build) at the documented path, with the tiny GGUF
model at the documented file name on /mnt/models, a mount unit made by systemd's fstab generator.

Then what the unit promises, observed: `Requires=` the model mount (the server stops with it), restart on
failure (the server killed, restarted after RestartSec), and the start limit (killed again until systemd gives
up and leaves the unit failed).

Deltas from the real host (printed): /etc/fstab binds the lab's model folder read-only instead of mounting the
NFS share (no kernel NFS client here); llama-server is the lab's CPU build, not a CUDA build (`--n-gpu-layers` is
ignored with a warning); no GPU. Static, each with its reason: `findmnt -t nfs4` (kernel NFS), the CUDA build
(reaches outside the lab).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from conftest import ROOT, sigint_default
from labdocs.doctests import fences, host_blocks
from labdocs.engines import llamacpp
from labdocs.lab import llamacpp_build
from labdocs.lab import standin_hosts as sh
from labdocs.lab.venv import ensure_venv
from labdocs.model.loader import load
from labdocs.render.views import render_all

pytestmark = [pytest.mark.lab, pytest.mark.slow]

EXAMPLE = "data/examples/pegasus-llamacpp.yaml"
DATA = load(ROOT / EXAMPLE)
KEY = "pegasus"
SYSTEM = DATA.systems[KEY]
FILES = render_all(DATA, EXAMPLE)
PAGE = f"systems/{KEY}/QUICKSTART.md"
UNIT = f"{llamacpp.UNIT}.service"
MOUNT = DATA.infrastructure.nfs.mount_point
STATE = ROOT / ".lab" / "systemd-hosts"
HOST_NAMES = {SYSTEM.host}


def _blocks(heading: str | None = None) -> list[fences.Block]:
    if heading:
        return host_blocks.section(FILES[PAGE], PAGE, heading)
    return [b for b in fences.blocks(PAGE, FILES[PAGE]) if b.lang in fences.RUNNABLE]


@pytest.fixture(scope="module")
def host(tmp_path_factory, doc_session):
    if os.geteuid() != 0:
        pytest.fail("host stand-ins need root (namespaces, systemd, sshd): run the suite as root", pytrace=False)
    t0 = time.monotonic()
    built = llamacpp_build.build()
    share = llamacpp_build.LAB_DIR / "share"
    gguf = llamacpp_build.tiny_gguf(Path(llamacpp.model_path(SYSTEM, str(share))), ensure_venv(ROOT),
                                    SYSTEM.context_length)
    checkout = tmp_path_factory.mktemp("checkout")
    for name in ("llama-server.service", "llama-server.sudoers"):
        (checkout / f"systems/{KEY}").mkdir(parents=True, exist_ok=True)
        (checkout / f"systems/{KEY}/{name}").write_text(FILES[f"systems/{KEY}/{name}"])
    fstab = f"{share} {MOUNT} none bind,ro,nofail 0 0"
    spec = sh.HostSpec(KEY, SYSTEM.host, user=SYSTEM.ssh.user, ssh_alias=SYSTEM.ssh.alias, docker=False,
                       systemd=True, fstab=[fstab])
    with sh.running_hosts([spec], STATE) as lab:
        h = lab[KEY]
        # The binary the page's build step leaves in the user's clone: the lab's CPU build, owned by the user.
        exe = h.home / llamacpp.binary(SYSTEM).removeprefix(f"/home/{SYSTEM.ssh.user}/")
        exe.parent.mkdir(parents=True)
        shutil.copy2(built["path"], exe)
        for p in [exe, *exe.parents]:
            if p == h.home:
                break
            os.chown(p, h.uid, h.gid)
        up = time.monotonic() - t0
        report = host_blocks.PageReport(f"{EXAMPLE}: {PAGE}", runnable=len(_blocks()))
        deltas = [f"/etc/fstab: `{fstab}` (the lab's model folder, read-only) instead of the NFS share: no kernel "
                  "NFS client here; systemd's fstab generator makes mnt-models.mount from it as from the real line",
                  f"{llamacpp.binary(SYSTEM)} is the lab's CPU build of the pinned llama.cpp ({built['path']}), "
                  "not the CUDA build: --n-gpu-layers is ignored with a warning",
                  f"the model is the lab's tiny GGUF ({gguf['bytes']} bytes) under the documented file name",
                  "the administrator's blocks run as the user with full sudo, taken away before Prerequisites "
                  "(the real host's administrator is another account)",
                  "systemd units that would act on this machine are masked: " + ", ".join(sh.masked_units())]
        lab.report, lab.deltas, lab.checkout, lab.up = report, deltas, checkout, up
        yield lab
        doc_session.host_report.extend(
            [f"{KEY} under systemd ({SYSTEM.host}, {h.address}), up in {up:.1f} s (build and model "
             f"{'reused' if not built['built'] else 'built'}): deltas from the real host"]
            + [f"  - {d}" for d in deltas] + report.lines())


def run_blocks(lab, blocks, report: host_blocks.PageReport | None = None):
    """The blocks in order, as the operator runs them; the first failure's Result, or None."""
    return host_blocks.run_in_order(blocks, host_blocks.HostTarget(lab.wrap, lab.checkout),
                                    lambda b: SYSTEM.ssh.alias if b.on else None,
                                    lambda b: host_blocks.static_reason(b, DATA, systemd={KEY}), report,
                                    lambda b: host_blocks.refusal(b, DATA))


def _must_pass(lab, result) -> None:
    if result is None:
        return
    journal = lab[KEY].run(f"journalctl --no-pager -n 30 -u {UNIT}").stdout
    pytest.fail(result.message(HOST_NAMES) + f"\n--- journal of {UNIT}\n{journal}", pytrace=False)


def _show(lab, *props: str) -> dict[str, str]:
    out = lab[KEY].systemctl("show", UNIT, *(f"-p{p}" for p in props))
    return dict(line.split("=", 1) for line in out.stdout.splitlines() if "=" in line)


def _healthy(lab, timeout: float) -> float:
    """Seconds until llama-server answers /health through the lab's names, as the wait step asks it."""
    t0 = time.monotonic()
    url = f"http://{SYSTEM.host}:{SYSTEM.port}{llamacpp.ENDPOINTS.health}"
    while time.monotonic() - t0 < timeout:
        if subprocess.run(lab.wrap(["curl", "-fsS", "--max-time", "2", url]), capture_output=True).returncode == 0:
            return time.monotonic() - t0
        time.sleep(0.25)
    pytest.fail(f"{url} not healthy within {timeout:.0f} s:\n" + lab[KEY].run(f"journalctl --no-pager -n 30 -u {UNIT}").stdout)


def test_the_quickstart_runs_in_order_under_systemd(host):
    """Once, as an administrator; then Prerequisites, Steps, Rollback and stop with the drop-in's rules only."""
    report, h = host.report, host[KEY]
    admin = _blocks("Once, as an administrator")
    _must_pass(host, run_blocks(host, admin, report))
    assert h.run("ls -l /etc/sudoers.d/").stdout.split()[-1] == "llama-server"
    assert _show(host, "UnitFileState")["UnitFileState"] == "enabled"
    sh.set_full_sudo(h, False)
    assert h.run("sudo -n true", user=SYSTEM.ssh.user).returncode != 0, "the user still has full sudo"

    t = time.monotonic()
    _must_pass(host, run_blocks(host, _blocks("Prerequisites") + _blocks("Steps"), report))
    deploy = time.monotonic() - t
    state = _show(host, "ActiveState", "User", "ExecMainPID", "Requires", "After")
    assert state["ActiveState"] == "active" and state["User"] == SYSTEM.ssh.user, state
    assert "mnt-models.mount" in state["Requires"].split() and "mnt-models.mount" in state["After"].split(), state
    assert h.run("ps -o user= -p $(systemctl show -P MainPID llama-server)").stdout.strip() == SYSTEM.ssh.user
    service = h.home / SYSTEM.service_dir.removeprefix("~/")
    assert (service / "llama-server.service.last-good").read_text() == FILES[f"systems/{KEY}/llama-server.service"]

    t = time.monotonic()
    rollback = _blocks("Rollback")
    steps = _blocks("Steps")
    wait = [b for b in steps if b.on is None and "/health" in b.code and "for _ in" in b.code]
    models = [b for b in steps if b.lang == "console" and "/v1/models" in b.code]
    assert len(rollback) == 2 and wait and models, [b.id for b in rollback]
    _must_pass(host, run_blocks(host, rollback[:1] + wait + models, report))
    rolled = time.monotonic() - t
    _must_pass(host, run_blocks(host, rollback[1:], report))
    assert _show(host, "ActiveState")["ActiveState"] == "inactive"
    done = {b.id for b in admin + _blocks("Prerequisites") + steps + rollback}
    _must_pass(host, run_blocks(host, [b for b in _blocks() if b.id not in done], report))
    report.not_in_procedure = [b.id for b in _blocks() if b.id not in report.counted]
    assert not report.not_in_procedure
    assert not any(why == host_blocks.SYSTEMD_REASON for why in report.static.values()), report.static
    print(f"\n{EXAMPLE} under systemd: up {host.up:.1f} s, deploy {deploy:.0f} s, rollback {rolled:.0f} s; "
          f"{len(report.ran)} of {report.runnable} blocks ran, {len(report.refused)} refused, "
          f"{len(report.static)} static:\n  "
          + "\n  ".join(f"{bid}: {why}" for bid, why in {**report.refused, **report.static}.items()))


def test_the_server_stops_with_the_model_mount(host):
    """Requires=mnt-models.mount: the share going away stops llama-server; it does not come back by itself."""
    h = host[KEY]
    assert h.run("sudo -n systemctl start llama-server", user=SYSTEM.ssh.user).returncode == 0
    _healthy(host, 60)
    assert h.systemctl("stop", "mnt-models.mount").returncode == 0
    assert _show(host, "ActiveState")["ActiveState"] == "inactive"
    assert h.run(f"findmnt {MOUNT}").returncode != 0
    assert h.systemctl("start", "mnt-models.mount").returncode == 0
    assert _show(host, "ActiveState")["ActiveState"] == "inactive"


def test_restart_on_failure_then_the_start_limit(host):
    """Killed, the server is restarted after RestartSec; killed until StartLimitBurst starts within
    StartLimitIntervalSec are used up, systemd refuses the next restart and the unit stays failed."""
    h = host[KEY]
    h.systemctl("reset-failed", UNIT)               # the earlier tests' starts count towards the limit
    t0 = time.monotonic()
    assert h.run("sudo -n systemctl restart llama-server", user=SYSTEM.ssh.user).returncode == 0
    _healthy(host, 60)
    burst = int(_show(host, "StartLimitBurst")["StartLimitBurst"])
    restart_sec = int(_show(host, "RestartUSec")["RestartUSec"].removesuffix("s"))
    for n in range(1, burst):
        pid = _show(host, "MainPID")["MainPID"]
        h.run(f"kill -9 {pid}")                     # (a PID of the host's own PID namespace)
        t = time.monotonic()
        while _show(host, "NRestarts")["NRestarts"] != str(n):
            assert time.monotonic() - t < restart_sec + 30, f"not restarted within {restart_sec + 30} s"
            time.sleep(0.2)
        took = _healthy(host, 60) + (time.monotonic() - t)
        assert took >= restart_sec, f"restarted after {took:.1f} s, before RestartSec={restart_sec}"
        assert _show(host, "MainPID")["MainPID"] != pid
    h.run(f"kill -9 {_show(host, 'MainPID')['MainPID']}")
    t = time.monotonic()
    while _show(host, "ActiveState")["ActiveState"] != "failed":
        assert time.monotonic() - t < restart_sec + 30, _show(host, "ActiveState", "SubState", "Result")
        time.sleep(0.2)
    # The unit keeps the crash as its Result; the refused restart is in the journal.
    assert _show(host, "Result", "NRestarts") == {"Result": "signal", "NRestarts": str(burst)}   # the refused one counted
    journal = h.run(f"journalctl --no-pager -u {UNIT}").stdout
    assert f"{UNIT}: Start request repeated too quickly." in journal, journal
    # The unit's comment and the page's troubleshooting say so: the operator's own restart is refused too,
    # until StartLimitIntervalSec after the first start (the sudo rules allow no `reset-failed`).
    refused = journal.count("Start request repeated too quickly")
    again = h.run("sudo -n systemctl restart llama-server", user=SYSTEM.ssh.user)
    journal = h.run(f"journalctl --no-pager -u {UNIT}").stdout
    assert again.returncode != 0 and _show(host, "ActiveState")["ActiveState"] == "failed", again.stderr
    assert journal.count("Start request repeated too quickly") > refused, journal
    unit = FILES[f"systems/{KEY}/llama-server.service"]
    assert f"`sudo systemctl restart {llamacpp.UNIT}` included" in unit and "Start request repeated too quickly" in FILES[PAGE]
    print(f"\nrestart on failure: {burst - 1} restarts after the first start, then failed; the next restart "
          f"refused ({again.stderr.strip().splitlines()[0]}); {time.monotonic() - t0:.0f} s")


def test_nothing_is_left_behind_after_ctrl_c():
    """A systemd host started in a subprocess, interrupted: no namespace, process, mount or cgroup survives."""
    state = STATE.parent / "systemd-ctrl-c"       # (not under /tmp: every stand-in has its own)
    script = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(ROOT)!r})
        from pathlib import Path
        from labdocs.lab import standin_hosts as sh
        spec = sh.HostSpec("h1", "h1.home.arpa", docker=False, systemd=True)
        with sh.running_hosts([spec], Path({str(state)!r})) as lab:
            print(lab.prefix, lab[spec.name].init_pid, flush=True)
            time.sleep(60)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=sigint_default)
    line = proc.stdout.readline().split()
    if len(line) != 2:
        proc.kill()
        pytest.fail(f"the host did not start:\n{proc.communicate()[1]}", pytrace=False)
    prefix, init_pid = line
    assert Path(f"/proc/{init_pid}/comm").read_text().strip() == "systemd"
    assert any(found.startswith("cgroup ") for found in sh.leftovers(prefix, state))
    proc.send_signal(2)
    proc.wait(60)
    assert sh.leftovers(prefix, state) == [], proc.stderr.read()
    assert not Path(f"/proc/{init_pid}").exists()
