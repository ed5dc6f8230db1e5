"""YAML that tries to hang, exhaust or crash the reader: every case ends in well under a second of CPU
and 200 MB, exits 2 and names file:line (and column) with a hint, never a traceback.

Each case runs the real command line in a subprocess under resource limits (RLIMIT_CPU 1 s, RLIMIT_AS
200 MB): a case that overran would be killed by the kernel, not timed by a clock, so a busy machine
cannot make it flaky. The measured CPU time and peak memory of every run are asserted too.
"""

from __future__ import annotations

import os
import re
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT

VALID = (ROOT / "data" / "systems.yaml").read_text(encoding="utf-8")
CPU_LIMIT_S = 1
MEMORY_LIMIT = 200 * 2**20
ERROR_LINE = re.compile(r"^(?P<file>[^:\n]+\.yaml):(?P<line>\d+)(?::(?P<col>\d+))?: \S")


def _laughs(levels: int, width: int, flow: bool) -> str:
    """The 'billion laughs': each level an anchored list of `width` aliases to the level below."""
    if flow:
        lines = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
        lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * width)}]" for i in range(1, levels)]
    else:
        lines = ["a0: &a0", *(["  - lol"] * width)]
        for i in range(1, levels):
            lines += [f"a{i}: &a{i}", *([f"  - *a{i - 1}"] * width)]
    return "\n".join(lines) + "\n"


