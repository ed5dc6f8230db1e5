"""Render every generated file from the data, in memory. Templates mirror their outputs:
templates/system/QUICKSTART.md.j2 -> systems/<id>/QUICKSTART.md, templates/STATUS.md.j2 -> STATUS.md.
"""

from __future__ import annotations

import functools
import json
import math
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import jinja2

from labdocs.model.ceiling import bandwidth_ceiling, describe_speed, pct_of

from labdocs import hf_cache
from labdocs.model.clients import opencode_config, opencode_provider
from labdocs.model.cluster import node_env, port_of
from labdocs.paths import DATA_FILE, ROOT
from labdocs.model.operations import Procedure, SystemdProcedure
from labdocs.model.rules import version_of
from labdocs.model.schema import ENGINE_SERVICE, FORGES, LabData, System
from labdocs.engines import engine_of
from labdocs.engines.vllm import PLUGIN_DIR, PLUGIN_TARGET, uses_plugin
from labdocs.observed.status import CHARTS, STATUS_MODULE, observed_rows
from labdocs.observed.status import outputs as status_outputs
from labdocs.render import marker as render_marker
from labdocs.render import speeds

TEMPLATES = ROOT / "templates"


def _yaml_scalar(value: object) -> str:
    # JSON scalars are valid YAML flow scalars, and json.dumps quotes every string safely.
    return json.dumps(value)


_LINE_BREAKS = re.compile("[\r\n\x85\u2028\u2029\x0b\x0c]")


def _comment(value: object) -> str:
    """Text for a YAML comment: a line break would end the comment and start YAML of its own
    (PyYAML also breaks at U+0085, U+2028, U+2029). The schema refuses them; this refuses them again."""
    text = str(value)
    if _LINE_BREAKS.search(text):
        raise ValueError(f"refusing to write a line break into a YAML comment: {text!r}")
    return text


def num(value: float) -> str:
    """A figure as pages show it: 6.0 -> 6, 0.85 -> 0.85 (the `num` filter of templates and pages)."""
    return f"{value:g}"


def attribute(value: object) -> str:
    """Text inside a double-quoted Markdown title (admonitions, tabs): a '"' would end it."""
    return _comment(value).replace("&", "&amp;").replace('"', "&quot;")


# Characters that could make a table cell's text into structure: HTML, a cell break, a code span, a link, an
# escape, attribute lists ({: }), Jinja, emphasis. Entities keep the text as it reads.
_CELL_ENTITIES = {c: f"&#{ord(c)};" for c in "&<>|`\\[]{}*"}


def cell(value: object) -> str:
    """Text for a Markdown table cell: a line break (which would end the table) is refused, and every
    character listed in _CELL_ENTITIES becomes its entity."""
    return "".join(_CELL_ENTITIES.get(c, c) for c in _comment(value))


