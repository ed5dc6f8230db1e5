"""Command line: python -m labdocs.lab {up,run,build-models} --spec specs.json"""
from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

from labdocs.lab.servers import LabError, _lab_lock, build_models, load_specs, running_lab
from labdocs.lab.venv import ensure_venv
from labdocs.paths import ROOT


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="python -m labdocs.lab",
        description="Real vLLM CPU servers on loopback addresses, serving tiny local models "
                    "under the documented systems' model names.")
    ap.add_argument("--root", type=Path, default=ROOT,
                    help="project root holding .lab/ (default: %(default)s)")
    sub = ap.add_subparsers(dest="cmd", required=True)
    spec_help = "JSON list of ServerSpec objects (name, address, port, served_model_name, " \
                "max_model_len, family, tool_call_parser, extra_args, hostnames)"
    for name, text in [("up", "start the lab and keep it running until Ctrl-C"),
                       ("run", "start the lab, run CMD with the documented host names "
                               "resolving to it, stop the lab; exits with CMD's status"),
                       ("build-models", "create the lab venv and build the tiny models only")]:
        p = sub.add_parser(name, help=text, description=text)
        p.add_argument("--spec", required=True, type=Path, help=spec_help)
        if name != "build-models":
            p.add_argument("--timeout", type=float, default=240.0, help="start-up timeout, s")
        if name == "run":
            p.add_argument("command", nargs=argparse.REMAINDER, help="-- CMD [ARGS...]")
    return ap


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    specs = load_specs(args.spec)
    if args.cmd == "build-models":
        with _lab_lock(args.root.resolve(), 1800):
            built = build_models(specs, args.root.resolve(), ensure_venv(args.root))
        for name, res in built.items():
            print(name, res["path"], res["family"], res["fallback_reason"] or "")
        return 0
    if args.cmd == "run":
        cmd = args.command[1:] if args.command[:1] == ["--"] else args.command
        if not cmd:
            print("python -m labdocs.lab run: no command given after --", file=sys.stderr)
            return 2
        with running_lab(specs, args.root, startup_timeout=args.timeout) as lab:
            return lab.run(cmd).returncode
    with running_lab(specs, args.root, startup_timeout=args.timeout) as lab:
        for s in specs:
            print(f"{s.name}: {s.url} ({', '.join(s.host_names())}) log {lab.log_path(s.name)}")
        print(f"hosts file: {lab.hosts_file}; run a command with the documented names as:\n  "
              + shlex.join(lab.wrap(["CMD"])), flush=True)
        print("Ctrl-C to stop.", flush=True)
        try:
            while all(p.poll() is None for p in lab.procs.values()):
                time.sleep(1)
            print("a server exited; stopping the lab", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except LabError as exc:
        print(f"python -m labdocs.lab: {exc}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
