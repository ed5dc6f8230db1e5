"""The site built with Zensical, mkdocs-material's announced successor: does it hold up yet?

Zensical reads mkdocs.yml as it is (strict included) and runs the macros module itself. The build
runs in a copy of the repository. What still differs is listed in docs/maintenance.md ("Moving to
Zensical"); a test that fails here is a real gap, not to be skipped.

Zensical runs from an environment of its own (labdocs/docsite/zensical_env.py: why, and where), which the
session starts making in the background when it collects these tests (tests/conftest.py).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from conftest import ROOT
from labdocs.docsite import zensical_env
from labdocs.model.loader import load
from synth import copy_repo

DATA = load()


def zensical_executable() -> Path:
    try:
        return zensical_env.executable(ROOT)
    except zensical_env.ZensicalInstallError as exc:
        pytest.fail(str(exc), pytrace=False)


def zensical_build(repo: Path, strict: bool) -> subprocess.CompletedProcess:
    if not strict:
        config = repo / "mkdocs.yml"
        config.write_text(config.read_text().replace("\nstrict: true\n", "\nstrict: false\n"))
    # Zensical loads labdocs/docsite/site.py by file path, and its own environment lacks the project's
    # editable install, so the repository goes on PYTHONPATH for site.py's `from labdocs... import`.
    env = {**os.environ, "PYTHONPATH": str(repo), "NO_COLOR": "1"}
    return subprocess.run([str(zensical_executable()), "build", "--clean"], cwd=repo, env=env,
                          capture_output=True, text=True, timeout=600)


def materialize_links(repo: Path) -> None:
    """Zensical does not follow linked directories (its issue #929, by design): replace docs/'s links
    to the real files by copies, as the move to Zensical would (docs/maintenance.md lists it)."""
    import shutil

    for link in sorted((repo / "docs").iterdir()):
        if link.is_symlink():
            target = link.resolve()
            link.unlink()
            (shutil.copytree if target.is_dir() else shutil.copy2)(target, link)


@pytest.fixture(scope="module")
def lenient_site(tmp_path_factory) -> Path:
    """Built with strict off (Zensical checks links before macros render them), from a copy whose
    docs/ links are real directories: what Zensical makes of every page."""
    repo = copy_repo(tmp_path_factory.mktemp("zensical") / "repo")
    materialize_links(repo)
    result = zensical_build(repo, strict=False)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    return repo / "site"


def expected_pages() -> list[str]:
    docs = ROOT / "docs"
    pages = []
    sources = sorted(Path(d) / f for d, _, files in os.walk(docs, followlinks=True) for f in files
                     if f.endswith(".md"))
    for md in sources:
        rel = md.relative_to(docs).with_suffix("")
        if rel.name in ("index", "README"):
            pages.append((rel.parent / "index.html").as_posix())
        else:
            pages.append((rel / "index.html").as_posix())
    return [p.removeprefix("./") for p in pages]


def test_every_page_exists(lenient_site):
    missing = [p for p in expected_pages() if not (lenient_site / p).is_file()]
    for key in DATA.systems:
        if not (lenient_site / "systems" / key / "docker-compose.yml").is_file():
            missing.append(f"systems/{key}/docker-compose.yml")
    assert not missing, f"{len(missing)} pages missing from the Zensical build: {missing}"


def test_generated_values_are_rendered(lenient_site):
    home = (lenient_site / "index.html").read_text()
    infra = (lenient_site / "infrastructure" / "index.html").read_text()
    for key, s in DATA.systems.items():
        assert s.name in home and s.model.repo in home and f"http://{s.host}:{s.port}/v1" in home, key
        assert s.host in infra, key
    nfs = DATA.infrastructure.nfs
    assert nfs.server in infra and ",".join(nfs.options) in infra


def test_no_template_syntax_leaks(lenient_site):
    docs = ROOT / "docs"
    templated = [p for p in docs.rglob("*.md") if not p.is_symlink() and not any(
        part in ("systems", "vllm-gb10") for part in p.relative_to(docs).parts)]
    assert len(templated) >= 8
    leaks = []
    for src in templated:
        rel = src.relative_to(docs).with_suffix("")
        page = lenient_site / (rel.parent / "index.html" if rel.name == "index" else rel / "index.html")
        text = page.read_text()
        if "{{" in text or "{%" in text:
            leaks.append(str(page.relative_to(lenient_site)))
    assert not leaks
