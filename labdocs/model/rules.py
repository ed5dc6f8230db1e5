"""Rules that span several fields. Each returns (key path, message, hint) so errors name their key."""

from __future__ import annotations

import re
from collections.abc import Iterator

from labdocs.model.cluster import SHARED, declared_gpus, port_of
from labdocs.model.errors import key_path
from labdocs.model.schema import LabData
from labdocs.model.serve_args import PLUGIN_PARSER, PLUGIN_READS, serve_flags

Problem = tuple[tuple, str, str | None]

def client_format(parser: str, family) -> str:
    """What a client sees: a parser that reads the family's native format turns calls into OpenAI
    `tool_calls` (so does this project's plugin, for the text formats it reads); any other parser
    leaves the model's own text in `content`."""
    if parser in family.parsers or (parser == PLUGIN_PARSER and family.tool_format in PLUGIN_READS):
        return "openai"
    return family.tool_format

# Flags the generator sets from dedicated fields; setting them in vllm_args would say a fact twice.
RESERVED_FLAGS = {
    "model": "model.id",
    "served-model-name": "model.id",
    "host": "(always 0.0.0.0 inside the container)",
    "port": "port",
    "max-model-len": "context_length",
    "tool-call-parser": "tool_calling.parser",
    "tool-parser-plugin": f"tool_calling.parser: {PLUGIN_PARSER} (the plugin file is mounted by the compose file)",
    "enable-auto-tool-choice": "tool_calling.auto_tool_choice",
    "reasoning-parser": "reasoning.parser",
    "tensor-parallel-size": "cluster.tensor_parallel_size",
    "pipeline-parallel-size": "cluster.pipeline_parallel_size",
    "distributed-executor-backend": "cluster (Ray for multi-node systems)",
}


# Where each generated flag's value comes from, so a flag a version lacks is reported at its key.
FLAG_KEYS = {
    "host": ("port",), "port": ("port",), "max-model-len": ("context_length",),
    "tool-call-parser": ("tool_calling", "parser"), "enable-auto-tool-choice": ("tool_calling", "auto_tool_choice"),
    "reasoning-parser": ("reasoning", "parser"), "tensor-parallel-size": ("cluster", "tensor_parallel_size"),
    "pipeline-parallel-size": ("cluster", "pipeline_parallel_size"), "distributed-executor-backend": ("cluster",),
    "tool-parser-plugin": ("tool_calling", "parser"),
}
READ_PER_TOKEN_TOLERANCE = 0.02   # the groups may round; 2% off active_params_b is a different model


def flag_names(system) -> list[str]:
    """The names of the flags `vllm serve` gets for a system (without '--' or a 'no-' prefix)."""
    return [f[2:].removeprefix("no-") for f in serve_flags(system) if f.startswith("--")]


def version_of(data: LabData, system):
    """The vllm_versions: row of the vLLM inside a system's image, or None."""
    image = data.images.get(system.image)
    return data.vllm_versions.get(image.vllm) if image and image.vllm else None


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


def _versions(data: LabData, key: str, s) -> Iterator[Problem]:
    """The system's flags and tool parser exist in the vLLM version its image runs."""
    base = ("systems", key)
    image = data.images.get(s.image)
    if image is None:
        return
    if image.vllm is None:
        yield base + ("image",), f"image {s.image!r} does not name its vLLM version", \
            f"add images.{s.image}.vllm: (a key of vllm_versions:)"
        return
    row = data.vllm_versions.get(image.vllm)
    if row is None:
        return  # reported once, at images.<key>.vllm
    refused = {loc[-1] for loc, _, _ in _serve_args(key, s)}  # reported once, as what they are
    for flag in dict.fromkeys(flag_names(s)):
        if flag not in row.flags and flag not in refused:
            loc = base + (("vllm_args", flag) if flag in s.vllm_args else FLAG_KEYS.get(flag, ("vllm_args",)))
            yield loc, f"--{flag} is not among vLLM {image.vllm}'s flags (image {s.image}, vllm_versions.{image.vllm}.flags)", \
                (f"drop it, or, if vLLM {image.vllm} has it (check its source with tools/vllm_source_facts.py), "
                 f"add it to vllm_versions.{image.vllm}.flags")
    if s.tool_calling.parser not in row.tool_parsers and s.tool_calling.parser != PLUGIN_PARSER:
        yield base + ("tool_calling", "parser"), \
            f"vLLM {image.vllm} (image {s.image}) has no tool-call parser {s.tool_calling.parser!r}", \
            f"its parsers: {', '.join(row.tool_parsers)}"


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
# Flag names that carry a secret: the compose file and README are committed, so a secret written
# there is published. vLLM and the hub read them from the host's environment instead.
SECRET_FLAG = re.compile(r"(^|-)(api-?key|key|token|secret|passw(or)?d)$")   # (not --long-prefill-token-threshold)
SECRET_VALUE = re.compile(r"(hf_|sk-|ghp_|github_pat_|xox[bp]-)[A-Za-z0-9_-]{8,}")


