"""The build-speed settings change nothing a reader gets (docs/benchmarks.md says what they save).

- labdocs/docsite/hooks/search_text.py hands material's search plugin each page without highlighting markup;
- labdocs/docsite/hooks/template_cache.py keeps the theme's compiled templates across serve rebuilds;
- pymdownx.highlight's pygments_style: vs, the style cheapest to build for each code block.
The site built with them and without them (default style) must be the same, byte for byte, search
index included.
"""

from __future__ import annotations

import filecmp
import re
from pathlib import Path

from conftest import BIN, ROOT, run

HOOKS = ("labdocs/docsite/hooks/search_text.py", "labdocs/docsite/hooks/template_cache.py")
STYLE = re.compile(r"^      pygments_style: vs\n", re.M)


def _build(config: Path, out: Path) -> None:
    result = run([str(BIN / "mkdocs"), "build", "--strict", "-f", str(config), "--site-dir", str(out)])
    assert result.returncode == 0, result.stdout + result.stderr


def _differences(a: Path, b: Path) -> list[str]:
    diffs = []
    cmp = filecmp.dircmp(a, b)
    stack = [(cmp, Path())]
    while stack:
        c, rel = stack.pop()
        diffs += [str(rel / n) for n in c.left_only + c.right_only]
        _, mismatch, errors = filecmp.cmpfiles(c.left, c.right, c.common_files, shallow=False)
        # (the gzipped sitemap carries its own time stamp; sitemap.xml itself is compared)
        diffs += [str(rel / n) for n in mismatch + errors if n != "sitemap.xml.gz"]
        stack += [(sub, rel / name) for name, sub in c.subdirs.items()]
    return diffs


def test_speed_settings_change_no_output(tmp_path: Path):
    config = (ROOT / "mkdocs.yml").read_text()
    for hook in HOOKS:
        assert re.search(rf"^  - {re.escape(hook)}\b", config, re.M), f"{hook} is not in mkdocs.yml"
    assert STYLE.search(config), "pygments_style: vs is not in mkdocs.yml"
    without = re.sub(rf"^  - (?:{'|'.join(map(re.escape, HOOKS))})\b.*\n", "", config, flags=re.M)
    without = STYLE.sub("", without)
    plain_config = ROOT / "mkdocs.without-speed-settings.yml"      # beside mkdocs.yml: same relative paths
    try:
        plain_config.write_text(without)
        _build(ROOT / "mkdocs.yml", tmp_path / "with")
        _build(plain_config, tmp_path / "without")
    finally:
        plain_config.unlink(missing_ok=True)
    index = tmp_path / "with" / "search" / "search_index.json"
    assert index.stat().st_size > 10_000
    assert not _differences(tmp_path / "with", tmp_path / "without")