def _merge_bomb(levels: int) -> str:
    lines = ["m0: &m0 {a: 1, b: 2, c: 3, d: 4, e: 5, f: 6, g: 7, h: 8}"]
    lines += [f"m{i}: &m{i} {{x: *m{i - 1}, y: *m{i - 1}, z: *m{i - 1}, w: *m{i - 1}}}" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


def _in_valid(old: str, new: str) -> str:
    assert old in VALID, old
    return VALID.replace(old, new, 1)


def _lines(lines) -> bytes:
    """Whole lines up to 1 MB."""
    out = "\n".join(lines)[: 2**20 - 1]
    return (out[: out.rindex("\n")] + "\n").encode()


CASES: dict[str, bytes] = {
    # aliases
    "self-alias": b"a: &a [*a]\n",
    "self-alias-mapping": b"a: &a {b: *a}\n",
    "self-alias-merge": b"a: &a\n  <<: *a\n",
    "alias-bomb-flow": _laughs(10, 9, flow=True).encode(),
    "alias-bomb-block": _laughs(9, 9, flow=False).encode(),
    "alias-bomb-merge": _merge_bomb(14).encode(),
    "alias-bomb-in-data": (_laughs(10, 9, flow=True) + VALID).encode(),
    "undefined-alias": b"lab: *nowhere\n",
    # depth
    "deep-flow-brackets": b"a: " + b"[" * 20000 + b"]" * 20000 + b"\n",
    "deep-flow-braces": b"a: " + b"{b: " * 5000 + b"1" + b"}" * 5000 + b"\n",
    "deep-block": "".join(f"{'  ' * i}k{i}:\n" for i in range(700)).encode(),
    "deep-unclosed": b"a: " + b"[" * 100000,
    # encodings and characters
    "undecodable-byte": VALID.replace("name: Stella\n", "name: St\xffella\n", 1).encode("latin-1", "replace"),
    "undecodable-lone-surrogate": VALID.encode().replace(b"name: Stella", b"name: St\xed\xa0\x80lla", 1),
    "utf-16": VALID.encode("utf-16"),
    "nul": _in_valid("name: Stella\n", "name: St\x00ella\n").encode(),
    "bel": _in_valid("name: Stella\n", "name: St\x07ella\n").encode(),
    "escape-sequence": _in_valid("name: Stella\n", "name: \x1b[2JStella\n").encode(),
    "noncharacter": _in_valid("name: Stella\n", "name: Stella\ufffe\n").encode(),
    # tags and scalars
    "tagged-int-abc": _in_valid("    port: 8000\n", "    port: !!int abc\n").encode(),
    "tagged-float-abc": _in_valid("      minutes: 2 ", "      minutes: !!float abc ").encode(),
    "tagged-bool-maybe": _in_valid("      trust-remote-code: true\n", "      trust-remote-code: !!bool maybe\n").encode(),
    "tagged-null-x": _in_valid("    port: 8000\n", "    port: !!null x\n").encode(),
    "tag-binary": _in_valid("name: Stella\n", "name: !!binary U3RlbGxh\n").encode(),
    "tag-set": _in_valid("name: Stella\n", "name: !!set {a, b}\n").encode(),
    "tag-omap": _in_valid("name: Stella\n", "name: !!omap [a: 1]\n").encode(),
    "tag-python-object": _in_valid("name: Stella\n", "name: !!python/object/apply:os.system [id]\n").encode(),
    "tag-local": _in_valid("name: Stella\n", "name: !env HOME\n").encode(),
    "date-where-text": _in_valid("name: Stella\n", "name: 2026-12-02\n").encode(),
    "datetime-where-text": _in_valid("      date: \"2026-01-22\"\n", "      date: 2026-12-02 10:00:00\n").encode(),
    "tagged-timestamp-junk": _in_valid("name: Stella\n", "name: !!timestamp soon\n").encode(),
    "int-5000-digits": _in_valid("    port: 8000\n", "    port: " + "9" * 5000 + "\n").encode(),
    "int-hex-huge": _in_valid("    context_length: 204800\n", "    context_length: 0x" + "f" * 400 + "\n").encode(),
    "int-64-bit": _in_valid("    context_length: 204800\n", "    context_length: 9223372036854775808\n").encode(),
    "float-overflow": _in_valid("      minutes: 2 ", "      minutes: 1e400 ").encode(),
    "float-inf-minutes": _in_valid("      minutes: 2 ", "      minutes: .inf ").encode(),
    "float-nan-fraction": _in_valid("gpu-memory-utilization: 0.90", "gpu-memory-utilization: .nan").encode(),
    # document shape
    "empty-file": b"",
    "only-comment": b"# nothing\n",
    "two-documents": b"lab: 1\n---\nlab: 2\n",
    "top-level-list": b"- lab\n- systems\n",
    "top-level-scalar": b"just text\n",
    "unhashable-key": b"? [a, b]\n: c\n",
    "duplicate-key-deep": _in_valid("    port: 8000\n", "    port: 8000\n    port: 8001\n").encode(),
    "syntax-error-late-in-1mb": b"# " + b"x" * (2**20 - 100) + b"\nlab: [\n",
    "one-mb-scalar": b"lab:\n  name: " + b"x" * (2**20 - 20) + b"\n",
    "many-keys": _lines(f"k{i}: {i}" for i in range(90000)),
    "many-anchors": _lines(f"k{i}: &a{i} {i}" for i in range(60000)),
    "many-list-items": _lines(f"- {i}" for i in range(200000)),
    "many-aliases": b"a: &a x\nb: [" + b", ".join([b"*a"] * 200000)[:2**20 - 20] + b"]\n",
}


def run_limited(data: Path, command: str, out: Path) -> tuple[int, str, float, int]:
    """(exit code or -signal, stderr, CPU seconds, peak RSS bytes) of one CLI run under the limits."""
    def limits():
        resource.setrlimit(resource.RLIMIT_CPU, (CPU_LIMIT_S, CPU_LIMIT_S + 1))
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))

    err_path = out.parent / f"{out.name}.stderr"
    with open(err_path, "wb") as err:
        proc = subprocess.Popen([sys.executable, "-m", "labdocs.render", command, "--data", str(data), "--out", str(out)],
                                cwd=ROOT, stdout=subprocess.DEVNULL, stderr=err, preexec_fn=limits,
                                env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, err_path.read_text(errors="replace"), usage.ru_utime + usage.ru_stime, usage.ru_maxrss * 1024


def test_cases_stay_within_one_megabyte():
    assert all(len(text) <= 2**20 for text in CASES.values()), [k for k, v in CASES.items() if len(v) > 2**20]
    assert len(CASES) >= 40


@pytest.mark.parametrize("command", ["validate", "generate"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_yaml_trick_is_refused_quickly_and_clearly(name: str, command: str, tmp_path: Path):
    data = tmp_path / f"{name}.yaml"
    data.write_bytes(CASES[name])
    out = tmp_path / "out"
    out.mkdir()
    code, stderr, cpu_s, peak = run_limited(data, command, out)
    print(f"{name} {command}: exit {code}, {cpu_s:.2f} s CPU, {peak / 2**20:.0f} MB")
    assert code == 2, f"exit {code} (negative: killed by a resource limit)\n{stderr[-2000:]}"
    assert "Traceback" not in stderr and "internal error" not in stderr, stderr[-2000:]
    first = stderr.splitlines()[0]
    match = ERROR_LINE.match(first)
    assert match and match["file"] == str(data), first
    assert "\n  hint: " in stderr, stderr
    assert cpu_s < CPU_LIMIT_S and peak < MEMORY_LIMIT
    assert not any(out.iterdir()), "nothing may be written for a refused file"


def test_mkdocs_serve_hook_reports_instead_of_hanging(repo_copy: Path):
    """`mkdocs serve` regenerates on every save through labdocs/docsite/hooks/main.py: a self-referencing alias
    used to hang it. Now the rebuild fails at once with the data error (mkdocs prints a PluginError
    as one message and keeps watching)."""
    (repo_copy / "data" / "systems.yaml").write_bytes(CASES["self-alias"] + VALID.encode())
    code = ("import sys; from labdocs.docsite.hooks import main as hooks; from mkdocs.exceptions import PluginError\n"
            "hooks.on_startup('serve', False)\n"
            "try:\n    hooks.on_pre_build(None)\nexcept PluginError as exc:\n    print(exc); sys.exit(3)\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=repo_copy, capture_output=True, text=True, timeout=60)
    assert result.returncode == 3, result.stdout + result.stderr
    assert "data/systems.yaml:1:8: alias *a refers to the node that contains it" in result.stdout, result.stdout
