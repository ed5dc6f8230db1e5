"""Browser tests: the site built with `mkdocs build --strict`, served on loopback, driven in real Chromium.

Chromium is Debian's (/usr/bin/chromium, or LABDOCS_CHROMIUM), driven by Playwright for Python:
Playwright's own browser downloads are not used. Without Chromium the tests fail (not skip) and say
how to install it.
"""

from __future__ import annotations

import functools
import http.server
import os
import socketserver
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from labdocs.paths import ROOT

BIN = Path(sys.executable).parent

CHROMIUM = Path(os.environ.get("LABDOCS_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SCREENSHOTS = ROOT / "test-results" / "screenshots"
VIEWPORT = {"width": 1280, "height": 900}       # wide enough for material's left and right sidebars


def build_site(out: Path, cwd: Path = ROOT, env: dict | None = None) -> Path:
    result = subprocess.run([str(BIN / "mkdocs"), "build", "--strict", "--site-dir", str(out)], cwd=cwd,
                            capture_output=True, text=True, timeout=900,
                            env={**os.environ, "NO_MKDOCS_2_WARNING": "1", **(env or {})})
    assert result.returncode == 0, result.stdout + result.stderr
    return out


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # stdlib signature
        pass


class _Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            super().handle_error(request, client_address)   # a browser dropping a request is not one


@functools.cache
def _mime_types() -> None:
    # .yml is not in every mimetypes table; serve it as text like a static host would.
    _Quiet.extensions_map.update({".yml": "text/yaml", ".yaml": "text/yaml"})


def serve(directory: Path):
    """Start a stdlib HTTP server on a free loopback port; returns (base_url, stop)."""
    _mime_types()
    server = _Server(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(directory)))
    thread = threading.Thread(target=server.serve_forever, name="site-server", daemon=True)
    thread.start()

    def stop():
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)

    return f"http://127.0.0.1:{server.server_address[1]}/", stop


@pytest.fixture(scope="package")
def site_dir(tmp_path_factory) -> Path:
    return build_site(tmp_path_factory.mktemp("browser-site"))


@pytest.fixture(scope="package")
def base_url(site_dir):
    url, stop = serve(site_dir)
    try:
        yield url
    finally:
        stop()


@pytest.fixture(scope="package")
def browser(tmp_path_factory):
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        pytest.fail(f"Chromium not found at {CHROMIUM}: run `make system-deps` (installs Debian's chromium), "
                    f"or set LABDOCS_CHROMIUM to a Chromium binary", pytrace=False)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("Playwright for Python is missing: run `make install`", pytrace=False)
    with sync_playwright() as p:
        # launch() gives every run a fresh temporary profile (user-data-dir), removed on close.
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class Tab:
    """A page in a fresh browser context, with the console errors and page errors it has seen."""
    page: object
    base_url: str
    errors: list[str] = field(default_factory=list)

    def goto(self, path: str = ""):
        response = self.page.goto(self.base_url + path.lstrip("/"), wait_until="load")
        assert response is not None and response.ok, f"{path}: HTTP {response and response.status}"
        return response


def open_tab(browser, base_url: str, **context_args) -> tuple[Tab, object]:
    context = browser.new_context(base_url=base_url, viewport=VIEWPORT, color_scheme="light",
                                  accept_downloads=True, **context_args)
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base_url.rstrip("/"))
    page = context.new_page()
    page.set_default_timeout(15_000)
    tab = Tab(page, base_url)
    page.on("console", lambda msg: msg.type == "error" and tab.errors.append(f"{page.url}: {msg.text}"))
    page.on("pageerror", lambda exc: tab.errors.append(f"{page.url}: uncaught {exc}"))
    return tab, context


@pytest.fixture
def tab(browser, base_url):
    tab, context = open_tab(browser, base_url)
    try:
        yield tab
    finally:
        context.close()


@pytest.fixture(scope="session")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS
