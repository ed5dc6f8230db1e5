"""test-results/verified.json: one model (labdocs/observed/verified.py) for the doc-test run that writes
it and the site hook that reads it."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from labdocs.doctests.report import Report
from labdocs.observed.verified import Run, Verified, VerifiedInvalid, digest


def test_what_the_run_writes_the_site_reads(tmp_path):
    path = tmp_path / "verified.json"
    report = Report()
    for kind in ("host", "workstation", "static", "skipped"):
        report.record("docs/index.md", kind)
    report.record("docs/status.md", "failed")
    report.record("README.md", "workstation")            # not a site page: not written
    uris = {"docs/index.md": "index.md", "docs/status.md": "status.md"}
    texts = {"docs/index.md": "# Home\n", "docs/status.md": "# Status\n"}
    report.write_verified(path, "lab", texts, uris, "2026-12-02")
    report.write_verified(path, "live", {"docs/index.md": "# Home\n"}, uris, "2026-12-01")

    pages = Verified.load(path).pages
    assert set(pages) == {"index.md", "status.md"}
    assert pages["index.md"]["lab"] == Run(date=dt.date(2026, 12, 2), passed=3, failed=0, skipped=1,
                                           sha256=digest("# Home\n"))
    assert pages["index.md"]["live"].date == dt.date(2026, 12, 1)   # the other target's entry is kept
    assert pages["status.md"]["lab"].failed == 1
    assert json.loads(path.read_text())["format"] == 1


@pytest.mark.parametrize(("doc", "where", "why"), [
    ({"format": 2, "pages": {}}, "format", 'expected {"format": 1'),
    ({"format": 1, "pages": {"a.md": {"lab": {"date": "yesterday", "sha256": "0" * 64}}}},
     "pages.a.md.lab.date", "'yesterday' is not a YYYY-MM-DD date"),
    ({"format": 1, "pages": {"a.md": {"lab": {"date": "2026-12-02", "passed": -1, "sha256": "0" * 64}}}},
     "pages.a.md.lab.passed", "-1 is not a count"),
    ({"format": 1, "pages": {"a.md": {"lab": {"date": "2026-12-02", "sha256": "xyz"}}}},
     "pages.a.md.lab.sha256", "expected the hex SHA-256"),
])
def test_a_malformed_file_names_the_place_and_the_problem(tmp_path, doc, where, why):
    path = tmp_path / "verified.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(VerifiedInvalid) as err:
        Verified.load(path)
    assert f"{path}: {where}: {why}" in str(err.value)


def test_the_writer_starts_over_on_an_unreadable_file(tmp_path):
    path = tmp_path / "verified.json"
    path.write_text("{not json")
    assert Verified.load_or_new(path) == Verified()
