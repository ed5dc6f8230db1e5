"""python -m labdocs.probe: probe the systems, print progress and a table, write status.json and the history.

Exit status: 0 when every probed system is up and as declared, 1 when any is down or drifts,
2 for a usage or data error.

Where it writes: --target live (the real hosts) writes the published data/status.json and its history;
--target lab writes test-results/status/ and refuses the published paths, so a lab run never shows up
as the lab's status. Under CI (GITHUB_ACTIONS=true, as GitHub, Forgejo and Gitea runners set) each
down or drifting system is also printed as an `::error` workflow command naming the system and the fact.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path

from labdocs.observed.records import (HealthCheck, ModelsCheck, SpeedCheck, SystemRecord, ToolFormatCheck,
                                      VersionCheck)
from labdocs.paths import DEFAULT_DATA, ROOT


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="python -m labdocs.probe",
        description="Probe the documented systems (vLLM or llama.cpp's llama-server) concurrently (health, "
                    "version, models, /props, metrics, decode speed, tool-call format) and record their observed "
                    "status.")
    ap.add_argument("--target", choices=["lab", "live"], default="live",
                    help="live: the documented http://HOST:PORT (default); lab: start the loopback lab "
                         "(real vLLM CPU servers and llama-server builds, tiny models) and probe it")
    ap.add_argument("--system", action="append", default=[], metavar="ID",
                    help="probe only this system (repeatable)")
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the lab's data file")
    ap.add_argument("--out", type=Path, help="status document to write (default: data/status.json for live, "
                                             "test-results/status/status.json for the lab)")
    ap.add_argument("--history", type=Path, help="history file, one JSON line per run (default: beside "
                                                 "--out's default, status-history.jsonl)")
    ap.add_argument("--keep", type=int, default=500, help="runs kept in the history (default %(default)s)")
    ap.add_argument("--no-write", action="store_true", help="print only; write neither file")
    ap.add_argument("--timeout", type=float, help="per-request timeout, s (default: the data's probe.timeout_s)")
    ap.add_argument("--compare-speed", action=argparse.BooleanOptionalAction, default=None,
                    help="compare speed and TTFT with the documented figures (default: on for live, off for "
                         "the lab, whose tiny CPU models say nothing about the hardware)")
    ap.add_argument("--no-tools", action="store_true", help="skip the tool-call format check")
    ap.add_argument("--record-measured", type=Path, metavar="DATA",
                    help="write each newer measured decode speed, with its host and date as its source, into "
                         "this data file (make status TARGET=live: data/systems.yaml; the lab's never go there)")
    ap.add_argument("--lab-running", action="store_true",
                    help="with --target lab: the lab is already up (make lab-up); probe it, do not start one")
    return ap


def _mark(name: str, rec) -> str:
    if name == "tool_format" and rec.status == "inconclusive":
        return "?"
    return {True: "ok", False: "FAIL", None: "skip"}[rec.ok]


def progress_line(key: str, name: str, rec, width: int = 10) -> str:
    return f"  {key:<{width}} {name:<12} {_mark(name, rec):<5} {rec.summary or rec.error or ''}"


def _row(r: SystemRecord) -> tuple:
    c = r.checks
    h, v, m = c.health or HealthCheck(), c.version or VersionCheck(), c.models or ModelsCheck()
    s, t = c.speed or SpeedCheck(), c.tool_format or ToolFormatCheck()
    health = (f"{h.latency_ms:.0f} ms" if h.ok else (h.error or "-"))
    model = "-" if not m.served else ("ok" if m.id_match else "OTHER")
    context = "-" if not m.max_model_len else (
        f"{m.max_model_len}" + ("" if m.context_match is not False else " (!)"))
    ttft = f"{s.ttft_s * 1000:.0f} ms" if s.ttft_s is not None else "-"
    decode = "-"
    if s.decode_tokens_per_s is not None:
        decode = f"{s.decode_tokens_per_s:.0f} tok/s"
        if s.measured_pct_of_ceiling is not None:
            decode += f" ({s.measured_pct_of_ceiling:.0f}%)"
    tools = t.status or ("skipped" if t.skipped else "-")
    return (r.system, r.verdict, r.engine or "-", health[:28], v.version or "-", model, context, ttft, decode, tools)


def table(records: list[SystemRecord]) -> str:
    rows = [("SYSTEM", "VERDICT", "ENGINE", "HEALTH", "VERSION", "MODEL", "CONTEXT", "TTFT", "DECODE", "TOOLS")]
    rows += [_row(r) for r in records]
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(str(cell).ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    for r in records:
        if r.verdict == "down":
            lines.append(f"  {r.system}: down: {r.down_reason}")
        for item in r.drift:
            lines.append(f"  {r.system}: {item.kind}: {item.message}")
    return "\n".join(lines)


def annotations(records: list[SystemRecord]) -> list[str]:
    """`::error` workflow commands, one per system that is down and per drifting fact, so a failed
    scheduled run says which system and which fact on its summary page."""
    def escape(text: str) -> str:      # the runners' escaping for workflow command values
        return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")

    out = []
    for r in records:
        if r.verdict == "down":
            out.append(f"::error title={r.system} is down::{escape(r.system)}: down: {escape(str(r.down_reason))}")
        for item in r.drift:
            out.append(f"::error title={r.system} drifts ({item.kind})::"
                       f"{escape(r.system)}: {item.kind}: {escape(item.message)}")
    return out


class _Refused(Exception):
    """A usage or data error: printed after the command's name, exit status 2."""


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        out, history = _paths(args)
        data = _data(args)
        try:
            records = _probe(args, data)
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            return 130
    except _Refused as exc:
        print(f"python -m labdocs.probe: {exc}", file=sys.stderr)
        return 2
    from labdocs.probe.verdict import exit_code

    _report(args, records, out, history)
    return exit_code(records)


