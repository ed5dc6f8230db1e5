"""The docs host's generated systemd unit runs the command the lab runs (labdocs/lab/docs_site.py) and the
QUICKSTART shows; systemd-analyze verifies it with every generated unit (tests/test_safe_operations.py)."""

from __future__ import annotations

from conftest import ROOT
from labdocs.lab.docs_site import exec_start
from labdocs.model.loader import load
from labdocs.render.views import DOCS_SITE_DIR, DOCS_SITE_UNIT, docs_site_serve_argv

DATA = load()
D = DATA.docs_site
UNIT = ROOT / DOCS_SITE_UNIT


def test_the_unit_runs_the_documented_server():
    argv = exec_start(UNIT.read_text())
    assert argv == docs_site_serve_argv(DATA)
    assert argv[:3] == [D.python, "-m", "http.server"] and argv[-1] == str(D.port)
    assert f"--bind {D.host} --directory {D.site_root}/site" in " ".join(argv)
    page = (ROOT / DOCS_SITE_DIR / "QUICKSTART.md").read_text()
    assert UNIT.read_text() in page                      # the page shows the file itself


def test_exec_start_takes_one_plain_line():
    import pytest

    for text in ("[Service]\n", "ExecStart=-/bin/true\n", "ExecStart=/bin/a\nExecStart=/bin/b\n"):
        with pytest.raises(ValueError, match="one plain ExecStart= line"):
            exec_start(text)
