"""Issue 16, point 5: the model share's server (`infrastructure.nfs.server`, flashstore) as a host stand-in,
nfs-ganesha in userspace exporting the lab's model tree under `infrastructure.nfs.export`. `showmount -e` and
a userspace NFS client (libnfs's nfs-ls, nfs-cat) run for real, from the workstation side and from a system's
stand-in host; the published export check runs there as printed. The mount cannot run (no kernel NFS client
here): blocks that need it are recognised, and stay static with the reason. Nothing survives a run."""

from __future__ import annotations

import functools
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from conftest import ROOT
from labdocs.doctests import fences, rendered
from labdocs.lab import nfs_standin
from labdocs.lab import standin_hosts as sh
from labdocs.model.loader import load
from labdocs.render.views import system_views

pytestmark = [pytest.mark.lab, pytest.mark.slow]

DATA = load()
NFS = DATA.infrastructure.nfs
VIEWS = system_views(DATA)
CLIENT = VIEWS[0]                       # a system's stand-in host, the share's client
STATE = ROOT / ".lab" / "standin-hosts"


def build_model_tree() -> None:
    """The lab's tiny models (.lab/models) and the share's extra files (.lab/share), built as the loopback lab
    builds them (cached after the first build)."""
    from labdocs.lab import lab_specs
    from labdocs.lab.servers import build_models
    from labdocs.lab.venv import ensure_venv

    specs, _ = lab_specs.specs(DATA)
    build_models(specs, ROOT, ensure_venv(ROOT))


def client_spec() -> sh.HostSpec:
    return sh.HostSpec(CLIENT.key, CLIENT.s.host, user=CLIENT.s.ssh.user, ssh_alias=CLIENT.s.ssh.alias, docker=False)


@pytest.fixture(scope="module")
def hosts():
    if os.geteuid() != 0:
        pytest.fail("host stand-ins need root (namespaces, ganesha, rpcbind, sshd): run the suite as root", pytrace=False)
    build_model_tree()
    t0 = time.monotonic()
    with sh.running_hosts([client_spec(), nfs_standin.server_spec(DATA)], STATE) as lab:
        print(f"\n[nfs] {CLIENT.key} + {NFS.server} up in {time.monotonic() - t0:.1f} s: {lab.startup_seconds}")
        yield lab


def wrap_run(lab, argv: list[str]) -> subprocess.CompletedProcess:
    """argv on the workstation side: the lab's names in /etc/hosts."""
    return subprocess.run(lab.wrap(argv), capture_output=True, text=True, timeout=60)


def _export_lines(stdout: str) -> list[str]:
    head, *rest = stdout.splitlines()
    assert head == f"Export list for {NFS.server}:", stdout
    return rest


def test_showmount_from_the_workstation_lists_the_documented_export(hosts):
    out = wrap_run(hosts, ["showmount", "-e", NFS.server])
    assert out.returncode == 0, out.stderr
    # offered to the lab's network only, as a NAS offers its share to the lab's
    assert _export_lines(out.stdout) == [f"{NFS.export} {hosts.network}"]


def test_showmount_from_a_system_host_as_its_user(hosts):
    out = hosts.ssh(CLIENT.key, f"id -un; showmount -e {NFS.server}")
    assert out.returncode == 0, out.stderr
    user, *listing = out.stdout.splitlines()
    assert user == CLIENT.s.ssh.user
    assert _export_lines("\n".join(listing)) == [f"{NFS.export} {hosts.network}"]


@functools.cache
def published_blocks() -> list[fences.Block]:
    """The runnable blocks of every page as the reader sees it (one mkdocs build for the module)."""
    return [b for page, md in rendered.render().pages.items() for b in fences.blocks(page, md) if b.lang in fences.RUNNABLE]


def _published_export_checks() -> list[fences.Block]:
    found = [b for b in published_blocks() if "showmount" in b.code]
    assert found, "no published block runs showmount: the export check is gone from the docs"
    return found


def test_the_published_export_check_runs_on_a_system_host(hosts):
    """The page's block, as printed, over ssh on the system's stand-in; with a wrong export name it fails."""
    for block in _published_export_checks():
        assert block.on == "any" or block.on == CLIENT.key, f"{block.id}: expected on=any or on={CLIENT.key}"
        out = hosts.ssh(CLIENT.key, block.code, timeout=block.timeout)
        assert out.returncode == block.exit, f"{block.id}: exit {out.returncode}\n{out.stdout}{out.stderr}"
        assert out.stdout.startswith(f"{NFS.export} "), out.stdout
        wrong = block.code.replace(NFS.export, NFS.export + "-old")
        assert wrong != block.code, f"{block.id} does not name the export {NFS.export}"
        out = hosts.ssh(CLIENT.key, wrong, timeout=block.timeout)
        assert out.returncode != 0 and out.stdout == "", f"{block.id} passed with a wrong export name:\n{out.stdout}"


def _names(nfs_ls_stdout: str) -> set[str]:
    return {line.split()[-1] for line in nfs_ls_stdout.splitlines() if line.strip()}


