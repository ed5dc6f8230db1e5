"""Render every generated file from the data, in memory. Templates mirror their outputs:
templates/system/QUICKSTART.md.j2 -> systems/<id>/QUICKSTART.md, templates/STATUS.md.j2 -> STATUS.md.
"""

from __future__ import annotations

import json
import math
import shlex
from pathlib import Path

import jinja2

from .loader import ROOT
from .schema import LabData, System
from .serve_args import serve_argv

TEMPLATES = ROOT / "templates"
GENERATOR = "make generate"


def _yaml_scalar(value: object) -> str:
    # JSON scalars are valid YAML flow scalars, and json.dumps quotes every string safely.
    return json.dumps(value)


def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )
    env.filters["num"] = lambda v: f"{v:g}"  # 6.0 -> 6, 0.85 -> 0.85
    env.filters["q"] = lambda v: shlex.quote(str(v))
    env.filters["yaml"] = _yaml_scalar
    env.filters["shell_join"] = lambda argv: " ".join(shlex.quote(str(a)) for a in argv)
    return env


def marker(source: str, template: str, comment: str) -> str:
    text = f"DO NOT EDIT: generated from {source} by `{GENERATOR}` (template {template})."
    return f"<!-- {text} -->" if comment == "html" else f"# {text}"


class SystemView:
    """A system plus the facts derived from it, so templates never recompute them."""

    def __init__(self, data: LabData, key: str, system: System):
        self.key, self.s, self.data = key, system, data
        self.platform = data.platforms[system.hardware.platform]
        self.image = data.images[system.image]
        self.api_base = f"http://{system.host}:{system.port}"
        self.openai_base = f"{self.api_base}/v1"
        self.argv = serve_argv(system)
        self.issues = [i for i in data.known_issues if key in i.systems]
        nfs = data.infrastructure.nfs
        org, name = system.model.repo.split("/", 1)
        self.host_model_dir = f"{nfs.mount_point}/models--{org}--{name}/snapshots/{system.model.snapshot}"
        # The healthcheck waits twice the documented load time before failures count.
        self.start_period_minutes = math.ceil(system.load.minutes * 2)
        self.wait_seconds = self.start_period_minutes * 60


def system_outputs(data: LabData, source: str) -> dict[str, str]:
    env = environment()
    out: dict[str, str] = {}
    for key, system in data.systems.items():
        view = SystemView(data, key, system)
        ctx = {"lab": data, "v": view, "s": system, "source": source}
        for name in ("docker-compose.yml", "README.md", "QUICKSTART.md", "COMPOSE.md", ".nav.yml"):
            template = f"system/{name}.j2"
            kind = "html" if name.endswith(".md") else "hash"
            ctx["marker"] = marker(source, f"templates/{template}", kind)
            if name == "COMPOSE.md":
                ctx["compose_text"] = out[f"systems/{key}/docker-compose.yml"]
            out[f"systems/{key}/{name}"] = env.get_template(template).render(ctx)
    return out


def render_all(data: LabData, source: str = "data/systems.yaml") -> dict[str, str]:
    """Every generated file, path relative to the repository root -> text."""
    env = environment()
    out = system_outputs(data, source)
    views = [SystemView(data, k, s) for k, s in data.systems.items()]
    for path, template in (("STATUS.md", "STATUS.md.j2"),):
        ctx = {"lab": data, "views": views, "source": source,
               "marker": marker(source, f"templates/{template}", "html")}
        out[path] = env.get_template(template).render(ctx)
    for image in data.images.values():
        if image.build:
            template = "vllm-gb10/build.env.j2"
            ctx = {"lab": data, "image": image, "b": image.build, "platform": data.platforms[image.build.platform],
                   "marker": marker(source, f"templates/{template}", "hash")}
            out["vllm-gb10/build.env"] = env.get_template(template).render(ctx)
    return out


def source_name(data_path: Path) -> str:
    try:
        return str(Path(data_path).resolve().relative_to(ROOT))
    except ValueError:
        return Path(data_path).name
