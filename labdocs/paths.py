"""The repository root and the fixed paths under it, defined once (the bottom layer: imports nothing)."""

from __future__ import annotations

from pathlib import Path

# The checkout whose code runs. The site is the exception: it reads the checkout of its mkdocs.yml
# (env.project_dir, config.config_file_path), so a copy of the repository builds its own data.
ROOT = Path(__file__).resolve().parent.parent
DATA_FILE = Path("data") / "systems.yaml"   # relative to a checkout
DEFAULT_DATA = ROOT / DATA_FILE
