"""Status badges and charts in a real browser: "not probed yet" without a live probe; with one, the time
each was observed, and "stale" once that is older than the data's probe.stale_after_hours."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys

import pytest

from .conftest import build_site, open_tab, serve

from labdocs.model.loader import load
from synth import copy_repo

DATA = load()
OLD, FRESH = list(DATA.systems)[:2]


def _iso(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture(scope="module")
def probed_site(tmp_path_factory):
    """A copy of the repository whose live status has one system observed long ago, one just now."""
    repo = copy_repo(tmp_path_factory.mktemp("probed") / "repo")
    now = dt.datetime.now(dt.timezone.utc)
    old = now - dt.timedelta(hours=DATA.probe.stale_after_hours + 5)
    records = {key: {"system": key, "verdict": "up", "drift": [], "started_at": _iso(when),
                     "checks": {"models": {"id_match": True, "context_match": True},
                                "speed": {"ttft_s": 0.2, "decode_tokens_per_s": 30.0},
                                "tool_format": {"status": "confirmed"}}}
               for key, when in ((OLD, old), (FRESH, now))}
    (repo / "data" / "status.json").write_text(json.dumps({"checked_at": _iso(now), "target": "live",
                                                           "systems": records}))
    history = {"checked_at": _iso(now), "target": "live",
               "systems": {k: {"verdict": "up", "decode_tokens_per_s": 30.0, "ttft_s": 0.2} for k in records}}
    (repo / "data" / "status-history.jsonl").write_text(json.dumps(history) + "\n")
    result = subprocess.run([sys.executable, "-m", "labdocs.render", "generate"], cwd=repo, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    url, stop = serve(build_site(repo / "site", cwd=repo))
    try:
        yield url, old, now
    finally:
        stop()


def badges(page) -> dict[str, dict]:
    """system -> {alt, observed, stale note} of every status badge on the page."""
    return page.locator("article img[src*='charts/badge-']").evaluate_all("""imgs => Object.fromEntries(
        imgs.map(i => [i.src.match(/badge-([^/.]+)\\.svg/)[1], {
            alt: i.alt, observed: i.dataset.observed || null,
            stale: (i.nextElementSibling && i.nextElementSibling.classList.contains('labdocs-stale'))
                   ? i.nextElementSibling.textContent : null}]))""")


def test_without_a_live_probe_badges_are_grey_and_say_not_probed_yet(tab):
    tab.goto("")
    shown = badges(tab.page)
    assert set(shown) == set(DATA.systems)
    assert all(b["observed"] is None and b["stale"] is None for b in shown.values()), shown
    svg = tab.page.request.get(tab.base_url + f"charts/badge-{OLD}.svg").text()
    assert ">not probed yet</text>" in svg and "#757575" in svg
    tab.goto("status/")
    assert "Not probed yet." in tab.page.locator("article").inner_text()
    assert not tab.errors, tab.errors


@pytest.mark.parametrize("path", ["", "status/", f"systems/{OLD}/"])
def test_stale_observations_are_marked_stale(browser, probed_site, path):
    url, old, now = probed_site
    tab, context = open_tab(browser, url)
    try:
        tab.goto(path)
        shown = badges(tab.page)
        assert shown[OLD]["observed"] == _iso(old) and shown[OLD]["stale"] == "stale", shown
        if FRESH in shown:
            assert shown[FRESH]["observed"] == _iso(now) and shown[FRESH]["stale"] is None, shown
        note = tab.page.locator("article .labdocs-stale").first
        assert note.is_visible()
        assert note.get_attribute("title") == (f"observed {_iso(old)}, more than "
                                               f"{DATA.probe.stale_after_hours:g} hours ago")
        svg = tab.page.request.get(url + f"charts/badge-{OLD}.svg").text()
        assert f"up, {old:%Y-%m-%d %H:%M} UTC" in svg
        assert not tab.errors, tab.errors
    finally:
        context.close()


def test_staleness_follows_the_readers_clock(browser, probed_site):
    """Built while fresh, read later: the page turns stale in the browser, without a rebuild."""
    url, old, now = probed_site
    tab, context = open_tab(browser, url)
    try:
        later = now + dt.timedelta(hours=DATA.probe.stale_after_hours + 1)
        tab.page.clock.install(time=later)
        tab.goto("status/")
        shown = badges(tab.page)
        assert shown[FRESH]["stale"] == "stale" and shown[OLD]["stale"] == "stale", shown
        chart = tab.page.locator("article img[src*='charts/decode_tokens_per_s.svg']")
        assert chart.get_attribute("data-observed") == _iso(now)
        assert chart.evaluate("i => i.nextElementSibling.textContent") == "stale"
    finally:
        context.close()
