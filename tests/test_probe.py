"""The observed-status probe (labdocs/probe/): verdicts from real and fake servers, the store, the chart, the CLI.

Fault cases run against small local servers (tests/probe_fakes.py) on 127.0.0.x, all probed in ONE
probe_all call, so each case also shows that the others were still probed. The lab part (marked lab)
probes the real vLLM CPU servers of the session's loopback lab.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

import probe_fakes as fakes
from labdocs.model.loader import load
from labdocs.probe import metrics as pmetrics
from labdocs.probe.run import Settings, _speed_record, lab_parser_overrides, probe_all
from labdocs.model.ceiling import bandwidth_ceiling, describe_speed, pct_of
from labdocs.observed.records import HistoryLine, SpeedCheck, Status, SystemRecord
from labdocs.observed.store import append_history, history_entry, load_history, load_status, write_status
from labdocs.probe.speed import _read_line, _Seen, _timed
from labdocs.probe.verdict import decide, exit_code
from labdocs.observed.chart import svg_history

from labdocs.paths import ROOT
DATA = load()
STELLA, PEGASUS = DATA.systems["stella"], DATA.systems["pegasus"]


# --- fault cases: one concurrent probe of good and broken fake servers ------------------------------

def _system(base, **model_updates):
    return base.model_copy(update=model_updates) if model_updates else base


@pytest.fixture(scope="module")
def fault_run():
    servers = {
        "good": fakes.FakeVLLM("127.0.0.60", STELLA.model.id, STELLA.context_length, "hermes", natural="qwen3-xml"),
        "good_openai": fakes.FakeVLLM("127.0.0.61", PEGASUS.model.id, PEGASUS.context_length, "openai"),
        "drifted": fakes.FakeVLLM("127.0.0.62", "/models/models--other--model/snapshots/" + "0" * 40,
                                  STELLA.context_length, "hermes"),
        "short_context": fakes.FakeVLLM("127.0.0.63", STELLA.model.id, 32768, "hermes"),
        "garbage": fakes.GarbageBody("127.0.0.64"),
        "wire_garbage": fakes.WireGarbage("127.0.0.65"),
        "html": fakes.HtmlPage("127.0.0.66"),
        "not_found": fakes.NotFound("127.0.0.67"),
        "timeout": fakes.Silent("127.0.0.68"),
        # stella's data says parser hermes (Qwen3-XML stays in content); these servers run another setup.
        "parser_qwen3": fakes.FakeVLLM("127.0.0.69", STELLA.model.id, STELLA.context_length, "qwen3_coder"),
        "auto_off": fakes.FakeVLLM("127.0.0.70", STELLA.model.id, STELLA.context_length, None),
        "pegasus_hermes": fakes.FakeVLLM("127.0.0.71", PEGASUS.model.id, PEGASUS.context_length, "hermes"),
        "parser_openai": fakes.FakeVLLM("127.0.0.73", STELLA.model.id, STELLA.context_length, "openai"),
        # A model that writes Hermes JSON by itself: the hermes parser turns it into tool_calls.
        "natural_hermes": fakes.FakeVLLM("127.0.0.74", STELLA.model.id, STELLA.context_length, "hermes",
                                         natural="hermes"),
    }
    urls = {k: s.url for k, s in servers.items()}
    urls["refused"] = fakes.refused_url("127.0.0.72")
    pegasus_like = {"good_openai", "pegasus_hermes"}
    systems = {k: (PEGASUS if k in pegasus_like else STELLA) for k in urls}
    data = DATA.model_copy(update={"systems": systems})
    seen: list[tuple[str, str]] = []
    try:
        records = probe_all(data, urls, Settings.from_data(data, timeout_s=3.0, compare_speed=False),
                                  progress=lambda key, name, rec: seen.append((key, name)))
    finally:
        for s in servers.values():
            s.stop()
    # as data/status.json holds them
    return {"records": {r.system: r.dump() for r in records}, "order": [r.system for r in records],
            "keys": list(systems), "progress": seen, "data": data}


def _kinds(rec):
    return [d["kind"] for d in rec["drift"]]


@pytest.mark.parametrize("key, verdict, kinds", [
    ("good", "up", []),
    ("good_openai", "up", []),
    ("refused", "down", []),
    ("timeout", "down", []),
    ("garbage", "drift", ["garbage"]),
    ("wire_garbage", "drift", ["garbage"]),
    ("html", "drift", ["not_vllm"]),
    ("not_found", "drift", ["not_vllm"]),
    ("drifted", "drift", ["model_id"]),
    ("short_context", "drift", ["context_length"]),
    ("parser_qwen3", "drift", ["tool_format"]),
    ("auto_off", "drift", ["tool_format"]),
    ("pegasus_hermes", "drift", ["tool_format"]),
    ("parser_openai", "drift", ["tool_format"]),
    ("natural_hermes", "drift", ["tool_format"]),
])
def test_fault_verdicts(fault_run, key, verdict, kinds):
    rec = fault_run["records"][key]
    assert rec["verdict"] == verdict, rec["drift"] or rec["down_reason"]
    assert _kinds(rec) == kinds, rec["drift"]


def test_every_system_is_probed_and_recorded(fault_run):
    assert fault_run["order"] == fault_run["keys"]  # all of them, in the data's order
    for key, rec in fault_run["records"].items():
        assert rec["probed_url"].startswith("http://127.0.0.")
        assert rec["host"] == STELLA.host or rec["host"] == PEGASUS.host  # the documented name is kept
        assert (key, "health") in fault_run["progress"]
        json.dumps(rec)  # storable as is


def test_down_reasons_are_specific(fault_run):
    assert fault_run["records"]["refused"]["down_reason"] == "connection refused"
    assert "no answer within 3 s" in fault_run["records"]["timeout"]["down_reason"]
    for key in ("refused", "timeout"):
        assert fault_run["records"][key]["checks"]["speed"]["skipped"] == "host down"


def test_good_server_record(fault_run):
    rec = fault_run["records"]["good"]
    c = rec["checks"]
    assert c["version"]["version"] == "0.9.2-fake"
    assert c["models"]["id_match"] and c["models"]["context_match"]
    # The fake exports vLLM V0 metric names; the probe reads them as well as today's.
    m = c["metrics"]
    assert (m["requests_running"], m["requests_waiting"], m["kv_cache_usage_pct"]) == (1, 2, 12.5)
    assert m["sources"]["kv_cache_usage_pct"] == "vllm:gpu_cache_usage_perc"
    assert m["prefix_cache_hit_rate_pct"] == 50
    s = c["speed"]
    assert s["ok"] and s["completion_tokens"] == DATA.probe.max_tokens and s["tokens_counted_from"] == "usage"
    assert s["decode_tokens_per_s"] > 0 and s["ttft_s"] >= 0
    assert not s["compared"] and s["not_compared_why"]


def test_tool_format_records_what_was_checked(fault_run):
    good = fault_run["records"]["good"]["checks"]["tool_format"]
    assert good["status"] == "confirmed" and good["observed_format"] == "qwen3-xml"
    assert good["observations"]["forced_hermes"]["outcome"] == "parsed"
    assert good["observations"]["forced_qwen3-xml"]["outcome"] == "content"
    assert good["observations"]["unforced"]["outcome"] == "text_call"
    assert "tool_choice=auto, unforced: the model wrote a qwen3-xml call, left in content" in good["checked"]
    oai = fault_run["records"]["good_openai"]["checks"]["tool_format"]
    assert oai["status"] == "confirmed" and oai["observations"]["required_cut"]["syntax"] == "harmony"
    wrong = fault_run["records"]["parser_qwen3"]["checks"]["tool_format"]
    assert wrong["observed_format"] == "openai" and "'qwen3-xml'" in wrong["mismatches"][-1]
    off = fault_run["records"]["auto_off"]["checks"]["tool_format"]
    assert "refused" in off["mismatches"][0]
    # Qwen3-XML stays in content as declared, but Hermes JSON does too: the parser is not hermes.
    other = fault_run["records"]["parser_openai"]["checks"]["tool_format"]
    assert other["observed_format"] == "qwen3-xml"
    assert other["mismatches"] == [other["mismatches"][0]] and "not running --tool-call-parser hermes" in other["mismatches"][0]
    natural = fault_run["records"]["natural_hermes"]["checks"]["tool_format"]
    assert natural["mismatches"] == ["an unforced call arrived as tool_calls, the data declares 'qwen3-xml' text"]


def test_garbage_and_not_vllm_messages_name_the_evidence(fault_run):
    r = fault_run["records"]
    assert "/v1/models answers non-JSON text" in r["garbage"]["drift"][0]["message"]
    assert "not an HTTP answer" in r["wire_garbage"]["drift"][0]["message"]
    assert "/health answers an HTML page" in r["html"]["drift"][0]["message"]
    assert "/v1/models answers HTTP 404" in r["not_found"]["drift"][0]["message"]


def test_exit_code(fault_run):
    # read back from the stored form, as a later run would
    recs = {key: SystemRecord.model_validate(rec) for key, rec in fault_run["records"].items()}
    assert exit_code([recs["good"], recs["good_openai"]]) == 0
    assert exit_code([recs["good"], recs["refused"]]) == 1
    assert exit_code([recs["good"], recs["drifted"]]) == 1
    assert exit_code([]) == 1


def test_a_probe_error_is_drift_decided_with_the_rest():
    """A bug in the probe (probe_system's last net) counts in verdict.py like any check."""
    rec = SystemRecord.model_validate({"system": "stella", "probe_error": "KeyError: 'x'", "checks": {
        "health": {"ok": True}, "models": {"served": ["m"], "id_match": True, "context_match": False,
                                           "max_model_len": 1, "expected_context": 2}}})
    assert [(d.kind, d.message) for d in decide(rec).drift] == [
        ("context_length", "max_model_len 1, documented context_length 2"), ("check_failed", "probe error: KeyError: 'x'")]
    assert rec.verdict == "drift"
    rec = decide(SystemRecord(system="stella", probe_error="KeyError: 'x'"))
    assert rec.verdict == "drift" and [d.kind for d in rec.drift] == ["check_failed"]
    down = decide(SystemRecord.model_validate({"system": "stella", "checks": {"health": {"down": True}}}))
    assert (down.verdict, down.down_reason, down.drift) == ("down", "no answer", [])
    down.probe_error = "KeyError: 'x'"
    assert [(d.kind, d.message) for d in decide(down).drift] == [("check_failed", "probe error: KeyError: 'x'")]
    assert down.verdict == "down"


# --- speed: ceiling and tolerances (pure functions, no timing) --------------------------------------

def test_bandwidth_ceiling():
    ceiling = bandwidth_ceiling(DATA, PEGASUS)
    # gpt-oss reads its active MoE experts in MXFP4 (3.583B x 4.25 bits) but attention, router and
    # lm_head in BF16 (1.548B x 16 bits): 4.999 GB per token, so 273 GB/s / 4.999 GB = 54.6 tok/s.
    # (All 5.13B at 4.25 bits would claim 99.6 tok/s and put 34 tok/s at a third of the ceiling.)
    assert ceiling["gb_read_per_token"] == pytest.approx(4.999, abs=0.001)
    assert ceiling["tokens_per_s"] == pytest.approx(54.6, abs=0.05)
    assert [g["quantization"] for g in ceiling["groups"]] == ["MXFP4", "BF16", "BF16", "BF16"]
    assert pct_of(34.2, ceiling) == pytest.approx(62.6, abs=0.05)
    assert describe_speed(34.2, pct_of(34.2, ceiling)) == "34 tok/s, 63% of the bandwidth ceiling"
    stella = bandwidth_ceiling(DATA, STELLA)  # BF16 throughout: 3.3B x 16 bits, one group
    assert stella["tokens_per_s"] == pytest.approx(41.4, abs=0.05) and len(stella["groups"]) == 1


def _measured(tps, ttft):
    return SpeedCheck(ok=True, decode_tokens_per_s=tps, ttft_s=ttft, error=None)


def _verdict_for(result, system=PEGASUS, **settings):
    rec = SystemRecord.model_validate({"system": "pegasus", "checks": {"health": {"ok": True}}})
    rec.checks.speed = _speed_record(result, system, Settings.from_data(DATA, **settings),
                                     bandwidth_ceiling(DATA, system), True)
    return decide(rec).dump()


def test_speed_and_ttft_tolerances():
    # pegasus: documented 34.2 tok/s, 25% drop allowed -> 25.65 tok/s minimum; TTFT limit 5 s.
    assert _kinds(_verdict_for(_measured(26.0, 1.0))) == []
    assert _kinds(_verdict_for(_measured(25.5, 1.0))) == ["speed"]
    assert _kinds(_verdict_for(_measured(40.0, 5.5))) == ["ttft"]
    assert _kinds(_verdict_for(_measured(10.0, 9.0), target="lab")) == []  # the lab is not the hardware
    assert _kinds(_verdict_for(_measured(1.0, 1.0), system=STELLA)) == []  # stella documents no speed
    rec = _verdict_for(_measured(34.0, 0.5))
    assert rec["checks"]["speed"]["summary"].startswith("34 tok/s, 62% of the bandwidth ceiling")


# --- the chat stream, line by line (the fakes above only stream well-formed events) -----------------

@pytest.mark.parametrize("line, kind, error", [
    ("", None, None), (": keep-alive", None, None), ("event: message", None, None),
    ("<html>", "garbage", "not server-sent events: '<html>'"),
    ("data: {not json", "garbage", "a stream chunk is not JSON: '{not json'"),
    ("data: [1]", "garbage", "a stream chunk is not an object: '[1]'"),
    ('data: {"error": {"message": "out of memory"}}', "http", "error in stream: out of memory"),
])
def test_stream_lines(line, kind, error):
    out, seen = SpeedCheck(error=None, error_kind=None), _Seen()
    assert _read_line(line, out, seen) is (kind is None)
    assert (out.error_kind, out.error) == (kind, error)


def test_stream_timing():
    delta = 'data: {"choices": [{"delta": {"content": "one"}}]}'
    out, seen = SpeedCheck(error=None, error_kind=None), _Seen()
    assert not _read_line("data: [DONE]", out, seen) and seen.done and out.error is None
    assert _timed(out, seen, 0.0).error_kind == "empty"           # ended, but nothing generated
    out, seen = SpeedCheck(error=None, error_kind=None), _Seen()
    assert _read_line(delta, out, seen) and out.chunks_with_text == 1
    assert _timed(out, seen, 0.0).error_kind == "too_short"
    for _ in range(3):
        assert _read_line(delta, out, seen)
    _read_line('data: {"choices": [], "usage": {"completion_tokens": 9}}', out, seen)
    seen.first, seen.last = 0.5, 1.5                                # 8 tokens after the first, in 1 s
    timed = _timed(out.model_copy(update={"error": None, "error_kind": None}), seen, 0.0)
    assert timed.ok and (timed.ttft_s, timed.decode_tokens_per_s, timed.tokens_counted_from) == (0.5, 8.0, "usage")


# --- metrics parsing ----------------------------------------------------------------------------------

V1_METRICS = """\
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{engine="0",model_name="m"} 2.0
vllm:num_requests_running{engine="1",model_name="m"} 1.0
vllm:num_requests_waiting{engine="0",model_name="m"} 0.0
vllm:kv_cache_usage_perc{engine="0",model_name="m"} 0.25
vllm:kv_cache_usage_perc{engine="1",model_name="m"} 0.5
# TYPE vllm:prefix_cache_queries counter
vllm:prefix_cache_queries_total{engine="0",model_name="m"} 200.0
vllm:prefix_cache_hits_total{engine="0",model_name="m"} 50.0
vllm:generation_tokens_total{engine="0",model_name="m"} 443.0
"""


def test_metrics_current_names():
    m = pmetrics.summarize(V1_METRICS)
    assert m["requests_running"] == 3 and m["requests_waiting"] == 0
    assert m["kv_cache_usage_pct"] == 50  # the fullest engine
    assert m["prefix_cache_hit_rate_pct"] == 25 and m["generation_tokens_total"] == 443


def test_metrics_garbage_and_foreign():
    with pytest.raises(pmetrics.MetricsGarbage):
        pmetrics.summarize("<html><body>nope</body></html>")
    assert pmetrics.summarize("process_cpu_seconds_total 1.5\n")["vllm_series"] == 0


# --- store ----------------------------------------------------------------------------------------------

def _doc(when: str, tps: float | None = 30.0, verdict: str = "up", target: str = "live") -> Status:
    rec = {"system": "pegasus", "verdict": verdict, "drift": [], "checks": {
        "health": {"latency_ms": 3.0}, "speed": {"decode_tokens_per_s": tps, "ttft_s": 0.2},
        "models": {"served": ["m"]}, "version": {"version": "0.15.1"}}}
    return Status.model_validate({"checked_at": when, "target": target, "systems": {"pegasus": rec}})


def test_status_round_trip_leaves_no_temp_files(tmp_path):
    path = tmp_path / "data" / "status.json"
    write_status(path, _doc("2026-11-25T01:00:00Z"))
    write_status(path, _doc("2026-11-25T02:00:00Z"))
    assert load_status(path).checked_at == "2026-11-25T02:00:00Z"
    assert sorted(p.name for p in path.parent.iterdir()) == ["status.json"]
    assert load_status(tmp_path / "missing.json") is None


@pytest.mark.parametrize("fail_in", ["fsync", "replace"])
def test_status_write_is_atomic(tmp_path, monkeypatch, fail_in):
    path = tmp_path / "status.json"
    write_status(path, _doc("2026-11-25T01:00:00Z"))
    before = path.read_bytes()

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(os, fail_in, boom)
    with pytest.raises(OSError):
        write_status(path, _doc("2026-11-25T02:00:00Z", tps=1.0))
    monkeypatch.undo()
    assert path.read_bytes() == before  # the old document, whole
    assert [p.name for p in tmp_path.iterdir()] == ["status.json"]  # the temp file is gone


def test_history_is_bounded_and_ordered(tmp_path):
    path = tmp_path / "history.jsonl"
    for i in range(7):
        kept = append_history(path, _doc(f"2026-11-25T0{i}:00:00Z", tps=float(i)), keep=5)
    assert kept == 5
    with path.open("a") as f:
        f.write("{not json\n")
    entries = load_history(path)
    assert [e.checked_at[11:13] for e in entries] == ["02", "03", "04", "05", "06"]
    assert entries[-1].systems["pegasus"].decode_tokens_per_s == 6.0
    append_history(path, _doc("2026-11-25T08:00:00Z", target="lab"), keep=5)
    assert len(path.read_text().splitlines()) == 5
    assert [e.target for e in load_history(path, target="lab")] == ["lab"]
    assert load_history(tmp_path / "none.jsonl") == []


def test_history_entry_is_compact():
    entry = history_entry(_doc("2026-11-25T01:00:00Z"))
    assert entry.dump()["systems"]["pegasus"] == {
        "verdict": "up", "drift": [], "health_latency_ms": 3.0, "ttft_s": 0.2, "decode_tokens_per_s": 30.0,
        "measured_pct_of_ceiling": None, "tool_format": None, "served_model": "m", "version": "0.15.1"}


# --- chart ---------------------------------------------------------------------------------------------

def _history():
    runs = []
    for i, (a, b) in enumerate([(30.0, 40.0), (32.0, None), (31.0, 41.0), (29.0, 42.0)]):
        runs.append({"checked_at": f"2026-11-2{i}T12:00:00Z", "target": "live", "systems": {
            "pegasus": {"decode_tokens_per_s": a, "ttft_s": 0.3},
            "stella": {"decode_tokens_per_s": b, "ttft_s": None if b is None else 0.1}}})
    return [HistoryLine.model_validate(run) for run in runs]


SVG = "{http://www.w3.org/2000/svg}"


@pytest.mark.parametrize("metric, unit", [("decode_tokens_per_s", "tok/s"), ("ttft_s", "s")])
def test_chart_is_self_contained_svg(metric, unit):
    svg = svg_history(_history(), metric)
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    assert not root.findall(f".//{SVG}script") and "href" not in svg and "<style" not in svg
    texts = ["".join(t.itertext()) for t in root.iter(f"{SVG}text")]
    assert any(t.startswith("pegasus") for t in texts) and any(t.startswith("stella") for t in texts)  # legend
    assert any(t.endswith(f"({unit})") for t in texts) and "time (UTC)" in texts  # axis labels
    assert all(t.get("fill") == "currentColor" for t in root.iter(f"{SVG}text"))
    series = {g.get("data-system"): g for g in root.iter(f"{SVG}g")}
    assert set(series) == {"pegasus", "stella"}
    assert len(series["pegasus"].findall(f"{SVG}polyline")) == 1
    assert len(series["pegasus"].findall(f"{SVG}circle")) == 4


def test_chart_gaps_and_empty():
    svg = svg_history(_history(), "decode_tokens_per_s")
    stella = next(g for g in ET.fromstring(svg).iter(f"{SVG}g") if g.get("data-system") == "stella")
    # runs 1 | 3,4: a lone point (circle only) and a two-point line
    [line] = stella.findall(f"{SVG}polyline")
    assert len(line.get("points").split()) == 2 and len(stella.findall(f"{SVG}circle")) == 3
    empty = svg_history([], "ttft_s")
    assert "no measurements yet" in empty and ET.fromstring(empty) is not None


# --- command line against fakes (live mode, documented URLs replaced) --------------------------------

def test_cli_writes_status_and_exit_codes(tmp_path, monkeypatch, capsys):
    from labdocs.probe.__main__ import main

    good = fakes.FakeVLLM("127.0.0.80", STELLA.model.id, STELLA.context_length, "hermes")
    good_p = fakes.FakeVLLM("127.0.0.81", PEGASUS.model.id, PEGASUS.context_length, "openai")
    out, hist = tmp_path / "status.json", tmp_path / "history.jsonl"
    args = ["--target", "live", "--out", str(out), "--history", str(hist), "--timeout", "2", "--no-compare-speed"]
    try:
        monkeypatch.setattr("labdocs.probe.run.live_urls", lambda data: {"pegasus": good_p.url, "stella": good.url})
        assert main(args) == 0
        printed = capsys.readouterr().out
        assert "::error" not in printed
        # As the scheduled CI job runs it: the run's address is recorded, and a failure names system and fact.
        monkeypatch.setenv("GITHUB_ACTIONS", "true")
        monkeypatch.setenv("LABDOCS_RUN_URL", "https://forge.home.arpa/lab/docs/actions/runs/7")
        monkeypatch.setattr("labdocs.probe.run.live_urls", lambda data: {"pegasus": good_p.url,
                                                             "stella": fakes.refused_url("127.0.0.82")})
        assert main(args) == 1
        annotated = [line for line in capsys.readouterr().out.splitlines() if line.startswith("::")]
    finally:
        good.stop()
        good_p.stop()
    for line in ("stella  health", "pegasus speed", "stella  tool_format"):
        assert line in printed
    assert "SYSTEM   VERDICT" in printed
    doc = load_status(out)
    assert doc.target == "live" and doc.checked_at.endswith("Z")
    assert doc.systems["stella"].verdict == "down" and doc.systems["pegasus"].verdict == "up"
    assert doc.systems["stella"].host == STELLA.host
    assert [e.systems["stella"].verdict for e in load_history(hist)] == ["up", "down"]
    assert doc.run_url == "https://forge.home.arpa/lab/docs/actions/runs/7"
    assert len(annotated) == 1 and annotated[0].startswith("::error title=stella is down::stella: down: "), annotated


def test_annotations_name_system_and_fact():
    from labdocs.probe.__main__ import annotations

    records = [{"system": "stella", "verdict": "drift", "down_reason": None,
                "drift": [{"kind": "context_length", "message": "max_model_len 32768, documented 204800\nmore"}]},
               {"system": "pegasus", "verdict": "up", "down_reason": None, "drift": []}]
    assert annotations([SystemRecord.model_validate(r) for r in records]) == ["::error title=stella drifts (context_length)::stella: context_length: "
                                    "max_model_len 32768, documented 204800%0Amore"]


@pytest.mark.parametrize("flag", ["--out", "--history"])
def test_a_lab_probe_may_not_write_the_published_status(flag, capsys):
    """Refused before any lab starts: the published files hold probes of the real hosts only."""
    from labdocs.probe.__main__ import main

    published = {"--out": "data/status.json", "--history": "data/status-history.jsonl"}[flag]
    before = {p: (ROOT / p).read_bytes() if (ROOT / p).exists() else None for p in published_files()}
    assert main(["--target", "lab", flag, str(ROOT / published)]) == 2
    err = capsys.readouterr().err
    assert f"--target lab may not write {ROOT / published}" in err and "test-results/status/status.json" in err
    assert before == {p: (ROOT / p).read_bytes() if (ROOT / p).exists() else None for p in published_files()}


def published_files() -> list[str]:
    return ["data/status.json", "data/status-history.jsonl", "STATUS.md",
            *(p.relative_to(ROOT).as_posix() for p in (ROOT / "charts").glob("*.svg"))]


def test_cli_refuses_unknown_system(capsys):
    from labdocs.probe.__main__ import main

    assert main(["--system", "nosuch", "--no-write"]) == 2
    assert "unknown system" in capsys.readouterr().err


# --- the loopback lab: real vLLM servers --------------------------------------------------------------

@pytest.mark.lab
def test_lab_systems_are_up_as_declared(lab):
    # The session lab also serves the example data's systems; probe the bundled data's.
    urls = {s.name: s.url for s in lab.specs if s.name in DATA.systems}
    settings = Settings.from_data(DATA, target="lab", lab_parsers=lab_parser_overrides(lab, DATA))
    records = [r.dump() for r in probe_all(DATA, urls, settings)]
    assert [r["system"] for r in records] == list(urls)
    for rec in records:
        c = rec["checks"]
        assert rec["verdict"] == "up", (rec["system"], rec["drift"], rec["down_reason"])
        assert rec["url"] == f"http://{DATA.systems[rec['system']].host}:8000"
        assert c["models"]["id_match"] and c["models"]["context_match"]
        assert c["metrics"]["ok"] and c["metrics"]["sources"]["kv_cache_usage_pct"]
        assert c["speed"]["decode_tokens_per_s"] > 0 and c["speed"]["tokens_counted_from"] == "usage"
        tool = c["tool_format"]
        assert tool["status"] in ("confirmed", "inconclusive") and tool["checked"], tool
        if rec["system"] not in settings.lab_parsers:
            assert tool["status"] == "confirmed", tool


@pytest.mark.lab
def test_lab_cli(lab):
    """A lab probe writes test-results/status/ by default and leaves the published status untouched."""
    before = {p: (ROOT / p).read_bytes() if (ROOT / p).exists() else None for p in published_files()}
    out = ROOT / "test-results" / "status" / "status.json"
    out.unlink(missing_ok=True)
    # The tool-format check is covered in-process above; here the command line's lab path and files.
    argv = [sys.executable, "-m", "labdocs.probe", "--target", "lab", "--lab-running", "--no-tools"]
    for s in lab.specs:
        if s.name in DATA.systems:
            argv += ["--system", s.name]
    proc = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "speed" in proc.stdout and "VERDICT" in proc.stdout and f"wrote {out}" in proc.stdout
    doc = json.loads(out.read_text())
    assert doc["target"] == "lab" and set(doc["systems"]) == {s.name for s in lab.specs if s.name in DATA.systems}
    assert load_history(out.parent / "status-history.jsonl")[-1].checked_at == doc["checked_at"]
    assert before == {p: (ROOT / p).read_bytes() if (ROOT / p).exists() else None for p in published_files()}
