"""The Hugging Face hub cache layout, defined once: ROOT/models--ORG--NAME/snapshots/SHA.

huggingface_hub writes a model there; vLLM serving that folder reports the path as the model id (how
`model.id` is derived), llama-server opens a GGUF file in it; the lab builds its tiny models in the same
layout; the probe and the doc-tests recognise such a path in what a server or a block says. A layer of its
own below engines and model, which both use it. Stdlib only: the lab's own venv (labdocs/lab/tiny_model.py)
imports it too.
"""

from __future__ import annotations

import re
from pathlib import Path

REPO_PREFIX = "models--"
SNAPSHOTS = "snapshots"
REFS_MAIN = ("refs", "main")


def repo_dir(repo: str) -> str:
    """ORG/NAME -> models--ORG--NAME, the repository's folder in the cache."""
    return REPO_PREFIX + repo.replace("/", "--")


def snapshot_path(root: str, repo: str, snapshot: str) -> str:
    """ROOT/models--ORG--NAME/snapshots/SHA: where a snapshot's files are (and vLLM's model id for it)."""
    return f"{root}/{repo_dir(repo)}/{SNAPSHOTS}/{snapshot}"


LAYOUT = snapshot_path("ROOT", "ORG/NAME", "SHA")     # for descriptions and hints


def snapshot_dir(root: Path, repo: str, snapshot: str) -> Path:
    return Path(snapshot_path(str(root), repo, snapshot))


def refs_main(root: Path, repo: str) -> Path:
    """The file naming the snapshot `main` points at (models--ORG--NAME/refs/main)."""
    return Path(root, repo_dir(repo), *REFS_MAIN)


# A snapshot path inside any text: the repository's org and name, then the snapshot's hex (a full sha
# is 40 digits; a shortened one still names the path).
_IN_TEXT = re.compile(rf"{REPO_PREFIX}([^/]+?)--([^/]+)/{SNAPSHOTS}/([0-9a-f]+)")


def parse(path: str) -> tuple[str, str] | None:
    """(ORG/NAME, SHA) of the first snapshot path in `path`, or None."""
    m = _IN_TEXT.search(path)
    return (f"{m.group(1)}/{m.group(2)}", m.group(3)) if m else None


def paths_pattern(roots: list[str]) -> str:
    """A regex (one group) for snapshot paths under any of `roots` in a text, e.g. a shown command."""
    under = "|".join(re.escape(r) for r in roots)
    return rf"((?:{under})/{REPO_PREFIX}[\w.-]+/{SNAPSHOTS}/[0-9a-f]+)"
