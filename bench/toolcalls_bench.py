#!/usr/bin/env python3
"""Tool-call parser benchmark (`make bench-toolcalls`): the toolcalls plugin and vLLM's hermes,
qwen3_coder and qwen3_xml parsers on the same inputs; results into docs/toolcalls-benchmark.md.

Every parser runs inside the lab venv's vLLM (``ParserManager.get_parser``), with the tiny lab
model's tokenizer and real token ids, the end marked by the end-of-sequence token.

* Correctness: the conformance cases (tests/toolcalls/plugin_cases.py), whole (``Parser.parse``) and
  streamed one token per delta (``Parser.parse_delta``, the server's own path): a case is right when a
  client gets exactly the expected calls and content.
* Speed: three inputs at 64 KB, 256 KB and 1 MB, whole (``Parser.parse``) and streamed 4 tokens per
  delta (the time inside the parser's own ``extract_tool_calls_streaming``); the growth ratio from one
  size to the next (x4 in size) is ~4 for linear work and ~16 for quadratic. A run over the cap
  (``--cap``, seconds) is stopped and reported as "> cap", and larger sizes of that parser and mode
  are not tried.

Usage: python bench/toolcalls_bench.py [--cap 60] [--sizes 64,256,1024] [--no-write]
(it starts itself again in the lab venv, which has vLLM; the test venv has not).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

from labdocs.paths import ROOT
PAGE = ROOT / "docs" / "toolcalls-benchmark.md"
START, END = "<!-- bench:toolcalls:start -->", "<!-- bench:toolcalls:end -->"
PLUGIN = ROOT / "toolcalls" / "vllm_plugin.py"
CONFORMANCE = ROOT / "tests" / "toolcalls" / "vllm_conformance.py"
PARSERS = ["toolcalls", "hermes", "qwen3_coder", "qwen3_xml"]
TOKENS_PER_DELTA = 4  # about 16 characters with the lab model's tokenizer on these inputs

WRITE = [{"type": "function", "function": {"name": "write_file", "parameters": {"type": "object", "properties": {
    "path": {"type": "string"}, "content": {"type": "string"}, "mode": {"type": "integer"}}}}}]


def _module(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


# ---------------------------------------------------------------- inputs (same for every parser)
def xml_calls(size: int) -> str:
    """Many small Qwen3-Coder XML calls with a line of text between them (an agent's busy turn)."""
    unit = ("Next file.\n<tool_call>\n<function=write_file>\n<parameter=path>\nsrc/module.py\n</parameter>\n"
            "<parameter=content>\ndef f(x):\n    return {\"x\": x}\n</parameter>\n<parameter=mode>\n420\n"
            "</parameter>\n</function>\n</tool_call>\n")
    return unit * max(1, size // len(unit))


def xml_file(size: int) -> str:
    """One call whose one parameter is a large file (an agent writing a file)."""
    line = "    value = compute(alpha, beta) + {'k': [1, 2, 3]}  # <note> \"quoted\"\n"
    body = line * max(1, size // len(line))
    return ("<tool_call>\n<function=write_file>\n<parameter=path>\nsrc/big.py\n</parameter>\n"
            f"<parameter=content>\n{body}</parameter>\n</function>\n</tool_call>")


def hermes_calls(size: int) -> str:
    """Many small Hermes JSON calls with a line of text between them."""
    unit = ('Next file.\n<tool_call>\n{"name": "write_file", "arguments": {"path": "src/module.py", '
            '"content": "def f(x):\\n    return {\\"x\\": x}\\n", "mode": 420}}\n</tool_call>\n')
    return unit * max(1, size // len(unit))


INPUTS = {"Qwen3-Coder XML, many calls": xml_calls, "Qwen3-Coder XML, one 1-parameter file": xml_file,
          "Hermes JSON, many calls": hermes_calls}


# ---------------------------------------------------------------- worker (lab venv)
def _token_deltas(tok, text: str) -> list[tuple[str, list[int]]]:
    """The text as the server streams it: its real token ids, TOKENS_PER_DELTA per delta (the inputs
    are ASCII, so each token decodes on its own)."""
    ids = tok.encode(text, add_special_tokens=False)
    piece = {i: tok.decode([i]) for i in set(ids)}
    steps = []
    for k in range(0, len(ids), TOKENS_PER_DELTA):
        group = ids[k:k + TOKENS_PER_DELTA]
        steps.append(("".join(piece[i] for i in group), group))
    assert "".join(t for t, _ in steps) == text, "token deltas do not add up to the input"
    return steps


class OverCap(BaseException):
    """Not an Exception: parsers catch and log those (hermes does), which would swallow the cap."""


def _alarm(signum, frame):
    raise OverCap


def _stream_direct(tool_parser, steps, eos: int, request) -> tuple[int, float]:
    """Every delta through the parser's own extract_tool_calls_streaming (the ToolParser interface
    every server version calls). Returns the calls started and the seconds spent inside the parser:
    the interface takes the text so far at every delta, and building it (here as in the server)
    copies the whole text each time, which is the caller's cost, not the parser's."""
    previous, ids, n, own = "", [], 0, 0.0
    for delta_text, delta_ids in [*steps, ("", [eos])]:
        current = previous + delta_text
        ids.extend(delta_ids)
        t = time.process_time()
        d = tool_parser.extract_tool_calls_streaming(previous, current, delta_text, ids, ids, delta_ids, request)
        own += time.process_time() - t
        n += len([c for c in (d.tool_calls if d else []) if c.id])
        previous = current
    return n, own


def worker(args) -> int:
    from transformers import AutoTokenizer
    from vllm.parser.parser_manager import ParserManager
    from vllm.tool_parsers import ToolParserManager

    import vllm

    conf = _module(CONFORMANCE, "vllm_conformance")
    cases_mod = _module(ROOT / "tests" / "toolcalls" / "plugin_cases.py", "plugin_cases")
    ToolParserManager.import_tool_parser(str(PLUGIN))
    tok = AutoTokenizer.from_pretrained(args.tokenizer)
    _, Request, _ = conf._vllm()
    classes = {p: ParserManager.get_parser(tool_parser_name=p, enable_auto_tools=True) for p in PARSERS}
    print(json.dumps({"kind": "head", "vllm": vllm.__version__, "cpus": os.cpu_count(),
                      "machine": platform.machine(), "python": platform.python_version()}), flush=True)

    # correctness on the conformance cases
    def words(t):
        return " ".join((t or "").split()) or None

    for case_id, (tools_key, text, want_calls, want_content) in cases_mod.CASES.items():
        tools = cases_mod.TOOLS[tools_key]
        steps = conf.token_steps(text, tok)
        for p in PARSERS:
            rec = {"kind": "case", "case": case_id, "parser": p}
            for mode in ("whole", "stream"):
                try:
                    if mode == "whole":
                        calls, content = conf.whole("0.32", classes[p], tok, Request, text, tools)
                    else:
                        calls, content = conf.run_parser_layer(classes[p], tok, Request, text, tools, steps, "eos")
                    got = [(c["name"], c["arguments"]) for c in calls]
                    rec[mode] = got == [tuple(c) for c in want_calls] and words(content) == words(want_content)
                except Exception as exc:  # a parser that raises gets the case wrong
                    rec[mode], rec[f"{mode}_error"] = False, f"{type(exc).__name__}: {exc}"[:200]
            print(json.dumps(rec), flush=True)

    # speed
    signal.signal(signal.SIGALRM, _alarm)
    for label, make in INPUTS.items():
        for p in PARSERS:
            for mode in ("whole", "stream"):
                over = False
                for kb in args.sizes:
                    rec = {"kind": "time", "input": label, "parser": p, "mode": mode, "kb": kb}
                    if over:
                        rec["seconds"] = None
                        print(json.dumps(rec), flush=True)
                        continue
                    text = make(kb * 1024)
                    request = conf._request(Request, WRITE)
                    parser = classes[p](tok, request.tools)
                    steps = _token_deltas(tok, text) if mode == "stream" else None
                    signal.setitimer(signal.ITIMER_REAL, args.cap)
                    t0 = time.process_time()  # CPU time: the machine may be shared
                    try:
                        if mode == "whole":
                            _, _, calls = parser.parse(text, request, enable_auto_tools=True)
                            n = len(calls or [])
                        else:
                            n, own = _stream_direct(parser._tool_parser, steps, tok.eos_token_id, request)
                        rec["seconds"] = time.process_time() - t0 if mode == "whole" else own
                        rec["calls"] = n
                    except OverCap:
                        rec["seconds"], over = None, True
                    except Exception as exc:
                        rec["seconds"] = time.process_time() - t0
                        rec["error"] = f"{type(exc).__name__}: {exc}"[:200]
                    finally:
                        signal.setitimer(signal.ITIMER_REAL, 0)
                    rec["size"] = len(text)
                    print(json.dumps(rec), flush=True)
    return 0


# ---------------------------------------------------------------- report (test venv)
def _fmt(s):
    return "–" if s is None else (f"{s:.2f}" if s < 10 else f"{s:.0f}")


def report(lines: list[dict], cap: float, sizes: list[int]) -> str:
    head = next(r for r in lines if r["kind"] == "head")
    cases = [r for r in lines if r["kind"] == "case"]
    times = [r for r in lines if r["kind"] == "time"]
    out = [f"Measured {date.today().isoformat()} with vLLM {head['vllm']} (the lab's CPU build), "
           f"{head['cpus']} cores ({head['machine']}), Python {head['python']}; "
           f"cap {cap:g} s per run. Streamed: the input's token ids (the lab model's tokenizer, which has "
           f"`<tool_call>` and `</tool_call>` as single tokens, like Qwen3-Coder's), {TOKENS_PER_DELTA} tokens per "
           "delta for the times, 1 for the cases.", "",
           "### Correctness on the conformance cases", "",
           "Right = the client gets exactly the expected calls (names, arguments) and content "
           "(`tests/toolcalls/plugin_cases.py`).", "",
           "| Parser | Hermes JSON cases, whole | streamed | Qwen3-Coder XML cases, whole | streamed "
           "| Other cases, whole | streamed |", "|---|---|---|---|---|---|---|"]

    def group(case_id):
        return "hermes" if case_id.startswith("hermes") else "xml" if case_id.startswith("xml") else "other"

    for p in PARSERS:
        row = [f"`{p}`"]
        for g in ("hermes", "xml", "other"):
            mine = [r for r in cases if r["parser"] == p and group(r["case"]) == g]
            for mode in ("whole", "stream"):
                row.append(f"{sum(r[mode] for r in mine)} of {len(mine)}")
        out.append("| " + " | ".join(row) + " |")
    wrong = {}
    for r in cases:
        if r["parser"] != "toolcalls" and not (r["whole"] and r["stream"]):
            wrong.setdefault(r["parser"], []).append(r["case"])
    out += ["", "Cases a vLLM parser gets wrong (whole or streamed):", ""]
    for p, ids in wrong.items():
        out.append(f"- `{p}`: " + ", ".join(f"`{i}`" for i in ids))
    out += ["", "### Time", "",
            "CPU seconds of the benchmark process per message (wall-clock time would count other jobs "
            "on a shared machine; the cap is wall-clock). Whole: `Parser.parse`, as the server calls it. Streamed: the time spent "
            "inside the parser's own `extract_tool_calls_streaming` over all deltas (the caller's copies of "
            "the text so far are not counted, but count toward the cap). Growth = time "
            "at this size over time at the previous size (size x4: ~4 is linear, ~16 quadratic); "
            "\"> cap\" = stopped at the cap, larger sizes not tried.", ""]
    for label in INPUTS:
        out += [f"**{label}**", "",
                "| Parser | Mode | " + " | ".join(f"{kb} KB" for kb in sizes) + " | Growth |",
                "|---|---|" + "---|" * len(sizes) + "---|"]
        for p in PARSERS:
            for mode in ("whole", "stream"):
                rs = {r["kb"]: r for r in times if r["input"] == label and r["parser"] == p and r["mode"] == mode}
                cells, growth, prev = [], [], None
                capped = False
                for kb in sizes:
                    r = rs.get(kb, {})
                    s = r.get("seconds")
                    if s is None:
                        cells.append(f"> {cap:g} s" if not capped else "not run")
                        capped = True
                        prev = None
                        continue
                    cells.append(_fmt(s) + (" (error)" if r.get("error") else ""))
                    if prev:
                        growth.append(f"x{s / prev:.1f}")
                    prev = s
                out.append(f"| `{p}` | {'whole' if mode == 'whole' else 'streamed'} | " + " | ".join(cells)
                           + f" | {', '.join(growth) or '–'} |")
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cap", type=float, default=60.0, help="seconds per run before it is stopped")
    ap.add_argument("--sizes", default="64,256,1024", help="KB, comma-separated")
    ap.add_argument("--no-write", action="store_true", help="print the results, leave the page alone")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--tokenizer", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    args.sizes = [int(s) for s in args.sizes.split(",")]
    if args.worker:
        return worker(args)
    from labdocs.lab import lab_specs
    from labdocs.lab.servers import build_models
    from labdocs.lab.venv import ensure_venv
    from labdocs.model.loader import load

    python = ensure_venv(ROOT)
    spec = lab_specs.specs(load(), ["stella"])[0][0]
    model = build_models([spec], ROOT, python)[spec.name]
    cmd = [str(python), __file__, "--worker", "--tokenizer", model["path"], "--cap", str(args.cap),
           "--sizes", ",".join(map(str, args.sizes))]
    lines = []
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True) as proc:
        for line in proc.stdout:
            if line.startswith("{"):
                rec = json.loads(line)
                lines.append(rec)
                if rec["kind"] == "time":
                    print(f"{rec['input']:40} {rec['parser']:12} {rec['mode']:6} {rec['kb']:5} KB "
                          f"{_fmt(rec.get('seconds'))} s {rec.get('error', '')}", flush=True)
    if proc.returncode:
        raise SystemExit(f"benchmark worker failed (exit {proc.returncode})")
    section = report(lines, args.cap, args.sizes)
    print(section)
    if not args.no_write:
        from site_bench import write_results

        write_results(section.rstrip("\n"), PAGE, START, END)
        print(f"results written to {PAGE.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
