"""The doc-test machinery itself: fence headers, console output matching, container unwrapping."""

from __future__ import annotations

import pytest

from doctests import console, fences


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
