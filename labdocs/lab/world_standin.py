"""The world outside the lab, as the lab's stand-in: the names the pages reach beyond the lab (the NGC registry,
GitHub, PyPI, OpenAI's blob store) answered by servers the lab starts on its own bridge, never the real ones.

Two host stand-ins (lab.standin_hosts, with the systems' hosts; no sshd, no docker):
- `world-registry`, under the registry names of the data's images (nvcr.io): Debian's docker-registry
  (distribution 2.8) on port 443 with TLS and an htpasswd login (user `$oauthtoken`, NGC's; the password is
  made per run), so `curl https://nvcr.io/v2/` answers 401 as NGC does. It holds the documented images that
  name a registry (the systems' and the kit's base image), pushed there by the lab: the stand-in images the
  hosts use (lab.host_systems), never the real ones.
- `world-web`, under the other names (github.com, pypi.org, openaipublic.blob.core.windows.net): a stdlib HTTPS
  server that answers only the URLs in `pages()` (the pages' checks and the data's offline files, the latter
  with the lab's byte-for-byte copy of the published file, its sha256 checked against the data) and 404
  otherwise.

Trust and names exist only inside the lab: a CA made per run (never installed on this machine) is added to the
CA bundle that each system's stand-in sees at /etc/ssl/certs/ca-certificates.crt (curl and dockerd read it), and
the served names resolve to these hosts only through the lab's hosts files. Before any traffic `check_names`
refuses to go on unless every served name resolves, on every host and the workstation, to its world host's
lab address (whose route the lab's address rule already checks: lab.standin_hosts.check_routes).

What is served comes from the data and the pages' checks, in one place (`pages`, `registry_refs`, `served_names`):
host_blocks.static_reason counts a URL the stand-in answers (`serves`), and a pull from this registry
(`pull_in_lab`), as inside the lab.

Stdlib only (imported by the test process). Needs openssl, docker-registry and htpasswd (apache2-utils).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import secrets
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from labdocs.lab import standin_hosts as sh
from labdocs.model.schema import LabData

REGISTRY_USER = "$oauthtoken"           # NGC's login user (the API key is the password)
REGISTRY_HOST, WEB_HOST = "world-registry", "world-web"
# The pages' reachability checks (vllm-gb10/SETUP.md, prerequisite 5): what each answers here.
CHECKS = {
    "https://github.com/vllm-project/vllm": ("text/html; charset=utf-8",
                                             b"<!doctype html><title>vllm-project/vllm</title>"
                                             b"<p>lab stand-in of github.com (labdocs/lab/world_standin.py)\n"),
    "https://pypi.org/simple/pip/": ("text/html; charset=utf-8",
                                     b"<!DOCTYPE html><html><head><meta name=\"pypi:repository-version\" "
                                     b"content=\"1.1\"><title>Links for pip</title></head><body><h1>Links for pip"
                                     b"</h1><!-- lab stand-in of pypi.org: no files --></body></html>\n"),
}
DOCKER_HUB = "docker.io"


class WorldError(sh.HostLabError):
    """The world stand-in cannot start, or a served name would leave the lab."""


def registry_of(ref: str) -> str:
    """The registry an image reference pulls from (docker's rule: a first part with a dot, a colon or
    `localhost` names one, else Docker Hub)."""
    first, sep, _ = ref.partition("/")
    return first if sep and ("." in first or ":" in first or first == "localhost") else DOCKER_HUB


def registry_refs(data: LabData) -> list[str]:
    """The documented images a registry serves: every image ref and build base image that names a registry
    (a local tag such as vllm-gb10:latest is built on the host, never pulled)."""
    refs = [i.ref for i in data.images.values()] + [i.build.base_image for i in data.images.values() if i.build]
    return sorted({r for r in refs if registry_of(r) != DOCKER_HUB})


def offline_files(data: LabData, root: Path) -> dict[str, tuple[Path, str]]:
    """URL -> (the lab's copy of the published file, its sha256 in the data)."""
    return {f.url: (root / ".lab" / "share" / f.dir / f.name, f.sha256)
            for family in data.model_families.values() for f in family.offline_files}


def pages(data: LabData, root: Path) -> dict[str, tuple[str, bytes | Path]]:
    """Every URL the web host answers: URL -> (content type, body or the file that is the body)."""
    files = {url: ("application/octet-stream", path) for url, (path, _) in offline_files(data, root).items()}
    return {**CHECKS, **files}


def web_names(data: LabData, root: Path | None = None) -> list[str]:
    return sorted({urlsplit(url).hostname for url in pages(data, root or Path("."))})


def registry_names(data: LabData) -> list[str]:
    return sorted({registry_of(r) for r in registry_refs(data)})


def served_names(data: LabData) -> set[str]:
    """Every name outside the lab that the world stand-in answers (the one list static_reason reads)."""
    return {*registry_names(data), *web_names(data)}


def serves(url: str, data: LabData) -> bool:
    """Whether the world stand-in answers this URL: any path on a registry name (the registry's API), else
    exactly the URLs of `pages` (a query or fragment aside). Any other URL on github.com and the like stays
    outside the lab."""
    parts = urlsplit(url)
    if parts.hostname in registry_names(data):
        return True
    return f"{parts.scheme}://{parts.hostname}{parts.path}" in pages(data, Path("."))


PULL_ARG = re.compile(r"\bdocker\s+pull\s+(?:-\S+\s+)*(\S+)")     # the reference `docker pull` is given


def pull_in_lab(code: str, system_ref: str | None, data: LabData) -> bool:
    """Whether the images a pull block pulls are all in the lab's registry: each reference `docker pull` names;
    for `compose pull`, the system's image; a reference computed at run time (e.g. read from build.env) is one
    of the documented ones, which the lab serves when they name a registry."""
    served = set(registry_refs(data))
    for match in PULL_ARG.finditer(code):
        if "$" not in match[1] and match[1].strip("'\"") not in served:
            return False
    if re.search(r"\bcompose\s+pull\b", code) and system_ref not in served:
        return False
    return bool(served)


# --- start-up ------------------------------------------------------------------------------------------

_WEB = r'''# LAB ONLY (labdocs/lab/world_standin.py): the world stand-in's HTTPS server. Answers the URLs in ROUTES, 404 else.
import http.server, json, ssl, sys
routes, cert, key = json.load(open(sys.argv[1])), sys.argv[2], sys.argv[3]

class Handler(http.server.BaseHTTPRequestHandler):
    server_version = "labdocs-world-standin"

    def _answer(self, body_too):
        host = (self.headers.get("Host") or "").split(":")[0].lower()
        route = routes.get(host + self.path.split("?")[0])
        if route is None:
            self.send_error(404, "not served by the lab's world stand-in")
            return
        body = open(route["file"], "rb").read() if "file" in route else route["body"].encode("latin-1")
        self.send_response(200)
        self.send_header("Content-Type", route["type"])
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body_too:
            self.wfile.write(body)

    def do_GET(self):
        self._answer(True)

    def do_HEAD(self):
        self._answer(False)

    def log_message(self, fmt, *args):
        sys.stderr.write("%s %s\n" % (self.headers.get("Host"), fmt % args))

context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(cert, key)
server = http.server.ThreadingHTTPServer(("0.0.0.0", 443), Handler)
server.socket = context.wrap_socket(server.socket, server_side=True)
server.serve_forever()
'''

_REGISTRY = """# LAB ONLY (labdocs/lab/world_standin.py): the NGC registry's stand-in (distribution 2.8).
version: 0.1
log: {{level: warn, accesslog: {{disabled: true}}}}
storage: {{filesystem: {{rootdirectory: {storage}}}, delete: {{enabled: true}}}}
http: {{addr: ":443", secret: {secret}, tls: {{certificate: {cert}, key: {key}}}}}
auth: {{htpasswd: {{realm: "lab stand-in of {names}", path: {htpasswd}}}}}
"""


def _run(argv: list[str], **kw) -> subprocess.CompletedProcess:
    out = subprocess.run(argv, capture_output=True, text=True, timeout=60, **kw)
    if out.returncode != 0:
        raise WorldError(f"`{shlex.join(argv)}` exited {out.returncode}: {out.stderr.strip() or out.stdout.strip()}")
    return out


def _preflight() -> None:
    missing = [n for n in ("openssl", "docker-registry", "htpasswd") if not shutil.which(n)]
    if missing:
        raise WorldError(f"missing {', '.join(missing)}: `make system-deps` installs them "
                         "(openssl, docker-registry, apache2-utils)")


@dataclass
class World:
    """The world stand-in's files, made before the hosts start: its CA, the bundle the systems' hosts trust,
    its hosts' specs, the registry login."""

    folder: Path
    data: LabData
    root: Path
    password: str = ""

    @property
    def ca(self) -> Path:
        return self.folder / "ca.crt"

    @property
    def bundle(self) -> Path:
        return self.folder / "ca-certificates.crt"

    def names(self) -> list[str]:
        return sorted(served_names(self.data))

    def make(self) -> list[sh.HostSpec]:
        """The CA, the servers' certificate, the registry's and the web server's configurations; the hosts'
        specs. Refuses a served name that the lab already gives a host of its own (it would resolve twice)."""
        _preflight()
        taken = {s.host for s in self.data.systems.values()} | {self.data.infrastructure.nfs.server}
        domain = self.data.infrastructure.dns.domain
        clash = sorted(n for n in self.names() if n in taken or n.endswith("." + domain) or n == domain)
        if clash:
            raise WorldError(f"the world stand-in would serve {', '.join(clash)}, which is inside the lab "
                             f"(a host's name or under {domain}): refusing to start")
        f = self.folder
        f.mkdir(parents=True, exist_ok=True)
        # The CA: made per run, trusted only inside the systems' stand-ins (the bundle bind-mounted there).
        _run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
              "-keyout", str(f / "ca.key"), "-out", str(self.ca), "-days", "2",
              "-subj", "/CN=labdocs lab CA (one run, lab stand-ins only)",
              "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"])
        _run(["openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
              "-keyout", str(f / "server.key"), "-out", str(f / "server.csr"), "-subj", "/CN=labdocs world stand-in"])
        (f / "server.ext").write_text("subjectAltName=" + ",".join(f"DNS:{n}" for n in self.names())
                                      + "\nextendedKeyUsage=serverAuth\nbasicConstraints=critical,CA:FALSE\n")
        _run(["openssl", "x509", "-req", "-in", str(f / "server.csr"), "-CA", str(self.ca), "-CAkey", str(f / "ca.key"),
              "-CAcreateserial", "-days", "2", "-out", str(f / "server.crt"), "-extfile", str(f / "server.ext")])
        system_bundle = Path("/etc/ssl/certs/ca-certificates.crt")
        self.bundle.write_text((system_bundle.read_text() if system_bundle.exists() else "") + self.ca.read_text())
        # The registry: its login (bcrypt at the lowest cost: it is checked on every request), its storage.
        self.password = secrets.token_urlsafe(24)
        _run(["htpasswd", "-B", "-C", "4", "-b", "-c", str(f / "htpasswd"), REGISTRY_USER, self.password])
        (f / "registry").mkdir(exist_ok=True)
        (f / "registry.yml").write_text(_REGISTRY.format(
            storage=json.dumps(str(f / "registry")), secret=json.dumps(secrets.token_hex(16)),
            cert=json.dumps(str(f / "server.crt")), key=json.dumps(str(f / "server.key")),
            names=", ".join(registry_names(self.data)), htpasswd=json.dumps(str(f / "htpasswd"))))
        # The web server: only the listed URLs, files checked against the data's sha256 first.
        routes = {}
        for url, (ctype, body) in pages(self.data, self.root).items():
            parts = urlsplit(url)
            route = {"type": ctype}
            if isinstance(body, Path):
                want = dict(offline_files(self.data, self.root))[url][1]
                if not body.is_file():
                    raise WorldError(f"{url}: the lab's copy {body} is missing (the lab's models build writes it)")
                got = hashlib.sha256(body.read_bytes()).hexdigest()
                if got != want:
                    raise WorldError(f"{url}: the lab's copy {body} has sha256 {got}, the data says {want}")
                route["file"] = str(body.resolve())
            else:
                route["body"] = body.decode("latin-1")
            routes[parts.hostname + (parts.path or "/")] = route
        (f / "routes.json").write_text(json.dumps(routes, indent=1))
        (f / "web.py").write_text(_WEB)
        ready = ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/443"]
        registry = sh.HostSpec(REGISTRY_HOST, REGISTRY_HOST, aliases=registry_names(self.data), sshd=False,
                               docker=False, sudo=False, services=[sh.Service(
                                   "registry", ["docker-registry", "serve", str(f / "registry.yml")], ready)])
        web = sh.HostSpec(WEB_HOST, WEB_HOST, aliases=web_names(self.data, self.root), sshd=False, docker=False,
                          sudo=False, services=[sh.Service(
                              "web", [sys.executable, "-I", str(f / "web.py"), str(f / "routes.json"),
                                      str(f / "server.crt"), str(f / "server.key")], ready)])
        return [registry, web]

    def trust(self) -> dict[str, str]:
        """For a system's HostSpec.files: the CA bundle with the lab CA, where curl and dockerd read it."""
        return {"/etc/ssl/certs/ca-certificates.crt": str(self.bundle)}

    def docker_config(self) -> str:
        """~/.docker/config.json as `docker login nvcr.io` leaves it (the registry's login)."""
        auth = base64.b64encode(f"{REGISTRY_USER}:{self.password}".encode()).decode()
        return json.dumps({"auths": {n: {"auth": auth} for n in registry_names(self.data)}}, indent=1) + "\n"