@functools.lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    """One environment per process: `mkdocs serve` regenerates on every change, and compiling the
    templates anew each time cost a fifth of a reload. Jinja checks each template's file for changes."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )
    env.filters["num"] = num
    env.filters["q"] = lambda v: shlex.quote(str(v))
    env.filters["yaml"] = _yaml_scalar
    env.filters["comment"] = _comment
    env.filters["attribute"] = attribute
    env.filters["cell"] = cell
    env.filters["shell_join"] = lambda argv: " ".join(shlex.quote(str(a)) for a in argv)
    return env


def marker(source: str, template: str, comment: str) -> str:
    """The do-not-edit marker of a file rendered from `template`."""
    return render_marker.marker(source, f"template {template}", comment)


@dataclass(frozen=True)
class Node:
    """One machine of a system: the head (serves the API) or a Ray worker."""

    role: str
    index: int
    host: str
    ssh_alias: str
    address: str | None
    compose_name: str
    argv: tuple[str, ...] = ()
    gpus: int | None = None
    env: tuple[tuple[str, str, str], ...] = ()   # (variable, value, comment): the interconnect, on every node

    @property
    def serves_api(self) -> bool:
        return self.role == "head"


class SystemView:
    """A system plus the facts derived from it, so templates never recompute them."""

    def __init__(self, data: LabData, key: str, system: System):
        self.key, self.s, self.data = key, system, data
        self.platform = data.platforms[system.hardware.platform]
        self.engine = engine_of(system)
        self.service_manager = system.service_manager or ENGINE_SERVICE[system.engine]
        self.image = data.images[system.image] if system.image else None
        self.vllm = self.image.vllm if self.image else None    # the version string, e.g. 0.11.1
        self.version = version_of(data, system)           # its vllm_versions: row
        # The reasoning field(s) clients get: vLLM's come from the version (it renamed reasoning_content).
        if self.version:
            self.reasoning_fields = list(self.version.reasoning_fields) if system.reasoning else []
        else:
            self.reasoning_fields = list(self.engine.REASONING_FIELDS) if system.reasoning else []
        self.gpu_count = system.gpus or "all"
        family = data.model_families.get(system.model.family)
        self.offline_files = list(family.offline_files) if family else []
        self.build_command = self.image.build_command if self.image else None
        self.api_base = f"http://{system.host}:{system.port}"
        self.openai_base = f"{self.api_base}/v1"
        nfs = data.infrastructure.nfs
        self.models_source = nfs.mount_point if system.weights == "nfs" else nfs.local_copy_dir
        self.argv = self.engine.serve_argv(system, self.models_source)
        self.build_steps = self.engine.build_steps(system, self.platform) if system.engine == "llama.cpp" else []
        # tool_calling.parser: toolcalls: the plugin's package, beside the compose file on the host.
        self.plugin_mount = (f"./{PLUGIN_DIR}", PLUGIN_TARGET) if uses_plugin(system) else None
        self.issues = [i for i in data.known_issues if key in i.systems and i.engine in (None, system.engine)]
        self.repo_dir_name = hf_cache.repo_dir(system.model.repo)
        self.host_model_dir = hf_cache.snapshot_path(self.models_source, system.model.repo, system.model.snapshot)
        # The healthcheck waits twice the documented load time before failures count.
        self.start_period_minutes = math.ceil(system.load.minutes * 2)
        self.wait_seconds = self.start_period_minutes * 60
        c = system.cluster
        env = (lambda address: tuple(node_env(data, system, address))) if c else (lambda address: ())
        self.head = Node("head", 0, system.host, system.ssh.alias, c.head_address if c else None, "docker-compose.yml",
                         gpus=system.gpus, env=env(c.head_address if c else None))
        self.workers = [
            Node("worker", i, w.host, w.ssh.alias, w.address, f"docker-compose.worker-{i}.yml",
                 ("ray", "start", f"--address={c.head_address}:{c.ray_port}", f"--node-ip-address={w.address}",
                  f"--num-gpus={w.gpus}", "--block"), gpus=w.gpus, env=env(w.address))
            for i, w in enumerate(c.workers if c else [], start=1)]
        self.nodes = [self.head, *self.workers]
        self.cluster_gpus = sum(n.gpus or 0 for n in self.nodes)   # the GPUs the head waits for in Ray
        self.interconnect_port = port_of(data, system) if c else None
        # Decode reads every active weight once per token: bandwidth over bytes per token bounds it.
        self.ceiling = bandwidth_ceiling(data, system)
        documented = system.speed.decode_tokens_per_s
        pct = pct_of(documented, self.ceiling)
        self.documented_speed = describe_speed(documented, pct) or "not measured yet"
        self.documented_vs_ceiling = describe_speed(documented, pct, (self.ceiling or {}).get("tokens_per_s"))
        if not self.documented_vs_ceiling:      # STATUS.md's Declared table: what bounds a speed not yet measured
            self.documented_vs_ceiling = "not measured yet" + (
                f" (ceiling: {num(self.ceiling['tokens_per_s'])} tok/s)" if self.ceiling else "")
        self.context_tokens = f"{system.context_length:,}"
        self.head_script = self._head_script() if c else None
        self.ops = Procedure(data, self) if self.service_manager == "docker-compose" else SystemdProcedure(data, self)

    @property
    def tool_paths(self) -> dict:
        """What a client gets for a tool call the model writes with tool_choice "auto", without and with
        streaming, from the system's parser and its model family's own format (vLLM's behaviour)."""
        family = self.data.model_families[self.s.model.family]
        parser = self.s.tool_calling.parser
        if self.s.tool_calling.format == "openai":
            return {"plain": "`tool_calls`", "stream": "`tool_calls` deltas", "native": True}
        plain = f"{family.tool_format} text in `content` (`toolcalls.normalize_message` turns it into `tool_calls`)"
        if parser == "hermes" and family.tool_format == "qwen3-xml":
            # hermes holds everything after <tool_call> as partial JSON that never parses, and drops it.
            return {"plain": plain, "stream": "**nothing**: the call is dropped from `content` and `tool_calls`",
                    "native": False}
        return {"plain": plain, "stream": f"{family.tool_format} text in `content` deltas", "native": False}

    def cite(self, source_id: str | None, estimate: str | None = None) -> str:
        """Where a figure comes from, for the page beside it: a measurement (host, date, how, record),
        a vendor's page, or a visible estimate."""
        return cite(self.data, source_id, estimate)

    def cite_plain(self, source_id: str | None, estimate: str | None = None) -> str:
        return cite_plain(self.data, source_id, estimate)

    @property
    def sources_used(self) -> list[tuple[str, object]]:
        """Every source a figure on this system's pages names, in the order the page cites them."""
        s = self.s
        ids = [self.platform.source, s.model.source, s.model.files.source if s.model.files else None,
               s.speed.source, self.version.source if self.version and self.reasoning_fields else None,
               self.image.version_source if self.image else None,
               s.load.source, s.memory.source if s.memory else None, *(f.source for f in self.offline_files),
               s.cluster.source if s.cluster else None,
               self.platform.interconnect.source if s.cluster and self.platform.interconnect else None,
               *(e.source for e in s.evaluations or [])]
        return [(i, self.data.sources[i]) for i in dict.fromkeys(ids) if i]

    def _head_script(self) -> str:
        """Start Ray's head, wait until every node's GPU has joined, then serve. No `set -e` and no time
        limit on the wait: a late worker finds the head still waiting (a head that gave up would exit, be
        restarted a bounded number of times and then stay down). The head exits, for the bounded restart
        policy, only when Ray itself fails. The QUICKSTART's check is the bounded wait, on the operator's side."""
        c, gpus = self.s.cluster, self.cluster_gpus
        script = "\n".join([
            f"ray start --head --port={c.ray_port} --node-ip-address={c.head_address} --num-gpus={self.s.gpus} || exit 1",
            f"echo 'waiting for {gpus} GPUs on {len(self.nodes)} nodes in the Ray cluster: workers may join at any time'",
            f"until ray status 2>/dev/null | grep -q \"/{gpus}.0 GPU\"; do",
            "  sleep 30",
            "  ray status 2>/dev/null | grep ' GPU' || { echo 'the Ray head stopped answering'; exit 1; }",
            "done",
            "exec " + " ".join(shlex.quote(a) for a in self.argv),
        ])
        # Shown as a YAML block scalar, where compose would interpolate a '$': the data's validated
        # values never contain one, and the script itself uses none.
        assert "$" not in script, script
        return script


def cite(data: LabData, source_id: str | None, estimate: str | None = None) -> str:
    """A figure's source in a table cell; the page's Sources section says how each was measured."""
    if estimate is not None or source_id is None:
        return f"**estimate**: {estimate}" if estimate else "**estimate**"
    src = data.sources[source_id]
    if src.measured:
        text = f"{cite_plain(data, source_id)} (`{source_id}`)"
        return f"{text}, [record]({src.record})" if src.record else text
    return f"[vendor]({src.vendor}) (`{source_id}`)"


def cite_plain(data: LabData, source_id: str | None, estimate: str | None = None) -> str:
    """The same in plain words for a comment in a generated file: only validated names and dates, so no
    free text from the data reaches a YAML comment."""
    if estimate is not None or source_id is None:
        return "an estimate"
    src = data.sources[source_id]
    if src.measured:
        return f"measured on {src.measured.host}, {src.measured.date.isoformat()}"
    return "a vendor figure"


def system_views(data: LabData) -> list[SystemView]:
    """Every system's view, in data order."""
    return [SystemView(data, key, system) for key, system in data.systems.items()]


def system_outputs(env: jinja2.Environment, data: LabData, views: list[SystemView], source: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for view in views:
        key, system = view.key, view.s
        ctx = {"lab": data, "v": view, "s": system, "source": source}
        ctx["provider_json"] = json.dumps({key: opencode_provider(data, key)}, indent=2)
        if view.service_manager == "systemd":
            out.update(_systemd_outputs(env, view, ctx, source))
            continue
        for node in view.workers:
            template = "system/docker-compose.worker.yml.j2"
            ctx["marker"] = marker(source, f"templates/{template}", "hash")
            out[f"systems/{key}/{node.compose_name}"] = env.get_template(template).render({**ctx, "node": node})
        for name in ("docker-compose.yml", "README.md", "QUICKSTART.md", "COMPOSE.md", ".nav.yml"):
            template = f"system/{name}.j2"
            kind = "html" if name.endswith(".md") else "hash"
            ctx["marker"] = marker(source, f"templates/{template}", kind)
            if name == "COMPOSE.md":
                ctx["compose_texts"] = {n.compose_name: out[f"systems/{key}/{n.compose_name}"] for n in view.nodes}
            out[f"systems/{key}/{name}"] = env.get_template(template).render(ctx)
        template = "system/vllm.service.j2"
        ctx["marker"] = marker(source, f"templates/{template}", "hash")
        out[f"systems/{key}/{view.ops.unit}"] = env.get_template(template).render(ctx)
    return out


def _systemd_outputs(env: jinja2.Environment, view: SystemView, ctx: dict, source: str) -> dict[str, str]:
    """A server under systemd (llama.cpp): its unit, its sudo rules and its pages."""
    out = {}
    for name, template, kind in ((view.ops.unit, "system/llama-server.service.j2", "hash"),
                                 (view.ops.sudoers_file, "system/llama-server.sudoers.j2", "hash"),
                                 ("README.md", "system/llamacpp.README.md.j2", "html"),
                                 ("QUICKSTART.md", "system/llamacpp.QUICKSTART.md.j2", "html"),
                                 (".nav.yml", "system/llamacpp.nav.yml.j2", "hash")):
        ctx["marker"] = marker(source, f"templates/{template}", kind)
        out[f"systems/{view.key}/{name}"] = env.get_template(template).render(ctx)
    return out


def engine_switch(data: LabData, source: str) -> speeds.Switch | None:
    """The bundled engine switch (render/migration.EXAMPLE), for the lab's own data's STATUS.md: both engines'
    speeds against one ceiling. None for any other data file, or when the example is not there."""
    from labdocs.model.loader import load
    from labdocs.render import migration    # here: migration imports this module

    rel, key = migration.EXAMPLE
    if source != DATA_FILE.as_posix() or key not in data.systems or not (ROOT / rel).is_file():
        return None
    new = load(ROOT / rel)
    if key not in new.systems or new.systems[key].engine == data.systems[key].engine:
        return None
    return speeds.switch(SystemView(data, key, data.systems[key]), SystemView(new, key, new.systems[key]),
                         source, rel, migration.EXAMPLE_PAGE)


def render_all(data: LabData, source: str = DATA_FILE.as_posix()) -> dict[str, str]:
    """Every generated file, path relative to the repository root -> text."""
    env = environment()
    views = system_views(data)
    out = system_outputs(env, data, views, source)
    observed, status = status_outputs(data)
    switch = engine_switch(data, source)
    note = "`make status TARGET=live` records a probe."
    observed = {path: render_marker.marker(origin, STATUS_MODULE, "html", note) + "\n" + svg
                for path, (origin, svg) in observed.items()}
    out.update(observed)
    for path, template in (("STATUS.md", "STATUS.md.j2"), ("systems/README.md", "systems/README.md.j2"),
                           ("systems/.nav.yml", "systems/.nav.yml.j2")):
        ctx = {"lab": data, "views": views, "source": source, "status": status, "charts": CHARTS,
               "observed_rows": observed_rows(data, status), "speed_rows": speeds.speed_rows(views, status),
               "switch": switch, "speeds_basis": speeds.basis,
               "has_history": any(p.startswith("charts/") and not p.startswith("charts/badge-") for p in observed),
               "marker": marker(source, f"templates/{template}", "html" if path.endswith(".md") else "hash")}
        out[path] = env.get_template(template).render(ctx)
    out.update(ci_outputs(env, data, source))
    out.update(docs_site_outputs(env, data, source))
    out["clients/opencode.json"] = json.dumps(opencode_config(data), indent=2) + "\n"
    for image in data.images.values():
        if image.build:
            template = "vllm-gb10/build.env.j2"
            ctx = {"lab": data, "image": image, "b": image.build, "platform": data.platforms[image.build.platform],
                   "marker": marker(source, f"templates/{template}", "hash")}
            out["vllm-gb10/build.env"] = env.get_template(template).render(ctx)
    return out


def ci_outputs(env: jinja2.Environment, data: LabData, source: str) -> dict[str, str]:
    """The CI workflows, in the folder the data's forge reads. Expressions are the forges' own syntax,
    built here so that the templates hold no `${{ }}` and data values reach them only as YAML scalars."""
    if data.ci is None:
        return {}
    folder, run_field = FORGES[data.ci.forge]
    ctx = {"lab": data, "ci": data.ci,
           "run_url_expression": "${{ github.server_url }}/${{ github.repository }}/actions/runs/${{ github.%s }}" % run_field,
           "token_expression": "${{ secrets.%s }}" % data.ci.secrets.push_token,
           "always_expression": "${{ !cancelled() }}"}
    out = {}
    for name in ("test.yml", "status.yml"):
        template = f"workflows/{name}.j2"
        ctx["marker"] = marker(source, f"templates/{template}", "hash")
        out[f"{folder}/{name}"] = env.get_template(template).render(ctx)
    return out


DOCS_SITE_KEY = "docs-site"        # the docs host's name in fence headers: {on=docs-site}
DOCS_SITE_DIR = "docs-site"        # its generated files
# The unit file's path is fixed, as its template's is: a name from data (docs_site.unit) must not change the
# set of generated files (tests/test_hostile_values.py); the unit is installed under its name from data.
DOCS_SITE_UNIT = f"{DOCS_SITE_DIR}/unit.service"


def docs_site_serve_argv(data: LabData) -> list[str]:
    """The unit's ExecStart: the host's Python serving the `site` link on the documented port, on every address of
    the host. Not `--bind NAME`: a Debian install maps the host's own name to 127.0.1.1 in /etc/hosts, so the
    server listened there only and the workstation was refused (seen on a systemd host stand-in). The lab runs
    exactly this, in a host stand-in of its own (lab.docs_site)."""
    d = data.docs_site
    return [d.python, "-m", "http.server", "--directory", f"{d.site_root}/site", str(d.port)]


def docs_site_url(data: LabData) -> str:
    d = data.docs_site
    return f"http://{d.host}" + ("" if d.port == 80 else f":{d.port}") + "/"


def docs_site_outputs(env: jinja2.Environment, data: LabData, source: str) -> dict[str, str]:
    """The docs host's systemd unit and its QUICKSTART page; without a docs_site, a page that says so
    (the site links docs-site/ whatever the data)."""
    d = data.docs_site
    files = [(f"{DOCS_SITE_DIR}/QUICKSTART.md", "docs-site/QUICKSTART.md.j2", "html"),
             (f"{DOCS_SITE_DIR}/.nav.yml", "docs-site/.nav.yml.j2", "hash")]
    ctx = {"lab": data, "d": d}
    if d is not None:
        files.insert(0, (DOCS_SITE_UNIT, "docs-site/unit.service.j2", "hash"))
        ctx.update(key=DOCS_SITE_KEY, site_url=docs_site_url(data), unit_file=f"{d.unit}.service",
                   unit_path=DOCS_SITE_UNIT, serve_argv=docs_site_serve_argv(data), site_name=data.lab.name)
    out = {}
    for name, template, kind in files:
        ctx["marker"] = marker(source, f"templates/{template}", kind)
        out[name] = env.get_template(template).render(ctx)
        if template == "docs-site/unit.service.j2":
            ctx["unit_text"] = out[name]
    return out


def source_name(data_path: Path) -> str:
    try:
        return str(Path(data_path).resolve().relative_to(ROOT))
    except ValueError:
        return Path(data_path).name
