"""Rules that span several fields. Each returns (key path, message, hint) so errors name their key."""

from __future__ import annotations

from collections.abc import Iterator

from labdocs.model.cluster import SHARED, declared_gpus, port_of
from labdocs.model.errors import key_path
from labdocs.model.schema import ENGINE_SERVICE, LabData
from labdocs.engines import engine_of

Problem = tuple[tuple, str, str | None]

READ_PER_TOKEN_TOLERANCE = 0.02   # the groups may round; 2% off active_params_b is a different model


def version_of(data: LabData, system):
    """The vllm_versions: row of the vLLM inside a system's image, or None."""
    return engine_of(system).version_of(data, system)


def _provenance(data: LabData) -> Iterator[Problem]:
    """Every fact names a source that exists; a measured figure or an estimate, never neither."""
    refs: list[tuple[tuple, str]] = []
    for key, p in data.platforms.items():
        refs.append((("platforms", key, "source"), p.source))
        if p.interconnect:
            refs.append((("platforms", key, "interconnect", "source"), p.interconnect.source))
    for key, fam in data.model_families.items():
        refs += [(("model_families", key, "offline_files", i, "source"), f.source) for i, f in enumerate(fam.offline_files)]
        for i, f in enumerate(fam.offline_files):
            if not (len(f.sha256) == 64 and all(c in "0123456789abcdef" for c in f.sha256)):
                yield ("model_families", key, "offline_files", i, "sha256"), f"{f.sha256!r} is not a sha256", \
                    "64 lower-case hex digits, as `sha256sum` prints them"
    for key, image in data.images.items():
        if image.version_source:
            refs.append((("images", key, "version_source"), image.version_source))
    for version, row in data.vllm_versions.items():
        refs.append((("vllm_versions", version, "source"), row.source))
    for key, s in data.systems.items():
        base = ("systems", key)
        refs.append((base + ("model", "source"), s.model.source))
        if s.model.files:
            refs.append((base + ("model", "files", "source"), s.model.files.source))
        if s.memory:
            refs.append((base + ("memory", "source"), s.memory.source))
        if s.cluster:
            refs.append((base + ("cluster", "source"), s.cluster.source))
        refs += [(base + ("evaluations", i, "source"), e.source) for i, e in enumerate(s.evaluations or [])]
        for block, figure in (("speed", s.speed.decode_tokens_per_s), ("load", s.load.minutes)):
            fact = getattr(s, block)
            if figure is not None and (fact.source is None) == (fact.estimate is None):
                yield base + (block,), "give exactly one of `source:` (where it was measured) or `estimate:`", \
                    "a measured figure names a key of sources:; an estimate says how it was estimated"
            if fact.source:
                refs.append((base + (block, "source"), fact.source))
    for loc, ref in refs:
        if ref not in data.sources:
            yield loc, f"unknown source {ref!r}", f"use one of: {', '.join(data.sources)}, or add it under sources:"
    for key, src in data.sources.items():
        if (src.measured is None) == (src.vendor is None):
            yield ("sources", key), "give exactly one of `measured:` or `vendor:`", \
                "measured: {host, date, by} for a measurement; vendor: URL for a vendor's page"


def _read_per_token(data: LabData, key: str, s) -> Iterator[Problem]:
    groups = s.model.read_per_token or []
    for i, g in enumerate(groups):
        if g.quantization not in data.quantizations:
            yield ("systems", key, "model", "read_per_token", i, "quantization"), \
                f"unknown quantization {g.quantization!r}", f"use one of: {', '.join(data.quantizations)}"
    total = sum(g.params_b for g in groups)
    if groups and abs(total - s.model.active_params_b) > READ_PER_TOKEN_TOLERANCE * s.model.active_params_b:
        yield ("systems", key, "model", "read_per_token"), \
            f"the groups add up to {total:g}B, not active_params_b ({s.model.active_params_b:g}B)", \
            "list every tensor a token reads (experts, attention, router, lm_head), each once"


def _unique(items: Iterator[tuple[tuple, object]], what: str, owner: str = "system") -> Iterator[Problem]:
    seen: dict[object, tuple] = {}
    for loc, value in items:
        if value in seen:
            yield loc, f"{what} {value!r} is already used by {key_path(seen[value])}", f"each {owner} needs its own {what}"
        else:
            seen[value] = loc


