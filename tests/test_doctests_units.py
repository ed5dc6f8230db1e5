"""The doc-test machinery itself: fence headers, console output matching, container unwrapping."""

from __future__ import annotations

import pytest

from labdocs.doctests import console, fences


@pytest.mark.parametrize("info,lang,attrs", [
    ("bash", "bash", {}),
    ("bash {on=stella}", "bash", {"on": "stella"}),
    ('bash {on=pegasus disruptive=true skip="needs a GPU"}', "bash", {"on": "pegasus", "disruptive": "true", "skip": "needs a GPU"}),
    ('{.bash on="pegasus" disruptive="true"}', "bash", {"on": "pegasus", "disruptive": "true"}),
    ('yaml title="~/vllm-service/docker-compose.yml"', "yaml", {"title": "~/vllm-service/docker-compose.yml"}),
])
def test_fence_headers(info, lang, attrs):
    assert fences.parse_info(info) == (lang, attrs)


@pytest.mark.parametrize("header", [
    'bash title="x" data-on="pegasus"',  # superfences renders this as inline code, not a block
    "bash {on=stella",                  # unclosed
    "bash {onn=stella}",                # typo
    "bash {disruptive=yes}",
    "bash {timeout=soon}",
])
def test_bad_fence_headers_fail_collection(header):
    with pytest.raises(fences.FenceError):
        fences.blocks("page.md", f"```{header}\ntrue\n```\n")


def test_blocks_inside_tabs_and_admonitions_keep_their_line():
    text = '=== "A"\n\n    ```bash\n    echo a\n    ```\n\n!!! note\n    ```console\n    $ echo b\n    b\n    ```\n'
    found = fences.blocks("p.md", text)
    assert [(b.line, b.lang, b.code) for b in found] == [(3, "bash", "echo a\n"), (8, "console", "$ echo b\nb\n")]


def test_console_parsing_with_continuations():
    steps = console.parse("$ echo a \\\n  b\na b\n$ true\n")
    assert [(s.command, s.expected) for s in steps] == [("echo a \n  b", ["a b"]), ("true", [])]
    assert console.render(steps) == "$ echo a \\\n  b\na b\n$ true\n"


@pytest.mark.parametrize("expected,actual,ok", [
    (["hello"], "hello\n", True),
    (["hello"], "hello world\n", False),
    (["hello ..."], "hello world\n", True),
    (["first", "...", "last"], "first\nx\ny\nlast\n", True),
    (["first", "...", "last"], "first\nlast\n", True),
    (["/models/a", "131072"], "/models/a\n204800\n", False),
    ([], "", True),
    ([], "unexpected\n", False),
])
def test_console_output_matching(expected, actual, ok):
    assert console.matches(expected, actual) is ok


def test_console_needs_a_prompt():
    with pytest.raises(ValueError):
        console.parse("output without a command\n")


def test_update_rewrites_shown_output_in_a_hand_written_page(tmp_path):
    from labdocs.doctests import rendered

    page = tmp_path / "guide.md"
    page.write_text("Intro\n\n1. Step:\n\n    ```console\n    $ echo hi\n    old output\n    ```\n")
    block = fences.blocks("guide.md", page.read_text())[0]
    steps = console.parse(block.code)
    steps[0].expected = ["hi"]
    rendered.update_console(block, console.render(steps), root=tmp_path)
    assert page.read_text() == "Intro\n\n1. Step:\n\n    ```console\n    $ echo hi\n    hi\n    ```\n"


def test_update_refuses_generated_pages(tmp_path):
    from labdocs.doctests import rendered

    page = tmp_path / "gen.md"
    page.write_text("<!-- DO NOT EDIT: generated from data/systems.yaml -->\n```console\n$ echo hi\nx\n```\n")
    block = fences.blocks("gen.md", page.read_text())[0]
    with pytest.raises(rendered.NotUpdatable, match="templates/"):
        rendered.update_console(block, "$ echo hi\nhi\n", root=tmp_path)


def _raised(call) -> BaseException:
    try:
        call()
    except Exception as exc:  # the exception is the subject here
        return exc
    raise AssertionError("the call did not fail")


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]        # closed again when the block ends: nothing listens there


HOSTS = {"pegasus.home.arpa", "stella.home.arpa"}


def test_a_python_block_that_cannot_connect_names_its_host():
    """Real failures from the SDK the pages use: the socket's refusal, wrapped by httpx and openai."""
    from openai import OpenAI

    from labdocs.doctests.run import why_unreachable_python

    url = f"http://127.0.0.1:{_closed_port()}/v1"
    exc = _raised(lambda: OpenAI(base_url=url, api_key="x", max_retries=0).models.list())
    code = 'client = OpenAI(base_url="http://stella.home.arpa:8000/v1", api_key="not-needed")\n'
    assert why_unreachable_python(code, exc, HOSTS) == (
        "could not reach stella.home.arpa: connection refused (APIConnectionError)")