def check_names(lab: sh.HostLab, names: list[str], hosts: list[str]) -> None:
    """Before any traffic to them: every served name resolves, inside each of the hosts (their own /etc/hosts,
    through getent as any program resolves) and on the workstation side, to the address of the lab's world
    host that serves it; refuses otherwise, naming the host, the name and where it would go."""
    want = {n: h.address for h in lab.hosts.values() if h.name in (REGISTRY_HOST, WEB_HOST) for n in h.spec.aliases}
    problems = [f"{n}: no world host serves it" for n in names if n not in want]
    # Every address getaddrinfo gives, per name: not only the first, since a program tries the others when the
    # first fails, and glibc sorts several /etc/hosts lines for one name by address, not by line.
    script = 'for n; do getent ahostsv4 "$n" | while read -r a _; do echo "$a $n"; done; done'
    places = [(name, lab.hosts[name].enter(["sh", "-c", script, "sh", *names])) for name in hosts]
    places.append(("the workstation", lab.wrap(["sh", "-c", script, "sh", *names])))
    # ... and each served address goes through the lab's own links (as check_routes checks every host's).
    for addr in sorted(set(want.values())):
        dev, gateway = sh.route_dev(addr)
        if dev != lab.bridge or gateway:
            problems.append(f"on the workstation: {addr} routes via {dev or 'nothing'}, not the lab bridge {lab.bridge}")
        for name in hosts:
            dev, gateway = sh.route_dev(addr, lab.hosts[name].netns)
            if dev != "eth0" or gateway:
                problems.append(f"on {name}: {addr} routes via {dev or 'nothing'}, not its eth0")
    for where, argv in places:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        got: dict[str, set[str]] = {}
        for line in out.stdout.splitlines():
            addr, name = line.split()
            got.setdefault(name, set()).add(addr)
        for n in names:
            if n in want and got.get(n) != {want[n]}:
                problems.append(f"on {where}: {n} resolves to {', '.join(sorted(got.get(n, set()))) or 'nothing'}, "
                                f"not only the lab's world stand-in {want[n]}")
    if problems:
        raise WorldError("world stand-in: refusing to go on, a served name would leave the lab:\n  "
                         + "\n  ".join(problems))


