"""Every page of the built site, loaded in Chromium: no console errors, and every internal link, resource
and #anchor on it resolves. Checked, not sampled: the crawl starts from every HTML file the build wrote
and follows every same-origin href found in the rendered DOM."""

from __future__ import annotations

import urllib.error
import urllib.request
from urllib.parse import unquote, urldefrag, urlsplit

COLLECT = """() => ({
  ids: [...document.querySelectorAll('[id]')].map(e => e.id)
        .concat([...document.querySelectorAll('a[name]')].map(a => a.name)),
  links: [...document.querySelectorAll('a[href]')].map(a => a.href),
  resources: [...document.querySelectorAll('link[href], script[src], img[src], source[src]')]
        .map(e => e.href || e.src),
})"""


def is_page(url: str) -> bool:
    path = urlsplit(url).path
    return path.endswith("/") or path.endswith(".html")


def http_status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_every_page_loads_cleanly_and_every_internal_link_and_anchor_resolves(tab, site_dir, base_url):
    page = tab.page
    origin = base_url.rstrip("/")
    built = sorted(site_dir.rglob("*.html"))
    queue = [base_url + p.relative_to(site_dir).as_posix().removesuffix("index.html") for p in built]
    anchors: dict[str, set[str]] = {}         # page URL -> ids on it
    references: list[tuple[str, str]] = []    # (where, absolute URL with fragment)
    resources: set[str] = set()
    external: set[str] = set()
    broken: list[str] = []

    while queue:
        url = queue.pop()
        if url in anchors:
            continue
        response = page.goto(url, wait_until="load")
        if response is None or response.status != 200:
            anchors[url] = set()
            broken.append(f"{url}: HTTP {response and response.status}")
            continue
        found = page.evaluate(COLLECT)
        anchors[url] = set(found["ids"])
        for href in found["links"]:
            if not href.startswith(("http://", "https://")):
                continue                              # mailto:, javascript:, ...
            if not href.startswith(origin + "/"):
                external.add(href)
                continue
            references.append((url, href))
            target, _ = urldefrag(href)
            if is_page(target) and target not in anchors:
                queue.append(target)
            elif not is_page(target):
                resources.add(target)
        resources.update(r for r in found["resources"] if r.startswith(origin + "/"))

    for where, href in references:
        target, fragment = urldefrag(href)
        if is_page(target):
            if target not in anchors:
                broken.append(f"{where}: {href} (page not crawled)")
            elif fragment and unquote(fragment) not in anchors[target]:
                broken.append(f"{where}: {href} (no element with id {unquote(fragment)!r})")
    for url in sorted(resources):
        status = http_status(url)
        if status != 200:
            broken.append(f"{url}: HTTP {status}")

    assert len(anchors) >= len(built), "fewer pages crawled than built"
    assert not broken, "\n".join(broken)
    assert not tab.errors, "\n".join(tab.errors)
    print(f"\ncrawled {len(anchors)} pages, {len(references)} internal links, {len(resources)} resources; "
          f"{len(external)} external links not followed")