def _hosts(data: LabData):
    for key, s in data.systems.items():
        yield ("systems", key, "host"), s.host
        for i, w in enumerate(s.cluster.workers if s.cluster else []):
            yield ("systems", key, "cluster", "workers", i, "host"), w.host


def _aliases(data: LabData):
    for key, s in data.systems.items():
        yield ("systems", key, "ssh", "alias"), s.ssh.alias
        for i, w in enumerate(s.cluster.workers if s.cluster else []):
            yield ("systems", key, "cluster", "workers", i, "ssh", "alias"), w.ssh.alias


def _cluster(data: LabData, key: str, s) -> Iterator[Problem]:
    c, base = s.cluster, ("systems", key, "cluster")
    gpus = declared_gpus(s)
    if gpus[0] is None:
        yield ("systems", key, "gpus"), "a cluster's head declares its GPUs", \
            "gpus: 1 (one GB10 GPU per machine); tensor x pipeline parallel size must equal the nodes' GPUs"
    elif c.tensor_parallel_size * c.pipeline_parallel_size != sum(gpus):
        shown = " + ".join(str(g) for g in gpus)
        yield base + ("tensor_parallel_size",), (
            f"tensor {c.tensor_parallel_size} x pipeline {c.pipeline_parallel_size} = "
            f"{c.tensor_parallel_size * c.pipeline_parallel_size} GPUs, but the nodes declare {sum(gpus)} ({shown})"), \
            f"make tensor_parallel_size x pipeline_parallel_size = {sum(gpus)}, or correct the nodes' gpus"
    for i, w in enumerate(c.workers):
        for field, head_key, head_value in SHARED:
            mine, theirs = getattr(w, field), head_value(s)
            if mine is not None and mine != theirs:
                yield base + ("workers", i, field), (
                    f"{mine!r} differs from the head's {theirs!r} ({'.'.join(head_key)}): every node of a Ray "
                    "cluster must run the same"), \
                    f"leave {field} out (a worker takes the head's) or change it on every node"
    platform = data.platforms.get(s.hardware.platform)
    if platform and platform.interconnect:
        port = port_of(data, s)
        names = ", ".join(p.interface for p in platform.interconnect.ports)
        if port is None:
            yield base + ("interface",), f"{c.interface!r} is not an interconnect port of {platform.name}", \
                f"use one of: {names} (the one `ibdev2netdev` shows Up)"
        elif c.interface == port.twin:
            yield base + ("interface",), (
                f"{c.interface!r} is the twin name of {port.interface!r} (the same physical port): the address "
                "and every transport belong on the first name"), f"interface: {port.interface}"
    yield from _unique([(base + ("head_address",), c.head_address)]
                       + [(base + ("workers", i, "address"), w.address) for i, w in enumerate(c.workers)],
                       "interconnect address", "node")
    if c.ray_port == s.port:
        yield base + ("ray_port",), f"{c.ray_port} is also the API port", "Ray's default is 6379"


# Fields that belong to one engine, and what they hold, for the message that refuses them on another.
ENGINE_FIELDS = {
    ("image",): ("vllm", "the docker image vLLM runs in"),
    ("container_name",): ("vllm", "the container's name"),
    ("vllm_args",): ("vllm", "vLLM's flags"),
    ("cluster",): ("vllm", "a Ray cluster of several machines"),
    ("log_mount",): ("vllm", "a bind mount of the container"),
    ("gpus",): ("vllm", "the container's GPU reservation"),
    ("tool_calling", "parser"): ("vllm", "vLLM's --tool-call-parser"),
    ("llamacpp",): ("llama.cpp", "llama-server's binary and flags"),
    ("model", "gguf"): ("llama.cpp", "the GGUF files llama-server loads"),
}
REQUIRED = {"vllm": [("image",), ("container_name",), ("tool_calling", "parser")], "llama.cpp": [("llamacpp",)]}


def _field(s, path: tuple):
    for name in path:
        s = getattr(s, name, None)
    return s


def _engine_fields(key: str, s) -> Iterator[Problem]:
    """A system sets the fields of its own engine and no other's; its service manager is the engine's."""
    base = ("systems", key)
    for path, (engine, what) in ENGINE_FIELDS.items():
        value = _field(s, path)
        if engine != s.engine and value not in (None, {}, []):
            yield base + path, f"{'.'.join(path)} ({what}) is for {engine} systems, not {s.engine}", \
                f"drop it, or set engine: {engine}"
    for path in REQUIRED[s.engine]:
        if _field(s, path) is None:
            yield base + path, f"missing required key {path[-1]!r}", \
                f"a {s.engine} system needs {'.'.join(path)} ({ENGINE_FIELDS[path][1]}); see data/examples/ for one"
    want = ENGINE_SERVICE[s.engine]
    if s.service_manager not in (None, want):
        yield base + ("service_manager",), f"{s.engine} runs under {want} here, not {s.service_manager}", \
            f"service_manager: {want} (or leave it out)"