def _paths(args) -> tuple[Path, Path]:
    """Where this run writes its status document and history; a lab run never writes the published ones."""
    from labdocs.observed.store import PUBLISHED_TARGET, default_paths, is_published

    out, history = default_paths(ROOT, args.target)
    out, history = args.out or out, args.history or history
    if args.target != PUBLISHED_TARGET and not args.no_write:
        refused = [str(p) for p in (out, history) if is_published(ROOT, p)]
        if refused:
            raise _Refused(f"--target {args.target} may not write {', '.join(refused)}: the published "
                           f"status holds probes of the real hosts only (--target live)\n"
                           f"  hint: leave --out and --history out; a lab probe writes "
                           f"{default_paths(ROOT, args.target)[0]}")
    return out, history


def _data(args):
    """The data file, loaded; the systems asked for exist; lab speeds are not about to go into it."""
    from labdocs.model.loader import load

    try:
        data = load(args.data)
    except Exception as exc:  # DataInvalid prints file:line: key: message
        raise _Refused(str(exc)) from None
    unknown = [s for s in args.system if s not in data.systems]
    if unknown:
        raise _Refused(f"unknown system(s) {', '.join(unknown)}; the data has {', '.join(data.systems)}")
    if args.record_measured and args.target != "live":
        from labdocs.probe.record import COMMITTED_DATA
        if args.record_measured.resolve() == COMMITTED_DATA.resolve():
            raise _Refused(f"--record-measured {args.record_measured}: lab measurements never replace "
                           "the documented figures; pass a copy")
    return data


def _probe(args, data) -> list[SystemRecord]:
    """Probe the real hosts, or the lab (started here unless --lab-running), printing progress."""
    from labdocs.probe.run import Settings, lab_parser_overrides, live_urls, probe_all_async

    only = args.system or None
    overrides = {"target": args.target, "check_tools": not args.no_tools}
    if args.timeout:
        overrides["timeout_s"] = args.timeout
    if args.compare_speed is not None:
        overrides["compare_speed"] = args.compare_speed
    width = max(len(k) for k in data.systems)

    def progress(key: str, name: str, rec) -> None:
        print(progress_line(key, name, rec, width), flush=True)

    def run(base_urls: dict[str, str], lab_parsers: dict | None = None) -> list[SystemRecord]:
        settings = Settings.from_data(data, lab_parsers=lab_parsers or {}, **overrides)
        keys = [k for k in data.systems if k in base_urls and (not only or k in only)]
        print(f"probing {', '.join(keys)} ({args.target}; timeout {settings.timeout_s:g} s per request)",
              flush=True)
        t0 = time.perf_counter()
        records = asyncio.run(probe_all_async(data, base_urls, settings, progress, only))
        print(f"probed {len(records)} system(s) in {time.perf_counter() - t0:.1f} s\n", flush=True)
        return records

    if args.target == "live":
        return run(live_urls(data))
    import contextlib

    from labdocs.lab import lab_specs, llamacpp_server
    from labdocs.lab.servers import LabError, running_lab

    # vLLM systems: the lab's vLLM CPU servers; llama.cpp systems: the lab's llama-server (a real build).
    wanted = [k for k in data.systems if not only or k in only]
    gguf = [k for k in wanted if llamacpp_server.is_llamacpp(data.systems[k])]
    vllm = [k for k in wanted if k not in gguf]
    specs = lab_specs.specs(data, vllm)[0] if vllm else []
    urls = {s.name: s.url for s in specs}
    urls |= {k: f"http://{llamacpp_server.address(data, k)}:{data.systems[k].port}" for k in gguf}
    if args.lab_running:
        return run(urls)
    print("starting the loopback lab (about a minute) ...", file=sys.stderr, flush=True)
    try:
        with contextlib.ExitStack() as stack:
            lab = stack.enter_context(running_lab(specs, ROOT)) if specs else None
            stack.enter_context(llamacpp_server.running(
                data, gguf, ROOT / ".lab" / "run" / "llama-server",
                say=lambda line: print(f"[lab] {line}", file=sys.stderr, flush=True)))
            return run(urls, lab_parser_overrides(lab, data) if lab else {})
    except LabError as exc:
        raise _Refused(f"the lab did not start: {exc}") from None


def _report(args, records: list[SystemRecord], out: Path, history: Path) -> None:
    """The table; the status files; newer measured speeds into the data; CI annotations."""
    from labdocs.observed.store import append_history, write_status
    from labdocs.probe.run import status_document

    print(table(records))
    doc = status_document(records, args.target, run_url=os.environ.get("LABDOCS_RUN_URL") or None)
    if not args.no_write:
        write_status(out, doc)
        kept = append_history(history, doc, keep=args.keep)
        print(f"\nwrote {out}; {history}: {kept} run(s) kept")
    if args.record_measured:
        import datetime

        from labdocs.probe.record import measured_speeds, record
        changed = record(args.record_measured, measured_speeds(records), datetime.date.today(), args.target)
        for line in changed or ["no newer decode speed to record"]:
            print(f"{args.record_measured}: {line}")
    if os.environ.get("GITHUB_ACTIONS") == "true":
        for line in annotations(records):
            print(line)


if __name__ == "__main__":
    sys.exit(main())
