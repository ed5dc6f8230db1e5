"""Variables and macros for the hand-written pages under docs/ (mkdocs-macros)."""

from __future__ import annotations

from .loader import DEFAULT_DATA, load
from .render import SystemView


def fstab_line(data) -> str:
    nfs = data.infrastructure.nfs
    return f"{nfs.server}:{nfs.export} {nfs.mount_point} {nfs.fstype} {','.join(nfs.options)} 0 0"


def mount_command(data) -> str:
    nfs = data.infrastructure.nfs
    return f"sudo mount -t {nfs.fstype} {nfs.server}:{nfs.export} {nfs.mount_point} -o {','.join(nfs.options)}"


def trim_blocks(env) -> None:
    """Same whitespace rules as the generator's templates, so `{% for %}` lines don't break tables.
    mkdocs-macros creates its Jinja environment after define_env, hence a per-page hook."""
    env.env.trim_blocks = True
    env.env.lstrip_blocks = True


def define_env(env) -> None:
    data = load(DEFAULT_DATA)
    views = [SystemView(data, key, system) for key, system in data.systems.items()]
    env.variables["lab"] = data
    env.variables["views"] = views
    env.variables["fstab_line"] = fstab_line(data)
    env.variables["mount_command"] = mount_command(data)
    env.filters["num"] = lambda v: f"{v:g}"