def reserved_flag(flag: str) -> str | None:
    """The generated flag that `--flag` would set: argparse takes any unique prefix of a flag name
    (`--max-model` is `--max-model-len`) and vLLM's boolean flags take a `--no-` form, so a name that
    is a prefix of a reserved one, with or without `no-`, sets it."""
    for name in (flag, flag.removeprefix("no-")):
        for reserved in RESERVED_FLAGS:
            if reserved.startswith(name):
                return reserved
    return None


def _serve_args(key: str, s) -> Iterator[Problem]:
    for flag, value in s.vllm_args.items():
        loc = ("systems", key, "vllm_args", flag)
        reserved = reserved_flag(flag)
        if reserved == flag:
            yield loc, f"--{flag} is generated, not set here", f"set {RESERVED_FLAGS[flag]} instead"
        elif reserved:
            yield loc, f"--{flag} is read by vLLM as --{reserved}, which is generated, not set here", \
                f"set {RESERVED_FLAGS[reserved]} instead; write vLLM flags out in full"
        elif SECRET_FLAG.search(flag) or (isinstance(value, str) and SECRET_VALUE.search(value)):
            yield loc, f"--{flag} would write a secret into the committed compose file and README", \
                "keep secrets in the host's environment (vLLM reads VLLM_API_KEY, the hub HF_TOKEN), as HF_TOKEN is"


def expected_model_id(data: LabData, repo: str, snapshot: str) -> str:
    org, name = repo.split("/", 1)
    return f"{data.infrastructure.nfs.container_path}/models--{org}--{name}/snapshots/{snapshot}"


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


def check(data: LabData) -> Iterator[Problem]:
    systems = data.systems
    yield from _unique(_hosts(data), "host name", "system and node")
    yield from _unique(
        ((("systems", k, "container_name"), s.container_name) for k, s in systems.items()), "container name")
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
        if s.image not in data.images:
            yield base + ("image",), f"unknown image {s.image!r}", f"use one of: {', '.join(data.images)}"
        family = data.model_families.get(s.model.family)
        if family and client_format(s.tool_calling.parser, family) != s.tool_calling.format:
            seen = client_format(s.tool_calling.parser, family)
            yield base + ("tool_calling", "format"), (
                f"{s.tool_calling.format!r} is not what clients get: parser {s.tool_calling.parser!r} on a "
                f"{s.model.family} model gives {seen!r}"), (
                f"declare format: {seen}, or use a parser for {s.model.family}'s own format "
                f"({', '.join(family.parsers)}) with format: openai")
        want = expected_model_id(data, s.model.repo, s.model.snapshot)
        if s.model.id != want:
            yield base + ("model", "id"), f"{s.model.id!r} does not match model.repo and model.snapshot", \
                f"vLLM reports the served path: {want}"
        if s.cluster:
            yield from _cluster(data, key, s)
        yield from _versions(data, key, s)
        yield from _read_per_token(data, key, s)
        if s.model.active_params_b > s.model.params_b:
            yield base + ("model", "active_params_b"), \
                f"{s.model.active_params_b:g} is larger than params_b ({s.model.params_b:g})", \
                "active parameters are the subset used per token (for a dense model, the same as params_b)"
        yield from _serve_args(key, s)

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
        if family and client_format(s.tool_calling.parser, family) != "openai":
            yield ("systems", key, "tool_calling", "parser"), (
                f"{s.tool_calling.parser!r} does not read {s.model.family}'s native tool-call format "
                f"({family.tool_format}): clients get the calls as text in content"), \
                f"vLLM's parser for it: --tool-call-parser {' or '.join(family.parsers)} (tool_calling.parser and format)"
