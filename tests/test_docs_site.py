"""The docs host's generated systemd unit runs the command the lab runs (labdocs/lab/docs_site.py) and the
QUICKSTART shows; systemd-analyze verifies it with every generated unit (tests/test_safe_operations.py). It serves
every address of the host: a unit that binds the host's name is refused from the workstation on a Debian host."""

from __future__ import annotations

import shlex
import shutil

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
    assert f"--directory {D.site_root}/site" in " ".join(argv) and "--bind" not in argv    # every address
    page = (ROOT / DOCS_SITE_DIR / "QUICKSTART.md").read_text()
    assert UNIT.read_text() in page                      # the page shows the file itself


def test_exec_start_takes_one_plain_line():
    import pytest

    for text in ("[Service]\n", "ExecStart=-/bin/true\n", "ExecStart=/bin/a\nExecStart=/bin/b\n"):
        with pytest.raises(ValueError, match="one plain ExecStart= line"):
            exec_start(text)


def test_a_unit_binding_the_host_name_is_refused_from_the_workstation(tmp_path):
    """The defect the generated unit no longer has: `--bind NAME` on a host whose /etc/hosts maps its own name to
    127.0.1.1 (a Debian install; the docs host's stand-in has that line) listens there only, and the workstation,
    which reaches the host's address, is refused. The generated unit, on the same stand-in, answers."""
    import os

    import pytest

    from labdocs.lab import docs_site

    if os.geteuid() != 0:
        pytest.fail("the docs host's stand-in needs root (namespaces): run the suite as root", pytrace=False)
    unit = UNIT.read_text()
    argv = exec_start(unit)
    by_name = unit.replace(shlex.join(argv), shlex.join([*argv[:3], "--bind", D.host, *argv[3:]]))
    assert by_name != unit
    top, state = ROOT / ".lab" / "docs-site-bind" / "top", ROOT / ".lab" / "docs-site-bind" / "state"
    root = top.parent
    (docs_site.site_root_in(top, D.site_root) / "site").mkdir(parents=True, exist_ok=True)
    try:
        with pytest.raises(RuntimeError, match="did not answer"):
            with docs_site.running(by_name, D.site_root, top, D.host, D.port, state, timeout=3):
                pass
        assert "Serving HTTP on 127.0.1.1" in (state / "server.log").read_text()
        with docs_site.running(unit, D.site_root, top, D.host, D.port, state, timeout=10) as served:
            assert served.url == f"http://{served.address}:{D.port}/"
    finally:
        shutil.rmtree(root, ignore_errors=True)
