"""The site builds strictly with zero warnings, and shows the data's values on its pages."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from conftest import BIN, run
from labdocs.model.loader import load

DATA = load()


@pytest.fixture(scope="module")
def built_site(tmp_path_factory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("site")
    result = run([str(BIN / "mkdocs"), "build", "--strict", "--site-dir", str(out)])
    assert result.returncode == 0, result.stdout + result.stderr
    return out, result.stdout + result.stderr


def test_build_has_zero_warnings(built_site):
    _, log = built_site
    assert not re.search(r"^(WARNING|ERROR)", log, re.M), log


def test_every_section_page_exists(built_site):
    site, _ = built_site
    pages = ["index.html", "status/index.html", "systems/index.html", "infrastructure/index.html", "tool-calling/index.html",
             "clients/index.html", "vllm-gb10/SETUP/index.html", "known-issues/index.html",
             "maintenance/index.html", "changelog/index.html", "archive/index.html", "research/index.html"]
    for key in DATA.systems:
        pages += [f"systems/{key}/index.html", f"systems/{key}/QUICKSTART/index.html",
                  f"systems/{key}/COMPOSE/index.html",
                  f"systems/{key}/docker-compose.yml"]
    pages += ["clients/opencode.json"]
    missing = [p for p in pages if not (site / p).is_file()]
    assert not missing


def test_every_page_has_a_title_of_its_own(built_site):
    """Titles come from the nav or the page's heading, never from a file name ("Index", "Readme")."""
    site, _ = built_site
    titles = {str(page.relative_to(site)): re.search(r"<title>(.*?)</title>", page.read_text()).group(1)
              for page in site.rglob("index.html")}
    named_after_files = {page: title for page, title in titles.items()
                         if re.match(r"(Index|Readme|README) -", title)}
    assert not named_after_files
    assert titles["systems/index.html"].startswith("Systems - ")


def test_no_template_syntax_leaks_into_templated_pages(built_site):
    # Pages under docs/ are templates; generated files and the kit may show docker's own {{...}} formats.
    site, _ = built_site
    docs = Path(__file__).resolve().parent.parent / "docs"
    templated = [p for p in docs.rglob("*.md") if not p.is_symlink() and "systems" not in p.parts
                 and "vllm-gb10" not in p.parts]
    assert len(templated) >= 8
    for src in templated:
        rel = src.relative_to(docs).with_suffix("")
        page = site / ("index.html" if rel.name == "index" and rel.parent == Path(".") else
                       rel.parent / "index.html" if rel.name == "index" else rel / "index.html")
        text = page.read_text()
        assert "{{" not in text and "{%" not in text, page


def test_pages_show_values_from_the_data(built_site):
    site, _ = built_site
    home = (site / "index.html").read_text()
    infra = (site / "infrastructure" / "index.html").read_text()
    nfs = DATA.infrastructure.nfs
    assert nfs.server in infra and nfs.mount_point in infra and ",".join(nfs.options) in infra
    for s in DATA.systems.values():
        assert s.name in home and s.model.repo in home and f"http://{s.host}:{s.port}/v1" in home
        assert s.host in infra


def test_the_compose_download_is_the_generated_file(built_site):
    site, _ = built_site
    root = Path(__file__).resolve().parent.parent
    for key in DATA.systems:
        for name in ("docker-compose.yml", f"vllm-{key}.service"):  # the compose file and its boot unit
            assert (site / "systems" / key / name).read_bytes() == (root / "systems" / key / name).read_bytes()
        assert f'href="../vllm-{key}.service"' in (site / "systems" / key / "QUICKSTART" / "index.html").read_text()


def test_nav_lists_every_system(built_site):
    site, _ = built_site
    home = (site / "index.html").read_text()
    nav = home.split('class="md-nav md-nav--primary"')[1]
    for key in DATA.systems:
        assert f'href="systems/{key}/"' in nav or f'href="systems/{key}/index.html"' in nav, key


def test_site_name_is_the_lab_name():
    from mkdocs.utils.yaml import yaml_load

    with open(Path(__file__).resolve().parent.parent / "mkdocs.yml", encoding="utf-8") as handle:
        config = yaml_load(handle)
    assert config["site_name"] == DATA.lab.name