def check(data: LabData) -> Iterator[Problem]:
    systems = data.systems
    yield from _unique(_hosts(data), "host name", "system and node")
    yield from _unique(
        ((("systems", k, "container_name"), s.container_name) for k, s in systems.items() if s.container_name),
        "container name")
    yield from _unique(_aliases(data), "ssh alias", "system and node")
    yield from _unique(
        ((("systems", k, "port"), f"{s.host}:{s.port}") for k, s in systems.items()), "host address and port")
    yield from _unique(((("known_issues", i, "id"), ki.id) for i, ki in enumerate(data.known_issues)), "id", "known issue")

    domain = data.infrastructure.dns.domain
    for key, s in systems.items():
        base = ("systems", key)
        if not s.host.endswith("." + domain):
            yield base + ("host",), f"{s.host!r} is not in the lab's DNS domain {domain!r}", \
                f"use a name like {key}.{domain}, or change infrastructure.dns.domain"
        if s.hardware.platform not in data.platforms:
            yield base + ("hardware", "platform"), f"unknown platform {s.hardware.platform!r}", \
                f"use one of: {', '.join(data.platforms)}"
        if s.model.family not in data.model_families:
            yield base + ("model", "family"), f"unknown model family {s.model.family!r}", \
                f"use one of: {', '.join(data.model_families)}, or add it under model_families:"
        if s.model.quantization not in data.quantizations:
            yield base + ("model", "quantization"), f"unknown quantization {s.model.quantization!r}", \
                f"use one of: {', '.join(data.quantizations)}, or add it under quantizations:"
        if s.image is not None and s.image not in data.images:
            yield base + ("image",), f"unknown image {s.image!r}", f"use one of: {', '.join(data.images)}"
        yield from _engine_fields(key, s)
        if s.cluster:
            yield from _cluster(data, key, s)
        yield from engine_of(s).problems(data, key, s)
        yield from _read_per_token(data, key, s)
        if s.model.active_params_b > s.model.params_b:
            yield base + ("model", "active_params_b"), \
                f"{s.model.active_params_b:g} is larger than params_b ({s.model.params_b:g})", \
                "active parameters are the subset used per token (for a dense model, the same as params_b)"

    yield from _provenance(data)
    for key, image in data.images.items():
        if image.vllm and image.vllm not in data.vllm_versions:
            yield ("images", key, "vllm"), f"unknown vLLM version {image.vllm!r}", \
                f"use one of: {', '.join(data.vllm_versions)}, or add its row under vllm_versions: with its source"
        if image.build and image.build.platform not in data.platforms:
            yield ("images", key, "build", "platform"), f"unknown platform {image.build.platform!r}", \
                f"use one of: {', '.join(data.platforms)}"
    built = [k for k, i in data.images.items() if i.build]
    if len(built) > 1:
        yield ("images", built[1], "build"), "only one image can be built by vllm-gb10/", \
            f"{built[0]!r} already has a build block"

    for i, issue in enumerate(data.known_issues):
        for j, ref in enumerate(issue.systems):
            if ref not in systems:
                yield ("known_issues", i, "systems", j), f"unknown system {ref!r}", f"use one of: {', '.join(systems)}"
    for j, ref in enumerate(data.clients.opencode.systems or []):
        if ref not in systems:
            yield ("clients", "opencode", "systems", j), f"unknown system {ref!r}", f"use one of: {', '.join(systems)}"


def warnings(data: LabData) -> Iterator[Problem]:
    """Legal but worth a look: printed by the command line, shown on the known-issues page."""
    for key, s in data.systems.items():
        family = data.model_families.get(s.model.family)
        if family and s.tool_calling.format != "openai":
            yield ("systems", key, "tool_calling", "parser"), (
                f"{s.tool_calling.parser!r} does not read {s.model.family}'s native tool-call format "
                f"({family.tool_format}): clients get the calls as text in content"), \
                f"vLLM's parser for it: --tool-call-parser {' or '.join(family.parsers)} (tool_calling.parser; the format follows)"
