"""Checks for blocks that need a real host, made without one: shell syntax and the names they mention.

A host-local block passes here when shellcheck accepts it and every host, port, container, service
directory, ssh alias, model path, image and repository file it names exists in the data.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from labdocs.render.views import system_views
from labdocs import hf_cache
from labdocs.model.schema import LabData

from labdocs.doctests.fences import Block
from labdocs.paths import ROOT

SHELLCHECK = Path(sys.executable).parent / "shellcheck"

# Commands that act on a machine; a block running them must say which host it is for (on= or needs=).
HOST_COMMANDS = re.compile(
    r"(^|[;&|(]\s*|\s)(docker|ssh|scp|rsync|sudo|mount|umount|systemctl|reboot|nvidia-smi|findmnt)\b", re.M)


# Commands that change a host; a block with one must be marked disruptive=true.
DISRUPTIVE = re.compile(
    r"docker\s+(rm|stop|restart|kill)\b|docker\s+(image|container|system|builder|volume|network)\s+(rm|prune)\b"
    r"|compose\s+(down|stop|restart|rm|up)\b|systemctl\s+(restart|stop)\b|\breboot\b|\bmount\s+-t\b"
    r"|\b(scp|rsync)\b")


def shellcheck(code: str) -> list[str]:
    result = subprocess.run([str(SHELLCHECK), "--shell=bash", "--severity=warning", "--format=gcc", "-"],
                            input=code, capture_output=True, text=True, timeout=60)
    return [line.replace("-:", "line ", 1) for line in result.stdout.splitlines()]


class Known:
    """Every name a block may mention, from the data."""

    def __init__(self, data: LabData, root: Path = ROOT):
        self.root = root
        views = system_views(data)
        self.domain = data.infrastructure.dns.domain
        self.hosts = {v.s.host for v in views} | {data.infrastructure.nfs.server}
        self.endpoints = {f"{v.s.host}:{v.s.port}" for v in views}
        self.containers = {v.s.container_name for v in views}
        self.service_dirs = {v.s.service_dir for v in views}
        self.aliases = {v.s.ssh.alias for v in views}
        self.model_paths = {v.s.model.id for v in views} | {v.host_model_dir for v in views}
        self.images = {i.ref for i in data.images.values()} | {v.ops.rollback_image for v in views}
        for image in data.images.values():  # the build kit's own names on the host
            if image.build:
                self.service_dirs.add(image.build.kit_dir)
                self.containers.add(image.build.trial_container)
                self.endpoints |= {f"{v.s.host}:{image.build.trial_port}" for v in views}
        self.mount_point = data.infrastructure.nfs.mount_point
        self.container_path = data.infrastructure.nfs.container_path
        if data.docs_site:
            self.hosts.add(data.docs_site.host)
            self.endpoints.add(f"{data.docs_site.host}:{data.docs_site.port}")
            self.aliases.add(data.docs_site.ssh.alias)


def references(block: Block, known: Known) -> list[str]:
    code, problems = block.code, []

    def need(kind: str, value: str, allowed: set[str]) -> None:
        if value not in allowed:
            problems.append(f"{kind} {value!r} is not in the data (known: {', '.join(sorted(allowed))})")

    for host in re.findall(rf"\b([a-z0-9-]+(?:\.[a-z0-9-]+)*\.{re.escape(known.domain)})\b", code):
        need("host", host, known.hosts)
    for endpoint in re.findall(rf"https?://([a-z0-9.-]+\.{re.escape(known.domain)}:\d+)", code):
        need("endpoint", endpoint, known.endpoints)
    for name in re.findall(r"docker (?:logs|restart|stop|start|rm|inspect)(?: -{1,2}[a-z-]+(?:[ =]\d+)?)* ([A-Za-z0-9][\w.-]*)", code):
        need("container", name, known.containers)
    for name in re.findall(r"--filter name=([\w.-]+)", code):
        need("container", name, known.containers)
    for directory in re.findall(r"\bcd (~[\w./-]*)", code):
        need("service directory", directory.rstrip("/"), known.service_dirs)
    for alias in re.findall(r"\b(?:ssh|scp|rsync)\b[^\n]*?\s([a-z][\w-]*)(?::|\s|$)", code):
        if alias in ("true", "-a", "bash", "sh") or alias.startswith("-"):
            continue
        if re.fullmatch(r"[a-z]+-llm|[a-z]+-[a-z]+", alias) and alias not in known.aliases:
            problems.append(f"ssh alias {alias!r} is not in the data (known: {', '.join(sorted(known.aliases))})")
    for path in re.findall(hf_cache.paths_pattern([known.container_path, known.mount_point]), code):
        need("model path", path, known.model_paths)
    for image in re.findall(r"docker (?:image inspect|pull|run[^\n]*?) ((?:[a-z0-9.-]+/)*[a-z0-9.-]+:[\w.-]+)", code):
        need("image", image, known.images)
    for rel in re.findall(r"\b((?:systems|vllm-gb10|data)/[\w./-]+\.\w+)", code):
        if not (known.root / rel).exists():
            problems.append(f"file {rel!r} does not exist in the repository")
    return problems


# Deletes tagged images no container uses, the last good one included (locally built ones cannot be pulled).
PRUNE_ALL = re.compile(r"docker\s+(image|system)\s+prune\b[^\n;&|]*\s(-[a-zA-Z]*a[a-zA-Z]*|--all)\b")
BUILDER_PRUNE = re.compile(r"docker\s+builder\s+prune\b")
COST = re.compile(r"\d+\s*[-–]\s*\d+\s*min")


def deletes_rollback_images(block: Block, page_text: str, known: Known) -> list[str]:
    """What in a block could delete an image rollback needs, or a build cache without saying its cost
    in the text just above the block."""
    problems = []
    if PRUNE_ALL.search(block.code):
        problems.append("prunes every unused tagged image (-a/--all), the rollback images too: "
                        "use `docker image prune -f` (dangling only)")
    for ref in re.findall(r"docker\s+(?:image\s+rm|rmi)\b[^\n]*?\s((?:[a-z0-9.-]+/)*[a-z0-9.-]+:[\w.-]+)", block.code):
        if ref in known.images:
            problems.append(f"deletes {ref}, an image the data names")
    if BUILDER_PRUNE.search(block.code):
        lines = page_text.split("\n")[: block.line - 1]
        above = []
        for line in reversed(lines):
            if line.strip().startswith("```"):
                break
            above.append(line)
        if not COST.search("\n".join(above)):
            problems.append("prunes the build cache without saying, just above, what the next build then costs "
                            "(e.g. 45-90 min)")
    return problems
