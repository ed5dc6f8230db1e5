"""Command line: `python -m labdocs.render {validate,generate,check,migration}`. Exit 0 ok, 1 drift, 2 invalid data.

`migration --from OLD --to NEW --system KEY [--changelog]` prints the "what changes" page for a system whose
engine or model differs between two data files (or only its CHANGELOG entry)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

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
    parser.add_argument("command", choices=["validate", "generate", "check", "migration"],
                        help="validate the data; write generated files; check them for drift; or print a migration page")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="data file (default: data/systems.yaml)")
    parser.add_argument("--out", type=Path, default=ROOT, help="where generated files go (default: the repo)")
    parser.add_argument("--from", dest="old", type=Path, default=DEFAULT_DATA, help="migration: the data before")
    parser.add_argument("--to", dest="new", type=Path, help="migration: the data after")
    parser.add_argument("--system", help="migration: the system that changes")
    parser.add_argument("--changelog", action="store_true", help="migration: print only the CHANGELOG entry")
    args = parser.parse_args(argv)
    if args.command == "migration":
        return _migration(parser, args)
    # The renderer (Jinja, every view) is imported once the data is known good: a refused file is reported
    # without it, which is most of what a refusal costs (tests/test_yaml_tricks.py runs this ~200 times).
    try:
        data, warnings = load_checked(args.data)
        for warning in warnings:
            print(warning, file=sys.stderr)
        if args.command == "validate":
            print(f"{args.data}: ok ({len(data.systems)} systems)")
            return 0
        from labdocs.render import generate

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


def _migration(parser: argparse.ArgumentParser, args) -> int:
    from labdocs.render import migration
    from labdocs.render.views import source_name

    if args.new is None or args.system is None:
        parser.error("migration needs --to DATA and --system KEY")
    try:
        old, new = load_checked(args.old)[0], load_checked(args.new)[0]
        make = migration.changelog if args.changelog else migration.page
        sys.stdout.write(make(old, new, args.system, source_name(args.old), source_name(args.new)))
    except DataInvalid as exc:
        return _invalid(exc)
    except migration.MigrationError as exc:
        print(f"migration: {exc}", file=sys.stderr)
        return 2
    return 0


def _invalid(exc: DataInvalid) -> int:
    print(exc, file=sys.stderr)
    print(f"\n{len(exc.errors)} error(s); nothing was written.", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