def test_a_python_block_whose_host_does_not_resolve_says_so():
    import httpx

    from labdocs.doctests.run import why_unreachable_python

    exc = _raised(lambda: httpx.get("http://labdocs-test.invalid:8000/v1/models", timeout=5))  # RFC 6761
    why = why_unreachable_python("httpx.get('http://pegasus.home.arpa:8000/v1/models')\n", exc, HOSTS)
    assert why == "could not reach pegasus.home.arpa: could not resolve the host name (ConnectError)"


def test_other_python_block_failures_are_not_called_unreachable():
    from labdocs.doctests.run import why_unreachable_python

    def check():
        assert ["a"] == ["b"]

    assert why_unreachable_python("assert models == [...]\n", _raised(check), HOSTS) is None


# --- the evaluator chain (labdocs/doctests/session.py, evaluators.py) ----------------------------

CHAIN_PAGE = """```bash {skip="why"}
true
```

```bash {on=stella disruptive=true}
docker compose restart
```

```bash {needs=stella}
scp a stella-llm:
```

```console
$ echo a
a
```
"""


def _chosen(session) -> list[str]:
    return [session.evaluator_for(b).name for b in fences.blocks("p.md", CHAIN_PAGE)]


def _session(*args, procedure_pages=(), **kwargs):
    """A session whose procedure pages are given (computing them builds the site)."""
    from labdocs.doctests.session import DocSession

    session = DocSession(*args, **kwargs)
    session.procedure_pages = list(procedure_pages)
    return session


def test_each_target_has_its_chain_of_evaluators():
    from labdocs.doctests.session import DocSession, Options

    assert _chosen(_session(Options("lab"))) == ["skip", "static", "static", "workstation"]
    # a page with blocks on a host stand-in runs as a procedure, every block but a skip
    assert _chosen(_session(Options("lab"), procedure_pages=["p.md"])) == ["skip", "procedure", "procedure",
                                                                          "procedure"]
    assert _chosen(DocSession(Options("live"))) == ["skip", "disruptive", "workstation", "workstation"]
    assert _chosen(DocSession(Options("live", allow_disruptive=True))) == ["skip", "on-hosts", "workstation",
                                                                            "workstation"]


def test_a_registered_evaluator_takes_its_blocks_before_the_built_in_ones():
    from labdocs.doctests.evaluators import OnHosts
    from labdocs.doctests.session import Options

    host = OnHosts(fixture="standin_target", marks=("lab",), name="host")
    session = _session(Options("lab"), registered=lambda: [host])
    assert _chosen(session) == ["skip", "host", "static", "workstation"]  # a skip stays a skip


PROCEDURE_PAGE = """```bash
echo one > step-1
```

```bash
test -f step-1 && false
```

```console
$ cat step-1
one
```
"""


def test_a_procedure_runs_its_page_in_order_and_a_block_after_a_failure_is_not_reached(tmp_path):
    """procedure.Procedures on a page of three workstation blocks (run by bash in tmp_path, no stand-in):
    asking for the last block runs the first two before it; the second fails, the third is not reached."""
    from types import SimpleNamespace

    from labdocs.doctests.procedure import PageRun, Procedures
    from labdocs.doctests.session import DocSession

    blocks = fences.blocks("p.md", PROCEDURE_PAGE)
    procedures = Procedures(DocSession(), SimpleNamespace(lab=SimpleNamespace(wrap=list), systems={}, systemd=frozenset()), tmp_path)
    procedures.runs["p.md"] = PageRun("p.md", blocks)
    last = procedures.run_to(blocks[2])
    first, second = (procedures.runs["p.md"].steps[b.id] for b in blocks[:2])
    assert (first.kind, first.failure) == ("workstation", None) and (tmp_path / "step-1").exists()
    assert second.failure.startswith(f"p.md:{blocks[1].line}: exit status 1, expected 0")
    assert last.failure.startswith(f"p.md:{blocks[2].line}: not reached: p.md:{blocks[1].line} failed\n")
    assert procedures.run_page("p.md").failed == blocks[1]          # each block ran once: nothing runs again


def test_the_report_counts_where_blocks_ran_and_the_static_fraction():
    from labdocs.doctests.report import Report

    report = Report()
    for page, kinds in {"a.md": ["host", "workstation", "static", "skipped", "refused"],
                        "b.md": ["workstation"]}.items():
        for i, kind in enumerate(kinds):
            report.add_found(page)
            report.record(page, kind, f"{page}:{i + 1}", f"why {i + 1}" if kind != "host" else "")
    lines = report.lines("lab")
    assert lines[0].endswith("1 host, 2 workstation, 1 refused, 1 static, 1 skipped, 0 failed of 6 found")
    assert lines[2].split() == ["a.md", "5", "1", "1", "1", "1", "1", "0"]
    assert "static only: 1 of 6 runnable blocks found (17%)" in lines      # a refused check ran: not static
    assert lines[-3:] == ["refused a.md:5: why 5", "static a.md:3: why 3", "skipped a.md:4: why 4"]
    with pytest.raises(ValueError, match="a.md:9: unknown report kind 'executed'"):
        report.record("a.md", "executed", "a.md:9")


