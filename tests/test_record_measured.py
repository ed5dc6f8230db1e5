"""`make status TARGET=live` writes a newer measured decode speed, with its host and date, into the data:
on a copy, the figure and its source change, comments survive, and the result validates. The lab's
tiny CPU models never write into the repository's own data file."""

from __future__ import annotations

import datetime
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT
from labdocs.model.loader import load
from labdocs.observed.records import SystemRecord
from labdocs.probe.record import COMMITTED_DATA, measured_speeds, record


def _copy(tmp_path: Path) -> Path:
    path = tmp_path / "systems.yaml"
    shutil.copy(ROOT / "data" / "systems.yaml", path)
    return path


def test_newer_measurement_replaces_the_figure_and_names_its_source(tmp_path):
    path = _copy(tmp_path)
    changed = record(path, {"pegasus": 33.1, "stella": 61.5}, datetime.date(2026, 12, 2), "live")
    assert len(changed) == 2, changed
    data = load(path)
    for key, value in (("pegasus", 33.1), ("stella", 61.5)):
        speed = data.systems[key].speed
        assert speed.decode_tokens_per_s == value and speed.source == f"{key}-probe-2026-12-02"
        measured = data.sources[speed.source].measured
        assert (measured.host, measured.date) == (data.systems[key].host, datetime.date(2026, 12, 2))
    text = path.read_text()
    assert "# The lab's single source of truth." in text and "# what pegasus runs" in text  # comments kept


def test_an_older_measurement_leaves_the_figure(tmp_path):
    path = _copy(tmp_path)
    before = path.read_bytes()
    assert record(path, {"pegasus": 20.0}, datetime.date(2026, 1, 1), "live") == []
    assert path.read_bytes() == before


def test_lab_measurements_never_go_into_the_committed_data():
    before = COMMITTED_DATA.read_bytes()
    with pytest.raises(ValueError, match="never replace"):
        record(COMMITTED_DATA, {"stella": 1.0}, datetime.date(2026, 12, 2), "lab")
    result = subprocess.run([sys.executable, "-m", "labdocs.probe", "--target", "lab", "--lab-running", "--no-write",
                             "--record-measured", str(COMMITTED_DATA)], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 2 and "never replace" in result.stderr, result.stderr
    assert COMMITTED_DATA.read_bytes() == before


def test_only_measurements_of_the_documented_model_count():
    records = [
        {"system": "a", "checks": {"speed": {"ok": True, "decode_tokens_per_s": 41.27}, "models": {"id_match": True}}},
        {"system": "b", "checks": {"speed": {"ok": True, "decode_tokens_per_s": 50.0}, "models": {"id_match": False}}},
        {"system": "c", "checks": {"speed": {"ok": False, "decode_tokens_per_s": None}, "models": {"id_match": True}}},
    ]
    assert measured_speeds([SystemRecord.model_validate(r) for r in records]) == {"a": 41.3}


@pytest.mark.lab
def test_the_probe_records_the_labs_measurement_into_a_copy(lab, tmp_path):
    path = _copy(tmp_path)
    before = COMMITTED_DATA.read_bytes()
    result = subprocess.run(
        [sys.executable, "-m", "labdocs.probe", "--target", "lab", "--lab-running", "--system", "stella", "--no-tools",
         "--out", str(tmp_path / "status.json"), "--history", str(tmp_path / "history.jsonl"),
         "--record-measured", str(path)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert "systems.stella.speed.decode_tokens_per_s: None ->" in result.stdout, result.stdout + result.stderr
    stella = load(path).systems["stella"]
    assert stella.speed.decode_tokens_per_s > 0
    assert stella.speed.source == f"stella-probe-{datetime.date.today().isoformat()}"
    assert COMMITTED_DATA.read_bytes() == before
