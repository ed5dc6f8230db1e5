"""Synthetic labs for the site benchmark: a temp copy of the repo whose data file has N systems.

Systems are clones of the bundled ones (round robin) with new ids, names, hosts, ssh aliases and
container names, so every uniqueness rule holds; then `python -m labdocs.render generate` writes their pages
in the copy, exactly as for the real data.
"""

from __future__ import annotations

import copy
import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

from ruamel.yaml import YAML

from labdocs.paths import ROOT

# The repository minus history, environments and build output; links kept as links.
SKIP = {".git", ".venv", ".lab", ".pytest_cache", "site", "test-results", "build", "__pycache__", "node_modules"}


def copy_repo(dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    for src in sorted(ROOT.iterdir()):
        name = src.name
        if name in SKIP or name.startswith(".venv"):
            continue
        if src.is_dir() and not src.is_symlink():
            shutil.copytree(src, dest / name, symlinks=True, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, dest / name, follow_symlinks=False)
    return dest


def synth_data(text: str, n: int) -> str:
    """The data file with exactly n systems: the bundled ones first, then clones of them."""
    yaml = YAML()
    yaml.preserve_quotes = True
    doc = yaml.load(text)
    systems = doc["systems"]
    originals = list(systems.items())
    keys = [k for k, _ in originals]
    if n < len(keys):
        raise ValueError(f"n={n} is below the bundled {len(keys)} systems")
    domain = doc["infrastructure"]["dns"]["domain"]
    for i in range(len(keys), n):
        base_key, base = originals[i % len(originals)]
        key = f"syn{i:04d}"
        clone = copy.deepcopy(base)
        clone["name"] = f"Synthetic {i:04d}"
        clone["host"] = f"{key}.{domain}"
        clone["ssh"]["alias"] = f"{key}-llm"
        clone["container_name"] = f"{base['container_name']}-{key}"
        systems[key] = clone
    out = io.StringIO()
    yaml.dump(doc, out)
    return out.getvalue()


def make_lab(dest: Path, n: int | None) -> Path:
    """A repo copy at dest with n systems (None: the bundled data), its generated files written."""
    copy_repo(dest)
    if n is not None:
        data = dest / "data" / "systems.yaml"
        data.write_text(synth_data(data.read_text(), n))
        env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
        result = subprocess.run([sys.executable, "-m", "labdocs.render", "generate"], cwd=dest, env=env,
                                capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"generate failed for n={n}:\n{result.stdout}{result.stderr}")
    return dest