def publish(lab: sh.HostLab, world: World, sources: dict[str, str]) -> dict[str, float]:
    """Push every registry ref of the data into the lab's registry from a system's host: the image that host
    already has under that ref (sources: ref -> host name), else a stand-in image imported for the push and
    removed after it (so a pull on the hosts really fetches it). Seconds per ref."""
    seconds = {}
    config = world.folder / "docker-config"
    config.mkdir(exist_ok=True)
    (config / "config.json").write_text(world.docker_config())
    if not sources:
        return seconds                      # no system host to push from: the registry stays empty
    pusher = next(iter(sources.values()))
    for ref in registry_refs(world.data):
        t0 = time.monotonic()
        host = lab[sources.get(ref, pusher)]
        docker = ["docker", "--config", str(config)]
        made = ref not in sources
        if made:
            tar = sh.base_rootfs_tar(host.state / "world-image.tar", {"lab/README": f"lab stand-in of {ref}\n"})
            sh.import_image(host, ref, tar)
            tar.unlink()
        out = subprocess.run(host.enter([*docker, "push", "--quiet", ref]), capture_output=True, text=True,
                             timeout=120)
        if out.returncode != 0:
            raise WorldError(f"pushing {ref} to the lab's registry from {host.name}: {out.stderr.strip()}")
        if made:
            subprocess.run(host.enter(["docker", "image", "rm", "--force", ref]), capture_output=True, timeout=60)
        seconds[ref] = round(time.monotonic() - t0, 2)
    return seconds


def login(host: sh.Host, world: World) -> None:
    """The host's user logged in to the registry, as `docker login nvcr.io` leaves it (~/.docker/config.json)."""
    path = host.home / ".docker" / "config.json"
    path.write_text(world.docker_config())
    os.chown(path, host.uid, host.gid)
    path.chmod(0o600)


def deltas(world: World) -> list[str]:
    """How the world stand-in differs from the world, for the report."""
    return [
        f"{', '.join(registry_names(world.data))} is the lab's registry (Debian's docker-registry, a lab CA trusted "
        f"only inside the stand-ins) holding only the lab's stand-in images of {', '.join(registry_refs(world.data))}; "
        f"the user is logged in to it as {REGISTRY_USER} (~/.docker/config.json, as `docker login` leaves it)",
        f"{', '.join(web_names(world.data, world.root))} are the lab's HTTPS server (same CA), answering only "
        + ", ".join(pages(world.data, world.root)) + " (the files: the lab's byte-for-byte copies, sha256 checked)",
    ]
