"""The docs site as the lab serves it: the generated unit's own command on the docs host's name, and a
real browser that opens it by that name (Chromium's resolver maps the name to the lab's address, as
the lab's private /etc/hosts does for commands)."""

from __future__ import annotations

import os
import re
import subprocess

import pytest

from labdocs.model.loader import load
from labdocs.render.views import docs_site_url

from .conftest import BIN, CHROMIUM, CHROMIUM_ARGS, ROOT, VIEWPORT

DATA = load()


@pytest.fixture(scope="module")
def by_name(docs_site):
    """A Chromium that resolves the docs host's name to the lab's docs server, and only that name."""
    if docs_site is None:
        pytest.skip("the data has no docs_site: nothing is served")
    from playwright.sync_api import sync_playwright

    rule = f"--host-resolver-rules=MAP {docs_site.host} {docs_site.address}"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=[*CHROMIUM_ARGS, rule], headless=True)
        try:
            yield browser
        finally:
            browser.close()


def test_the_docs_host_serves_the_built_site_to_a_browser(by_name, docs_site):
    url = docs_site_url(DATA)
    assert url.startswith(f"http://{DATA.docs_site.host}")
    context = by_name.new_context(viewport=VIEWPORT)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        response = page.goto(url, wait_until="load")
        assert response.ok and response.url == url
        # Served by Python's http.server, the unit's own ExecStart, not by the test's helper server.
        assert response.headers["server"].startswith("SimpleHTTP/") and "Python/" in response.headers["server"]
        assert page.title() == DATA.lab.name
        page.locator(".md-tabs, .md-sidebar--primary").get_by_role("link", name="Status", exact=True).first.click()
        page.wait_for_url(re.compile(re.escape(url) + r"status/$"))
        assert "Not probed yet." in page.locator("article").inner_text() or "Last checked" in page.locator("article").inner_text()
        assert page.goto(url + "docs-site/QUICKSTART/", wait_until="load").ok
        assert f"this site on {DATA.docs_site.host}" in page.locator("article h1").inner_text()
        assert not errors, errors
    finally:
        context.close()


def test_publish_site_switches_the_served_release_while_serving(docs_site):
    link = docs_site.root / "site"
    first = os.readlink(link)
    assert re.fullmatch(r"releases/\d{8}T\d{6}Z", first) and (link / "index.html").is_file()
    again = subprocess.run(["make", "publish-site", f"SITE_ROOT={docs_site.root}", f"VENV={BIN.parent}"],
                           cwd=ROOT, capture_output=True, text=True, timeout=900,
                           env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert again.returncode == 0, again.stdout + again.stderr
    second = os.readlink(link)
    assert second != first and f"serving {docs_site.root}/{second}" in again.stdout
    import urllib.request

    with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(docs_site.url + "status/", timeout=10) as r:
        assert r.status == 200 and b"<title>Status - " in r.read()