@pytest.mark.parametrize("view", VIEWS, ids=lambda v: v.key)
def test_each_snapshot_is_on_the_export_with_its_config(hosts, view):
    """nfs-ls lists the documented snapshot folder on the export; nfs-cat reads config.json byte for byte."""
    rel = f"{view.repo_dir_name}/snapshots/{view.s.model.snapshot}"
    url = f"nfs://{NFS.server}{NFS.export}/{rel}"
    out = wrap_run(hosts, ["nfs-ls", url])
    assert out.returncode == 0, f"nfs-ls {url}: {out.stderr}"
    assert "config.json" in _names(out.stdout), out.stdout
    got = subprocess.run(hosts.wrap(["nfs-cat", f"{url}/config.json"]), capture_output=True, timeout=60)
    assert got.returncode == 0, got.stderr
    assert got.stdout == (ROOT / ".lab" / "models" / rel / "config.json").read_bytes()
    assert ".lab-build.json" not in _names(out.stdout)      # the lab's build stamp is not on the share


def test_the_share_lists_from_a_system_host(hosts):
    out = hosts.ssh(CLIENT.key, f"nfs-ls nfs://{NFS.server}{NFS.export}")
    assert out.returncode == 0, out.stderr
    assert {v.repo_dir_name for v in VIEWS} <= _names(out.stdout), out.stdout


def test_a_wrong_export_name_fails(hosts):
    out = wrap_run(hosts, ["nfs-ls", f"nfs://{NFS.server}{NFS.export}-old"])
    assert out.returncode != 0 and out.stdout == "", out.stdout
    assert "mount" in out.stderr.lower() or "no such" in out.stderr.lower(), out.stderr
    listing = wrap_run(hosts, ["showmount", "-e", NFS.server]).stdout
    assert f"{NFS.export}-old" not in listing


def test_the_server_uses_only_lab_addresses(hosts):
    """Only the lab's address and loopback exist in the server's namespace; NFS and MOUNT listen on the lab
    address alone (ganesha's Bind_Addr), rpcbind's UDP too (-h)."""
    server = hosts[NFS.server.split(".")[0]]
    addrs = server.run("ip -4 -o addr show | awk '{print $4}'").stdout.split()
    assert sorted(addrs) == sorted(["127.0.0.1/8", f"{server.address}/{hosts.network.prefixlen}"])
    listening = server.run("ss -Hlntup").stdout.splitlines()

    def local(line: str) -> tuple[str, str]:   # (address, port); ganesha's sockets are IPv6, v4-mapped
        address, port = line.split()[4].rsplit(":", 1)
        return address.strip("[]").removeprefix("::ffff:"), port

    ganesha = [local(line) for line in listening if "ganesha" in line]
    assert ganesha and all(a == server.address for a, _ in ganesha), listening
    assert (server.address, "2049") in ganesha
    udp_rpcbind = [local(line)[0] for line in listening if line.startswith("udp") and "rpcbind" in line]
    # -h ADDRESS: UDP on the lab address, plus loopback (rpcbind always adds it)
    assert server.address in udp_rpcbind and set(udp_rpcbind) <= {server.address, "127.0.0.1", "::1"}, listening


def test_mount_blocks_are_recognised_and_the_export_check_is_not():
    """Blocks that mount the share or look it up in the mount table need a kernel NFS client; the export check
    does not. On a machine without one (this lab's) the former stay static with nfs_standin.KERNEL_NFS_REASON."""
    blocks = published_blocks()
    mounting = [b.id for b in blocks if nfs_standin.needs_kernel_nfs(b.code, DATA)]
    assert any(b.page == "docs/infrastructure.md" for b in blocks if b.id in mounting)
    assert any(b.page.endswith("QUICKSTART.md") for b in blocks if b.id in mounting)
    assert not [b.id for b in _published_export_checks() if b.id in mounting]
    assert not nfs_standin.needs_kernel_nfs("sudo umount -l /tmp/x && ls /mnt/modelsx", DATA)
    print(f"\n[nfs] kernel NFS client here: {nfs_standin.kernel_nfs_client()}; blocks needing one: {mounting}")


SCRIPT = textwrap.dedent("""
    import sys
    from pathlib import Path
    from labdocs.lab import nfs_standin, standin_hosts as sh
    from labdocs.model.loader import load
    with sh.running_hosts([nfs_standin.server_spec(load())], Path({state!r})) as lab:
        print(lab.prefix, lab.startup_seconds, flush=True)
        if {mode!r} == "fail":
            raise RuntimeError("a failure while the server runs")
        sys.stdin.read()                  # until the test closes it (ok) or sends SIGTERM
""")


@pytest.mark.parametrize("mode", ["ok", "fail", "SIGTERM"])
def test_nothing_is_left_behind(mode):
    """ganesha, rpcbind, the namespaces, links, mounts and the export's folder: gone after success, a failure
    and SIGTERM (the leftovers check sees them while they run)."""
    if os.geteuid() != 0:
        pytest.fail("host stand-ins need root: run the suite as root", pytrace=False)
    build_model_tree()
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT.format(state=str(STATE), mode=mode)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = proc.stdout.readline().split(maxsplit=1)
        assert first and first[0].startswith(sh.PREFIX), proc.stderr.read() if proc.poll() is not None else first
        prefix = first[0]
        print(f"\n[nfs] server alone up: {first[1].strip()}")
        if mode != "fail":
            running = sh.leftovers(prefix, STATE)
            for daemon in ("ganesha.nfsd", "rpcbind"):
                assert any(x.startswith("process") and daemon in x for x in running), running
        if mode == "SIGTERM":
            proc.send_signal(signal.SIGTERM)
        proc.stdin.close()
        proc.wait(60)
    finally:
        if proc.poll() is None:
            proc.kill()
    err = proc.stderr.read()
    assert proc.returncode == {"ok": 0, "fail": 1, "SIGTERM": 128 + 15}[mode], err
    assert "host stand-ins torn down" in err
    assert sh.leftovers(prefix, STATE) == []
