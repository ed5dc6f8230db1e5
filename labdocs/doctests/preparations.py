"""Per page: what a procedure page assumes that no step of it makes, set up on the host stand-ins before its
first block runs, and the state later pages expect, put back after its last block (procedure.py calls them;
the report lists both, as it lists the stand-ins' other deltas from the real hosts).

A page gets what it assumes from its preparation, not from an earlier page's run, so it runs the same when it
is selected alone. Today one page has one: the build kit's SETUP (vllm-gb10/SETUP.md), which stands on a
system deployed by its QUICKSTART and on the image its step 5 builds (static: the CUDA build).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from labdocs.doctests.fences import Block
from labdocs.doctests.run import execute
from labdocs.lab import standin_hosts as sh
from labdocs.model.schema import LabData
from labdocs.paths import ROOT


class PreparationError(RuntimeError):
    pass


class Preparation(Protocol):
    page: str

    def before(self, systems) -> list[str]:
        """Set up what the page assumes on the stand-ins (a lab.host_systems.HostSystems); what, in words."""

    def after(self, systems) -> list[str]:
        """Put back the state later pages and tests expect; what, in words."""


@dataclass
class Left:
    """What a page left on one host, read before the preparation puts things back."""

    images: dict[str, str]          # repository:tag -> image ID
    digests: dict[str, str]         # repository:tag -> the registry digest it was pulled by ("<none>": not pulled)
    containers: dict[str, str]      # container name -> "STATE IMAGE"


def _on(systems, key: str, command: str, timeout: float = 300) -> str:
    """A command on a stand-in as its user, straight through the namespaces; fails naming the host."""
    s = systems[key]
    out = s.host.run(command, user=s.host.spec.user, cwd=f"/home/{s.host.spec.user}", timeout=timeout)
    if out.returncode != 0:
        raise PreparationError(f"{key}'s stand-in: `{command}` exited {out.returncode}: {out.stderr.strip()}")
    return out.stdout


def left_on(systems, key: str) -> Left:
    images = _on(systems, key, "docker image ls --no-trunc --format '{{.Repository}}:{{.Tag}} {{.ID}} {{.Digest}}'")
    containers = _on(systems, key, "docker ps -a --format '{{.Names}} {{.State}} {{.Image}}'")
    rows = [line.split() for line in images.splitlines() if line.strip() and not line.startswith("<none>:")]
    return Left({ref: image for ref, image, _ in rows}, {ref: digest for ref, _, digest in rows},
                dict(line.split(" ", 1) for line in containers.splitlines() if line.strip()))


@dataclass
class KitSetup:
    """vllm-gb10/SETUP.md. Before: its system deployed as its QUICKSTART leaves it (the generated compose file
    copied byte for byte, unless a QUICKSTART run put it there; `docker compose create`: step 9 starts it), the
    kit's image under its pinned tag (a local `docker import` standing in for step 5's build), and a trial
    container left over from an interrupted trial (step 8 is static), which Rollback 1 removes. After: the
    system stopped as its QUICKSTART's last step leaves it, the kit image and the trial container gone from
    both hosts. The systems come from the page: the one its blocks name, the one its image copy streams to."""

    data: LabData
    blocks: list[Block]
    root: Path = ROOT
    page: str = "vllm-gb10/SETUP.md"
    key: str = field(init=False)            # the system the page's blocks run on
    other: str = field(init=False)          # the one step 11 copies the image to
    image: str = field(init=False)          # the kit's image, as build.env names it
    trial: str = field(init=False)
    imported: str = ""                      # the kit image's ID on `key`, as imported
    found: dict[str, Left] = field(default_factory=dict)      # before the page (and the preparation)
    left: dict[str, Left] = field(default_factory=dict)       # after it

    def __post_init__(self) -> None:
        bound = {b.on or b.needs for b in self.blocks} - {None}
        if len(bound) != 1:
            raise PreparationError(f"{self.page}: its blocks name several systems {sorted(bound)}; the "
                                   "preparation deploys one")
        self.key = bound.pop()
        copies = [b for b in self.blocks if "docker load" in b.code]
        others = [k for k, s in self.data.systems.items()
                  if k != self.key and any(f"ssh {s.ssh.alias} " in b.code for b in copies)]
        if len(copies) != 1 or len(others) != 1:
            raise PreparationError(f"{self.page}: expected one `docker load` block streaming to one other system, "
                                   f"found {[b.id for b in copies]} -> {others}")
        self.other = others[0]
        kit = next((image for image in self.data.images.values() if image.build), None)
        if kit is None:
            raise PreparationError(f"{self.page}: no image in the data has `build:` (the kit's image)")
        self.image, self.trial = kit.ref, kit.build.trial_container

    def before(self, systems) -> list[str]:
        system, s = self.data.systems[self.key], systems[self.key]
        self.found = {k: left_on(systems, k) for k in (self.key, self.other)}
        done = []
        if not (s.service_dir / "docker-compose.yml").exists():
            copy = systems.lab.wrap(["scp", str(self.root / f"systems/{self.key}/docker-compose.yml"),
                                     f"{system.ssh.alias}:{system.service_dir}/docker-compose.yml"])
            out = execute(copy, 60, cwd=self.root)
            if out.returncode != 0:
                raise PreparationError(f"{self.key}: copying the generated compose file failed: {out.stderr}")
            done.append("the generated compose file copied (its QUICKSTART's step 1; no QUICKSTART ran before)")
        _on(systems, self.key, f"cd {system.service_dir} && docker compose create")
        tar = sh.base_rootfs_tar(s.host.state / "kit-image.tar")
        sh.import_image(s.host, self.image, tar)
        tar.unlink()
        self.imported = _on(systems, self.key, f"docker image inspect --format '{{{{.Id}}}}' {self.image}").strip()
        _on(systems, self.key, f"docker create --name {self.trial} --label lab.vllm-gb10.trial=1 {self.image} true")
        return [*done,
                f"{self.key} deployed as its QUICKSTART leaves it, container created, not started "
                "(`docker compose create`: step 9 starts it)",
                f"{self.image} on {self.key} is a local `docker import` standing in for step 5's build (static)",
                f"a trial container {self.trial} left over from an interrupted trial (step 8 is static): "
                "Rollback 1 removes it"]

    def after(self, systems) -> list[str]:
        self.left = {k: left_on(systems, k) for k in (self.key, self.other)}
        service = self.data.systems[self.key].service_dir
        trial = f"docker ps -aq --filter name=^/{self.trial}$ | xargs -r docker rm -f >/dev/null"
        _on(systems, self.key, f"cd {service} && docker compose down --timeout 5 && {trial}")
        added = {}
        for k in (self.key, self.other):            # every tag the page (or the preparation) added
            added[k] = sorted(set(self.left[k].images) - set(self.found[k].images))
            if added[k]:
                _on(systems, k, "docker image rm " + " ".join(added[k]))
        return [f"{self.key} stopped (`docker compose down`) as its QUICKSTART's last step leaves it, the trial "
                "container removed; the images the page added removed: "
                + "; ".join(f"{k}: {', '.join(refs) or 'none'}" for k, refs in added.items())]


# page -> its preparation, made from the data and the page's blocks (procedure.py)
PREPARATIONS: dict[str, Callable[[LabData, list[Block]], Preparation]] = {
    KitSetup.page: lambda data, blocks: KitSetup(data, blocks),
}
