"""STATUS.md and the site's status page render declared data plus the last probe of the real hosts:
verdicts, drift, badges and history charts that say when they were observed; nothing from the lab
(the probe itself is tested in test_probe.py, the stale marks in a browser in tests/browser)."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import macros_cli
from labdocs.model.loader import load

DATA = load()


def record(key: str, verdict: str, drift: list[dict], tps: float, ttft: float) -> dict:
    s = DATA.systems[key]
    return {"system": key, "verdict": verdict, "drift": drift, "host": s.host, "port": s.port,
            "checks": {"models": {"id_match": not drift, "context_match": True},
                       "speed": {"ttft_s": ttft, "decode_tokens_per_s": tps, "summary": f"{tps:g} tok/s"},
                       "tool_format": {"status": "confirmed"}}}


def write_probe(repo: Path, checked_at: str, records: dict, target: str = "live", **extra) -> None:
    doc = {"checked_at": checked_at, "target": target, **extra, "systems": records}
    (repo / "data" / "status.json").write_text(json.dumps(doc))
    history = repo / "data" / "status-history.jsonl"
    line = {"checked_at": checked_at, "target": target,
            "systems": {k: {"verdict": r["verdict"], "decode_tokens_per_s": r["checks"]["speed"]["decode_tokens_per_s"],
                            "ttft_s": r["checks"]["speed"]["ttft_s"]} for k, r in records.items()}}
    with history.open("a") as f:
        f.write(json.dumps(line) + "\n")


def test_status_shows_the_last_observation_with_drift_badges_and_charts(repo_copy: Path):
    keys = list(DATA.systems)
    drifted = [{"kind": "model_id", "message": "serves /models/other, not the documented id"}]
    write_probe(repo_copy, "2026-11-24T10:00:00Z", {keys[0]: record(keys[0], "up", [], 30.0, 0.4),
                                                     keys[1]: record(keys[1], "up", [], 50.0, 0.3)})
    write_probe(repo_copy, "2026-11-25T10:00:00Z", {keys[0]: record(keys[0], "up", [], 33.0, 0.5),
                                                     keys[1]: record(keys[1], "drift", drifted, 48.0, 0.2)},
                run_url="https://forge.home.arpa/lab/docs/actions/runs/42")

    result = macros_cli("generate", cwd=repo_copy)
    assert result.returncode == 0, result.stderr

    status = (repo_copy / "STATUS.md").read_text()
    assert ("Last checked **2026-11-25T10:00:00Z** on the real hosts, by "
            "[this CI run](https://forge.home.arpa/lab/docs/actions/runs/42).") in status
    assert f"older than {DATA.probe.stale_after_hours:g} hours is stale" in status
    assert "serves /models/other, not the documented id" in status and "**differs**" in status
    assert "33 tok/s" in status
    assert "![drift](charts/badge-" in status and "![Decode speed (tokens/s)" in status
    badge = (repo_copy / "charts" / f"badge-{keys[1]}.svg").read_text()
    assert "drift, 2026-11-25 10:00 UTC" in badge and "#ef6c00" in badge
    assert f"{keys[1]}: drift, observed 2026-11-25T10:00:00Z" in badge
    chart = (repo_copy / "charts" / "decode_tokens_per_s.svg").read_text()
    assert "<svg" in chart.splitlines()[1] and all(k in chart for k in keys)
    assert 'data-observed="2026-11-25T10:00:00Z">last observed 2026-11-25 10:00 UTC' in chart


def test_without_a_live_probe_everything_says_not_probed_yet(repo_copy: Path):
    for name in ("status.json", "status-history.jsonl"):
        (repo_copy / "data" / name).unlink(missing_ok=True)
    assert macros_cli("generate", cwd=repo_copy).returncode == 0
    status = (repo_copy / "STATUS.md").read_text()
    assert "**Not probed yet.** No probe of the real hosts has been recorded" in status
    assert "Last checked" not in status and "![Decode speed" not in status
    for key in DATA.systems:
        badge = (repo_copy / "charts" / f"badge-{key}.svg").read_text()
        assert ">not probed yet</text>" in badge and 'fill="#757575"' in badge
    assert sorted(p.name for p in (repo_copy / "charts").iterdir()) == sorted(f"badge-{k}.svg" for k in DATA.systems)


def test_the_committed_status_is_not_from_the_lab():
    """What this repository publishes: a live probe, or nothing yet."""
    from labdocs.observed.status import observations

    status, history = observations()
    assert status is None or status["target"] == "live"
    assert all(entry["target"] == "live" for entry in history)


def test_a_lab_status_in_data_is_refused(repo_copy: Path):
    keys = list(DATA.systems)
    write_probe(repo_copy, "2026-11-25T10:00:00Z", {keys[0]: record(keys[0], "up", [], 33.0, 0.5)}, target="lab")
    before = (repo_copy / "STATUS.md").read_text()
    result = macros_cli("generate", cwd=repo_copy)
    assert result.returncode == 2
    assert "data/status.json: target: 'lab' is not 'live'" in result.stderr
    assert "hint: the published status holds probes of the real hosts only" in result.stderr
    assert (repo_copy / "STATUS.md").read_text() == before           # nothing half-written


def test_a_lab_line_in_the_history_is_refused(repo_copy: Path):
    keys = list(DATA.systems)
    write_probe(repo_copy, "2026-11-24T10:00:00Z", {keys[0]: record(keys[0], "up", [], 33.0, 0.5)}, target="lab")
    write_probe(repo_copy, "2026-11-25T10:00:00Z", {keys[0]: record(keys[0], "up", [], 33.0, 0.5)})
    result = macros_cli("check", cwd=repo_copy)
    assert result.returncode == 2 and "data/status-history.jsonl:1: target: 'lab' is not 'live'" in result.stderr


def test_a_run_url_cannot_change_the_page(repo_copy: Path):
    keys = list(DATA.systems)
    write_probe(repo_copy, "2026-11-25T10:00:00Z", {keys[0]: record(keys[0], "up", [], 33.0, 0.5)},
                run_url="https://x/)[click](http://evil")
    result = macros_cli("generate", cwd=repo_copy)
    assert result.returncode == 2 and "data/status.json: run_url: " in result.stderr
