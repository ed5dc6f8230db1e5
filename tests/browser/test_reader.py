"""What a reader does on the site, in real Chromium: read the home page, click through the navigation,
search, copy a compose file, download it, switch palettes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from labdocs.model.loader import load

from labdocs.paths import ROOT
DATA = load()


def heading(page) -> str:
    """The page's h1 without its permalink sign."""
    return page.locator("article h1").first.inner_text().replace("¶", "").strip()


def primary_nav(page):
    return page.locator(".md-sidebar--primary nav.md-nav--primary")


def test_home_shows_the_labs_systems(tab):
    tab.goto("")
    content = tab.page.locator("article.md-content__inner")
    assert heading(tab.page) == DATA.lab.name
    cards = content.locator(".grid.cards")
    text = cards.inner_text()
    for key, s in DATA.systems.items():
        assert s.name in text and s.model.repo in text, key
        link = cards.get_by_role("link", name=s.name, exact=True)
        assert link.evaluate("a => new URL(a.href).pathname") == f"/systems/{key}/"
    assert not tab.errors


@pytest.mark.parametrize("key", list(DATA.systems))
def test_navigation_reaches_every_page_of_a_system(tab, key):
    s = DATA.systems[key]
    page = tab.page
    tab.goto("")
    nav = primary_nav(page)
    # "Systems" opens the list of all systems (the section's index page) and expands the section.
    nav.get_by_role("link", name="Systems", exact=True).first.click()
    page.wait_for_url(re.compile(r"/systems/$"))
    system = primary_nav(page).get_by_role("link", name=s.name, exact=True)
    system.click()
    page.wait_for_url(re.compile(rf"/systems/{key}/$"))
    assert s.name in heading(page)

    # The system's own pages, as its generated .nav.yml lists them, each reached by a click.
    for title, path in (("Quickstart", "QUICKSTART/"), ("Compose file", "COMPOSE/")):
        primary_nav(page).get_by_role("link", name=title, exact=True).and_(
            page.locator(f'a[href$="{path}"]')).first.click()
        page.wait_for_url(re.compile(rf"/systems/{key}/{path}$"))
        h1 = heading(page)
        assert s.name in h1, (path, h1)
    assert not tab.errors


@pytest.mark.parametrize("term", ["gpt-oss", "Qwen3-Coder"])
def test_search_finds_a_model_and_leads_to_its_system(tab, term):
    key, s = next((k, s) for k, s in DATA.systems.items() if term.lower() in s.model.repo.lower())
    page = tab.page
    tab.goto("")
    search = page.locator("input.md-search__input")     # in the header at this width
    search.click()
    search.type(term, delay=20)
    results = page.locator(".md-search-result__list > li")
    results.first.wait_for(state="visible")
    meta = page.locator(".md-search-result__meta").inner_text()
    assert re.search(r"\d+ matching document", meta), meta
    target = page.locator(f'.md-search-result__list a[href*="systems/{key}/"]').first
    target.wait_for(state="visible")
    target.click()
    page.wait_for_url(re.compile(rf"/systems/{key}/"))
    body = page.locator("article.md-content__inner").inner_text()
    assert s.name in heading(page)
    assert term.lower() in body.lower()
    assert not tab.errors


def read_clipboard(page) -> str:
    return page.evaluate("navigator.clipboard.readText()")


@pytest.mark.parametrize("key", list(DATA.systems))
def test_copy_button_copies_the_compose_file_byte_for_byte(tab, key):
    page = tab.page
    tab.goto(f"systems/{key}/COMPOSE/")
    expected = (ROOT / "systems" / key / "docker-compose.yml").read_bytes()
    block = page.locator("div.highlight", has=page.locator("span.filename", has_text="docker-compose.yml")).first
    block.hover()
    button = block.locator("button.md-code__button[data-md-type=copy]")
    assert button.count() == 1
    page.evaluate("navigator.clipboard.writeText('')")
    button.click()
    page.wait_for_function("async () => (await navigator.clipboard.readText()).length > 0")
    assert read_clipboard(page).encode("utf-8") == expected
    assert not tab.errors


def test_every_code_block_has_a_working_copy_button(tab):
    page = tab.page
    checked = 0
    for path in ["", "infrastructure/", "tool-calling/", f"systems/{next(iter(DATA.systems))}/QUICKSTART/"]:
        tab.goto(path)
        blocks = page.locator("article div.highlight:has(pre > code)")
        for i in range(blocks.count()):
            block = blocks.nth(i)
            if not block.is_visible():           # in an inactive content tab: click its label first
                index = block.evaluate("b => { const t = b.closest('.tabbed-block'); "
                                       "return [...t.parentElement.children].indexOf(t); }")
                block.locator("xpath=ancestor::div[contains(@class,'tabbed-set')][1]").locator(
                    ":scope > .tabbed-labels > label").nth(index).click()
            code_text = block.locator("pre > code").evaluate("c => c.innerText")
            block.hover()
            page.evaluate("navigator.clipboard.writeText('')")
            block.locator("button.md-code__button[data-md-type=copy]").click()
            page.wait_for_function("async () => (await navigator.clipboard.readText()).length > 0")
            copied = read_clipboard(page)
            if block.locator(":scope > .filename").count():     # a file: copied whole, final newline kept
                assert copied == code_text.rstrip("\n") + "\n", (path, i)
            else:                                                # commands: no trailing newline to run on paste
                assert copied == code_text.rstrip(), (path, i)
            checked += 1
    assert checked >= 8
    assert not tab.errors


@pytest.mark.parametrize("key", list(DATA.systems))
def test_compose_download_link_returns_the_file(tab, key):
    page = tab.page
    tab.goto(f"systems/{key}/COMPOSE/")
    link = page.locator('article a[download][href$="docker-compose.yml"]')
    assert link.count() == 1
    with page.expect_download() as info:
        link.click()
    download = info.value
    assert download.suggested_filename == "docker-compose.yml"
    assert Path(download.path()).read_bytes() == (ROOT / "systems" / key / "docker-compose.yml").read_bytes()
    assert not tab.errors


def test_dark_and_light_palettes_both_render(tab, screenshots):
    page = tab.page
    tab.goto("")
    body = page.locator("body")
    assert body.get_attribute("data-md-color-scheme") == "default"
    page.screenshot(path=screenshots / "palette-light.png")
    light_bg = page.evaluate("getComputedStyle(document.body).backgroundColor")

    page.locator("form[data-md-component=palette] label:visible").first.click()
    page.wait_for_function("document.body.getAttribute('data-md-color-scheme') === 'slate'")
    page.screenshot(path=screenshots / "palette-dark.png")
    dark_bg = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert dark_bg != light_bg

    # The choice holds across pages (instant navigation) and switches back.
    primary_nav(page).get_by_role("link", name="Status", exact=True).click()
    page.wait_for_url(re.compile(r"/status/$"))
    assert body.get_attribute("data-md-color-scheme") == "slate"
    page.locator("form[data-md-component=palette] label:visible").first.click()
    page.wait_for_function("document.body.getAttribute('data-md-color-scheme') === 'default'")
    assert not tab.errors


def test_screenshots_of_home_system_and_status(tab, screenshots):
    page = tab.page
    key = next(iter(DATA.systems))
    for name, path in (("home", ""), ("systems", "systems/"), (f"system-{key}", f"systems/{key}/"),
                       (f"compose-{key}", f"systems/{key}/COMPOSE/"), ("status", "status/")):
        tab.goto(path)
        page.screenshot(path=screenshots / f"{name}.png", full_page=True)
        assert (screenshots / f"{name}.png").stat().st_size > 10_000
    assert not tab.errors
