"""Reader features configured in mkdocs.yml and labdocs/docsite/hooks/: a bounded sidebar for large labs,
verified marks, 'last updated' dates and edit links."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
from pathlib import Path

import pytest

from .conftest import ROOT, build_site, open_tab, serve

from synth import copy_repo, make_lab

LARGE = 20          # above extra.nav_scope.Systems.max_children (12)


@pytest.fixture(scope="module")
def large_lab(tmp_path_factory):
    lab = make_lab(tmp_path_factory.mktemp("large") / "repo", LARGE)
    site = build_site(lab / "site", cwd=lab)
    url, stop = serve(site)
    try:
        yield lab, site, url
    finally:
        stop()


def nav_links(page) -> list[str]:
    return page.locator(".md-sidebar--primary nav.md-nav--primary a.md-nav__link").evaluate_all(
        "as => as.map(a => a.textContent.trim())")


def test_a_large_lab_keeps_the_sidebar_to_the_current_system(browser, large_lab):
    lab, site, url = large_lab
    tab, context = open_tab(browser, url)
    page = tab.page
    try:
        tab.goto("")
        # Outside the systems, "Systems" is one link, to the page that lists them all.
        assert "Synthetic 0007" not in nav_links(page)
        page.locator(".md-sidebar--primary").get_by_role("link", name="Systems", exact=True).click()
        page.wait_for_url(re.compile(r"/systems/$"))
        page.locator("article").get_by_role("link", name="Synthetic 0007", exact=True).first.click()
        page.wait_for_url(re.compile(r"/systems/syn0007/$"))

        # Inside, the sidebar shows this system's pages and the way back to all of them, not 20 systems.
        links = nav_links(page)
        assert f"All {LARGE} systems" in links
        assert "Synthetic 0008" not in links and "Pegasus" not in links
        assert len(links) < 25, links
        page.locator(".md-sidebar--primary").get_by_role("link", name="Quickstart", exact=True).click()
        page.wait_for_url(re.compile(r"/systems/syn0007/QUICKSTART/$"))
        assert "Synthetic 0007" in page.locator("article h1").inner_text()
        page.locator(".md-sidebar--primary").get_by_role("link", name=f"All {LARGE} systems").click()
        page.wait_for_url(re.compile(r"/systems/$"))
        assert not tab.errors, tab.errors
    finally:
        context.close()

    # The sidebar's size does not grow with the lab: same entries on every system page.
    sizes = {len(re.findall(r'class="md-nav__link', (site / "systems" / key / "index.html").read_text()))
             for key in ("syn0003", "syn0019", "pegasus")}
    assert len(sizes) == 1, sizes


def rendered_markdown(repo: Path, tmp: Path) -> Path:
    out = tmp / "rendered"
    build_site(tmp / "site-rendered", cwd=repo, env={"LABDOCS_RENDERED_DIR": str(out)})
    return out


def test_verified_marks_dates_and_edit_links(tmp_path):
    repo = copy_repo(tmp_path / "repo")            # a copy without .git: git cannot date its pages
    rendered = rendered_markdown(repo, tmp_path)
    key = "pegasus"
    quick = f"systems/{key}/QUICKSTART.md"
    digest = hashlib.sha256((rendered / quick).read_bytes()).hexdigest()
    verified = {"format": 1, "pages": {
        quick: {"lab": {"date": "2026-11-25", "passed": 7, "failed": 0, "skipped": 1, "sha256": digest},
                "live": {"date": "2026-11-20", "passed": 3, "failed": 2, "sha256": digest}},
        f"systems/{key}/README.md": {"lab": {"date": "2026-11-01", "passed": 2, "failed": 0, "sha256": "0" * 64}},
        "index.md": {"lab": {"date": "2026-11-25", "passed": 0, "failed": 0, "sha256": digest}},
    }}
    marks = tmp_path / "verified.json"
    marks.write_text(json.dumps(verified))
    site = build_site(tmp_path / "site", cwd=repo, env={
        "LABDOCS_VERIFIED": str(marks), "LABDOCS_REPO_URL": "https://git.example.invalid/lab"})

    def html(path: str) -> str:
        return (site / path / "index.html").read_text()

    def mark(text: str) -> str | None:
        found = re.search(r'<p class="labdocs-verified[^"]*"[^>]*>(.*?)</p>', text)
        return re.sub(r"<[^>]+>", "", found.group(1)) if found else None

    quick_html = html(f"systems/{key}/QUICKSTART")
    assert mark(quick_html) == ("Blocks verified in the lab on 2026-11-25 (7 passed, 1 skipped) · "
                                "2 of 5 blocks failed live on 2026-11-20.")
    assert quick_html.index("</h1>") < quick_html.index("labdocs-verified")
    assert mark(html(f"systems/{key}")) == ("Blocks verified in the lab on 2026-11-01 (2 passed), "
                                            "for an earlier version of this page.")
    assert mark((site / "index.html").read_text()) is None          # ran no block: no claim
    assert mark(html("infrastructure")) is None                      # no entry: nothing

    # Edit links go to the file to change: the data file for a generated page, the real file for a link.
    def edit(text: str) -> str:
        return re.search(r'href="([^"]+)" title="Edit this page"', text).group(1)
    base = "https://git.example.invalid/lab/edit/main/"
    assert edit((site / "index.html").read_text()) == base + "docs/index.md"
    assert edit(quick_html) == base + "data/systems.yaml"
    assert edit(html("changelog")) == base + "CHANGELOG.md"

    # Outside a git work tree there is no date to show, and none is made up.
    assert "md-source-file" not in quick_html

    marks.write_text('{"format": 1, "pages": {"index.md": {"lab": {"date": "yesterday"}}}}')
    with pytest.raises(AssertionError, match=r"pages\.index\.md\.lab\.date: 'yesterday' is not a YYYY-MM-DD"):
        build_site(tmp_path / "site-bad", cwd=repo, env={"LABDOCS_VERIFIED": str(marks)})


def test_pages_in_the_repository_show_when_they_last_changed(site_dir):
    shallow = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--is-shallow-repository"],
                             capture_output=True, text=True).stdout.strip() == "true"
    for path in ("index.html", "status/index.html", "systems/pegasus/index.html"):
        text = (site_dir / path).read_text()
        dated = re.search(r'md-source-file__fact">\s*<span class="md-icon" title="Last update">.*?</span>\s*'
                          r"\d{4}-\d{2}-\d{2}", text, re.S)
        # A shallow clone cannot tell when a file last changed: then no date rather than a wrong one.
        assert (dated is None) if shallow else dated, path
