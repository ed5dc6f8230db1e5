"""The world outside as the lab's stand-in (labdocs/lab/world_standin.py), on the session's host stand-ins: the
names the pages reach resolve to the lab's world hosts and answer only inside the lab, with a CA trusted only
there; the registry asks for a login as NGC does and serves the documented images; the web host answers only the
URLs the pages use; a served name that would resolve or route elsewhere stops the lab before any traffic."""

from __future__ import annotations

import socket
import ssl
import subprocess
from pathlib import Path

import pytest

from labdocs.doctests import fences, host_blocks
from labdocs.lab import world_standin as ws
from labdocs.model.loader import load

DATA = load()


def on(systems, key: str, command: str) -> subprocess.CompletedProcess:
    s = systems[key]
    return s.host.run(command, user=s.host.spec.user, cwd=f"/home/{s.host.spec.user}", timeout=60)


def test_served_names_come_from_the_data_and_count_as_inside_the_lab():
    """One list (served_names, from the data's images, offline files and the pages' checks) decides both what the
    stand-in serves and which URLs and pulls host_blocks.static_reason counts as inside the lab."""
    names = ws.served_names(DATA)
    assert {"nvcr.io", "github.com", "pypi.org", "openaipublic.blob.core.windows.net"} <= names
    assert "nvcr.io/nvidia/vllm:25.12-py3" in ws.registry_refs(DATA)
    assert not any(ws.registry_of(r) == ws.DOCKER_HUB for r in ws.registry_refs(DATA))   # local tags are built

    def block(code: str, on: str = "stella") -> fences.Block:
        return fences.blocks("x.md", f"```bash {{on={on}}}\n{code}\n```\n")[0]

    assert host_blocks.static_reason(block("curl -fsS https://pypi.org/simple/pip/"), DATA) is None
    assert host_blocks.static_reason(block("curl -fsS https://example.org/x"), DATA) == \
        "reaches outside the lab (example.org)"
    # only the URLs the stand-in answers: another repository on github.com stays outside
    assert host_blocks.static_reason(block("git clone https://github.com/ggml-org/llama.cpp"), DATA) == \
        "reaches outside the lab (github.com)"
    assert host_blocks.static_reason(block("curl -sS https://nvcr.io/v2/nvidia/vllm/tags/list"), DATA) is None
    assert host_blocks.static_reason(block("docker pull nvcr.io/nvidia/vllm:25.12-py3"), DATA) is None
    assert host_blocks.static_reason(block("docker pull ghcr.io/someone/else:1"), DATA) == host_blocks.PULL_REASON
    assert host_blocks.static_reason(block("docker pull vllm/vllm-openai:latest"), DATA) == host_blocks.PULL_REASON
    # compose pull: the system's own image decides (pegasus runs a local tag, built on the host)
    local = next(k for k, s in DATA.systems.items() if ws.registry_of(DATA.images[s.image].ref) == ws.DOCKER_HUB)
    assert host_blocks.static_reason(block("docker compose pull", on=local), DATA) == host_blocks.PULL_REASON


@pytest.mark.lab
@pytest.mark.slow
def test_the_world_answers_inside_the_lab_only(host_systems):
    """From a system's host: NGC's 401, the pages' URLs, 404 elsewhere, TLS verified against the lab CA. From this
    machine: the names are not the lab's, and the lab CA is not trusted."""
    key = next(iter(host_systems.systems))
    out = on(host_systems, key, "for u in https://nvcr.io/v2/ https://github.com/vllm-project/vllm "
                                "https://pypi.org/simple/pip/ https://pypi.org/simple/numpy/ https://github.com/x; "
                                "do curl -sS -o /dev/null -w '%{http_code}\\n' \"$u\"; done")
    assert out.stdout.split() == ["401", "200", "200", "404", "404"], out.stdout + out.stderr
    # This machine (the workstation outside the lab's private files) has neither the names nor the CA: TLS to the
    # registry's lab address fails verification with the machine's own trust store.
    assert not any(n in Path("/etc/hosts").read_text().split() for n in ws.served_names(DATA))
    registry = host_systems.lab[ws.REGISTRY_HOST].address
    with socket.create_connection((registry, 443), timeout=5) as raw:
        with pytest.raises(ssl.SSLCertVerificationError):
            ssl.create_default_context().wrap_socket(raw, server_hostname="nvcr.io")


@pytest.mark.lab
@pytest.mark.slow
def test_a_pull_needs_the_login_as_ngc_does(host_systems):
    """The registry is the documented one's stand-in: without the user's login (~/.docker/config.json) a pull is
    refused; with it, the documented image comes."""
    key = next(iter(host_systems.systems))
    ref = "nvcr.io/nvidia/pytorch:25.12-py3"
    out = on(host_systems, key, f"docker --config /tmp/no-login pull {ref} 2>&1 || echo rc=$?")
    assert "no basic auth credentials" in out.stdout and "rc=1" in out.stdout, out.stdout
    out = on(host_systems, key, f"docker pull -q {ref} && docker image rm {ref} >/dev/null")
    assert out.returncode == 0 and out.stdout.strip() == ref, out.stdout + out.stderr


@pytest.mark.lab
@pytest.mark.slow
def test_a_name_resolving_outside_the_lab_is_refused(host_systems):
    """check_names (run before any traffic) refuses when a served name would go anywhere but the lab's world host:
    here a host's own /etc/hosts names this machine's network for nvcr.io first."""
    lab = host_systems.lab
    keys = list(host_systems.systems)
    ws.check_names(lab, sorted(ws.served_names(DATA)), keys)          # as started: every name in the lab
    hosts = lab[keys[0]].state / "etc" / "hosts"
    before = hosts.read_text()
    try:
        with open(hosts, "r+") as f:                                  # in place: the host sees it through a bind
            f.write("192.0.2.7\tnvcr.io\n" + before)
        with pytest.raises(ws.WorldError, match=rf"on {keys[0]}: nvcr.io resolves to 192.0.2.7, 198.18.\S+, not only the lab's"):
            ws.check_names(lab, sorted(ws.served_names(DATA)), keys)
        with pytest.raises(ws.WorldError, match=r"example.org: no world host serves it"):
            ws.check_names(lab, ["example.org"], keys)
    finally:
        with open(hosts, "r+") as f:
            f.truncate(0)
            f.write(before)