def test_the_plugin_asks_other_plugins_for_evaluators(tmp_path):
    """The seam as another plugin uses it: a conftest implementing pytest_labdocs_evaluators, in a pytest
    session of its own (nothing is built: the chain needs no pages)."""
    import subprocess
    import sys
    import textwrap

    (tmp_path / "conftest.py").write_text(textwrap.dedent("""
        from labdocs.doctests.evaluators import Workstation

        def pytest_labdocs_evaluators(config, target):
            return [Workstation(fixture="other_target", name=f"mine-{target}")]
    """))
    (tmp_path / "test_seam.py").write_text(textwrap.dedent("""
        def test_chain(doc_session):
            assert [e.name for e in doc_session.evaluators] == ["skip", "mine-lab", "procedure", "static",
                                                                "workstation"]
            assert not doc_session.built
    """))
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "labdocs.doctests.plugin", "-p",
                             "no:cacheprovider", str(tmp_path)], cwd=tmp_path, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout


def test_the_doc_test_module_builds_nothing_at_import():
    """The site is built when the blocks are collected, never when tests/test_doc_blocks.py is imported
    (it used to run a whole `mkdocs build` there, for any test session that imported it)."""
    import subprocess
    import sys

    from conftest import ROOT

    # Any process started while the module loads (mkdocs build is one) fails the import.
    code = ("import runpy, subprocess\n"
            "def refuse(*args, **kwargs):\n    raise SystemExit(f'a process started at import: {args[:1]}')\n"
            "subprocess.run = subprocess.Popen = refuse\n"
            "runpy.run_path('tests/test_doc_blocks.py')\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def _pages_blocks(*pages: str) -> list[fences.Block]:
    from labdocs.paths import ROOT

    return [b for page in pages for b in fences.blocks(page, (ROOT / page).read_text()) if b.lang in fences.RUNNABLE]


def test_checks_for_what_a_stand_in_is_not_are_refusals_and_actions_stay_static():
    """The published checks for a GPU, the NVIDIA runtime and the NFS mount run on a stand-in and must be
    refused there; mounting, building and GPU containers are actions, which stay static."""
    from labdocs.doctests import host_blocks
    from labdocs.model.loader import load

    data = load()
    blocks = _pages_blocks("systems/pegasus/QUICKSTART.md", "vllm-gb10/SETUP.md")
    refused = {b.code.split()[0] + (" | grep nvidia" if "grep" in b.code and "nvidia" in b.code else ""):
               host_blocks.refusal(b, data).lacks for b in blocks if host_blocks.refusal(b, data)}
    assert refused == {"nvidia-smi": "no GPU (no `nvidia-smi`)", "findmnt": "no nfs4 mount at /mnt/models",
                       "docker | grep nvidia": "no NVIDIA container runtime"}
    count = sum(1 for b in blocks if host_blocks.refusal(b, data))
    assert count == 7, [b.id for b in blocks if host_blocks.refusal(b, data)]   # 3 + the boot check; SETUP's 3
    actions = [b for b in blocks if any(s in b.code for s in ("--gpus all", "./build.sh 2>&1", "./run.sh --port"))]
    assert len(actions) == 3 and not any(host_blocks.refusal(b, data) for b in actions)
    assert all(host_blocks.static_reason(b, data) for b in actions)


@pytest.mark.parametrize("code,returncode,stderr,problem", [
    ("nvidia-smi -L", 127, "bash: line 1: nvidia-smi: command not found\n", None),
    ("nvidia-smi -L || true", 0, "", "passed on a host stand-in with no GPU"),
    ("nvidia-smi -L", 1, "", "exit status 1, expected 127 saying 'nvidia-smi: command not found'"),
    ("nvidia-smi -L", None, "", "killed at its timeout"),
])
def test_a_refusal_is_the_check_failing_as_on_a_host_without_it(code, returncode, stderr, problem):
    from labdocs.doctests import host_blocks
    from labdocs.doctests.run import Outcome

    refusal = host_blocks.Refusal("no GPU", 127, "nvidia-smi: command not found")
    found = refusal.problem(Outcome(["bash"], returncode, "", stderr, 0.1))
    assert (found is None) if problem is None else (problem in found), found


def test_a_gpu_check_that_cannot_fail_is_caught_by_running_it(tmp_path):
    """Run for real on this machine (no GPU, no nvidia-smi, as a stand-in): the page's check is refused; the same
    check made unable to fail (`|| true`) passes here, which is the failure the evaluator reports."""
    from labdocs.doctests import host_blocks
    from labdocs.model.loader import load

    data = load()
    check = next(b for b in _pages_blocks("vllm-gb10/SETUP.md") if b.code.startswith("nvidia-smi"))
    target = host_blocks.HostTarget(lambda argv: argv, tmp_path)
    assert host_blocks.run(check, target, None, host_blocks.refusal(check, data)).ok
    weak = fences.Block(check.page, check.line, "bash", check.code.rstrip() + " || true\n", {"on": "pegasus"})
    result = host_blocks.run(weak, target, None, host_blocks.refusal(weak, data))
    assert not result.ok and result.problem.startswith("passed on a host stand-in with no GPU"), result.problem
