"""Command line: `python -m labdocs.render {validate,generate,check}`. Exit 0 ok, 1 drift, 2 invalid data."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from labdocs.render import generate
from labdocs.model.errors import DataInvalid
from labdocs.model.loader import load_checked
from labdocs.paths import DEFAULT_DATA, ROOT


def main(argv: list[str] | None = None) -> int:
    try:
        return _run(argv)
    except KeyboardInterrupt:
        print("interrupted; generated files are as they were before this run", file=sys.stderr)
        return 2
    except Exception as exc:  # the last net: a bug still gets one line and exit 2, not a traceback
        if os.environ.get("LABDOCS_DEBUG"):
            raise
        print(f"internal error: {type(exc).__name__}: {exc}\n  hint: this is a bug in labdocs/; "
              "LABDOCS_DEBUG=1 shows the traceback", file=sys.stderr)
        return 2


def _run(argv: list[str] | None) -> int:
    parser = argparse.ArgumentParser(prog="python -m labdocs.render", description=__doc__)
    parser.add_argument("command", choices=["validate", "generate", "check"],
                        help="validate the data; write generated files; or check them for drift")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="data file (default: data/systems.yaml)")
    parser.add_argument("--out", type=Path, default=ROOT, help="where generated files go (default: the repo)")
    args = parser.parse_args(argv)
    try:
        data, warnings = load_checked(args.data)
        for warning in warnings:
            print(warning, file=sys.stderr)
        if args.command == "validate":
            print(f"{args.data}: ok ({len(data.systems)} systems)")
            return 0
        if args.command == "check":
            plan = generate.plan(args.data, args.out, data)
    except DataInvalid as exc:
        return _invalid(exc)
    if args.command == "check":
        if plan.in_sync:
            print(f"generated files in sync ({len(plan.files)} files)")
            return 0
        sys.stdout.write(generate.diff(plan))
        print(f"\n{len(plan.changed) + len(plan.stale)} generated file(s) out of date: run `make generate`",
              file=sys.stderr)
        return 1
    try:
        with generate.locked(args.out):
            plan = generate.plan(args.data, args.out, data)     # (again, under the lock: what is on disk now)
            cleaned = generate.apply(plan)
    except generate.GenerateError as exc:
        print(f"generate: {exc}", file=sys.stderr)
        return 2
    except DataInvalid as exc:      # the observed files (data/status*.json*) are read while rendering
        return _invalid(exc)
    for rel in cleaned:
        print(f"removed {rel} (left by an interrupted run)")
    for rel in plan.changed:
        print(f"wrote {rel}")
    for rel in plan.stale:
        print(f"removed {rel}")
    print(f"{len(plan.files)} files, {len(plan.changed)} changed, {len(plan.stale)} removed")
    return 0


def _invalid(exc: DataInvalid) -> int:
    print(exc, file=sys.stderr)
    print(f"\n{len(exc.errors)} error(s); nothing was written.", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
