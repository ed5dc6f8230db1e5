"""STATUS.md and the site's status page render declared data plus the last probe: verdicts, drift,
badges and history charts (the probe itself is tested in test_probe.py)."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import macros_cli
from macros.loader import load

DATA = load()


def record(key: str, verdict: str, drift: list[dict], tps: float, ttft: float) -> dict:
    s = DATA.systems[key]
    return {"system": key, "verdict": verdict, "drift": drift, "host": s.host, "port": s.port,
            "checks": {"models": {"id_match": not drift, "context_match": True},
                       "speed": {"ttft_s": ttft, "decode_tokens_per_s": tps, "summary": f"{tps:g} tok/s"},
                       "tool_format": {"status": "confirmed"}}}


def write_probe(repo: Path, checked_at: str, records: dict) -> None:
    doc = {"checked_at": checked_at, "target": "lab", "systems": records}
    (repo / "data" / "status.json").write_text(json.dumps(doc))
    history = repo / "data" / "status-history.jsonl"
    line = {"checked_at": checked_at, "target": "lab",
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
                                                     keys[1]: record(keys[1], "drift", drifted, 48.0, 0.2)})

    result = macros_cli("generate", cwd=repo_copy)
    assert result.returncode == 0, result.stderr

    status = (repo_copy / "STATUS.md").read_text()
    assert "Last checked **2026-11-25T10:00:00Z** against the **loopback lab**" in status
    assert "serves /models/other, not the documented id" in status and "**differs**" in status
    assert "33 tok/s" in status
    assert "![drift](charts/badge-" in status and "![Decode speed (tokens/s)" in status
    badge = (repo_copy / "charts" / f"badge-{keys[1]}.svg").read_text()
    assert "drift" in badge and "#ef6c00" in badge
    chart = (repo_copy / "charts" / "decode_tokens_per_s.svg").read_text()
    assert "<svg" in chart.splitlines()[1] and all(k in chart for k in keys)


def test_without_a_probe_status_says_so(repo_copy: Path):
    for name in ("status.json", "status-history.jsonl"):
        (repo_copy / "data" / name).unlink(missing_ok=True)
    assert macros_cli("generate", cwd=repo_copy).returncode == 0
    status = (repo_copy / "STATUS.md").read_text()
    assert "Not measured yet: run `make status`" in status
    assert "unknown" in (repo_copy / "charts" / f"badge-{next(iter(DATA.systems))}.svg").read_text()
