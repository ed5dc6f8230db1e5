"""The probe's records as files (labdocs/observed/records.py): a status.json written by an older version
still reads (and writes back unchanged); a malformed status or history file fails naming file, line and key.

tests/status/ holds the files the first version of the probe committed (614a914, a lab run) as they were.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import macros_cli
from labdocs.observed.records import HistoryLine, Status, StatusInvalid
from labdocs.observed.status import observed_at, observed_rows, system_badge
from labdocs.model.loader import load

HERE = Path(__file__).parent / "status"
OLD_STATUS, OLD_HISTORY = HERE / "status-614a914.json", HERE / "status-history-614a914.jsonl"
DATA = load()


def test_a_status_from_the_first_version_reads_and_writes_back_byte_for_byte(tmp_path):
    status = Status.load(OLD_STATUS)
    assert status.target == "lab" and list(status.systems) == ["pegasus", "stella"]
    pegasus = status.systems["pegasus"]
    assert pegasus.verdict == "up" and pegasus.checks.speed.decode_tokens_per_s == 41.88
    assert pegasus.checks.tool_format.observations.forced("qwen3-xml").outcome == "content"
    status.write(tmp_path / "status.json")
    assert (tmp_path / "status.json").read_bytes() == OLD_STATUS.read_bytes()
    [line] = HistoryLine.load_all(OLD_HISTORY)
    assert line.line() + "\n" == OLD_HISTORY.read_text()


def test_an_older_status_without_the_newer_keys_still_renders():
    """Before f721bf1 a record had no started_at and the document no run_url: the run's time is shown."""
    raw = json.loads(OLD_STATUS.read_text())
    raw["target"] = "live"
    for rec in raw["systems"].values():
        del rec["started_at"], rec["checks"]["metrics"]
    status = Status.model_validate(raw)
    assert status.run_url is None and observed_at(status, "pegasus") == "2026-11-25T01:25:21Z"
    assert "up, 2026-11-25 01:25 UTC" in system_badge("pegasus", status)
    rows = {r.key: r for r in observed_rows(DATA, status)}
    assert rows["pegasus"].probed and rows["pegasus"].model_id == "matches" and rows["pegasus"].drift == "none"
    assert rows["pegasus"].decode == "42 tok/s" and rows["pegasus"].ttft == "1.23 s"


@pytest.mark.parametrize("change, where, why", [
    (lambda d: d["systems"]["pegasus"]["checks"]["health"].update(latency_ms="fast"),
     "systems.pegasus.checks.health.latency_ms", "'fast'"),
    (lambda d: d["systems"]["stella"].update(verdict_reason="x"), "systems.stella.verdict_reason",
     "no such key in this format"),
    (lambda d: d.pop("target"), "target", "Field required"),
    (lambda d: d["systems"]["stella"]["drift"].append({"kind": "speed"}), "systems.stella.drift.0.message",
     "Field required"),
    (lambda d: d.update(systems=[]), "systems", "valid dictionary"),
])
def test_a_malformed_status_names_file_and_key(tmp_path, change, where, why):
    raw = json.loads(OLD_STATUS.read_text())
    change(raw)
    path = tmp_path / "status.json"
    path.write_text(json.dumps(raw))
    with pytest.raises(StatusInvalid) as err:
        Status.load(path)
    assert str(err.value).startswith(f"{path}: {where}: "), err.value
    assert why in str(err.value) and "labdocs/observed/records.py" in str(err.value)


@pytest.mark.parametrize("text, message", [
    ("{\"checked_at\": ", "data/status.json: top level: not JSON: "),
    ("[]", "data/status.json: top level: expected an object, found list"),
    ('{"checked_at": "2026-12-02T03:00:00Z", "target": "live", "systems": {"pegasus": {"system": "pegasus", '
     '"checks": {"speed": {"ttft_s": [1]}}}}}', "data/status.json: systems.pegasus.checks.speed.ttft_s: "),
])
def test_the_generator_refuses_a_malformed_status_naming_file_and_key(repo_copy: Path, text, message):
    (repo_copy / "data" / "status.json").write_text(text)
    before = (repo_copy / "STATUS.md").read_text()
    result = macros_cli("generate", cwd=repo_copy)
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert "restore it from git, or remove it" in result.stderr
    assert (repo_copy / "STATUS.md").read_text() == before           # nothing half-written


def test_a_malformed_history_line_names_its_number(tmp_path):
    path = tmp_path / "history.jsonl"
    good = OLD_HISTORY.read_text()
    path.write_text(good + "{cut short\n" + good.replace('"ttft_s":0.0978', '"ttft_s":"slow"'))
    with pytest.raises(StatusInvalid) as err:
        HistoryLine.load_all(path)
    assert str(err.value).startswith(f"{path}:3: systems.stella.ttft_s: "), err.value
    path.write_text(good + "{cut short\n" + good)         # a line that is not JSON is skipped, as before
    assert len(HistoryLine.load_all(path)) == 2
