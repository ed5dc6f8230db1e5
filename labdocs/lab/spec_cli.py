"""`python -m labdocs.lab.spec_cli lab-spec [--system ID] --out FILE`: the lab's server specs from the data file,
for `python -m labdocs.lab up|run --spec FILE`. Dropped GPU-only flags are listed on stderr."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from labdocs.model.errors import DataInvalid
from labdocs.model.loader import load
from labdocs.paths import DEFAULT_DATA, ROOT

from labdocs.lab import lab_specs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m labdocs.lab.spec_cli", description=__doc__)
    parser.add_argument("command", choices=["lab-spec"])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--system", action="append", default=[], help="only this system (repeatable)")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    try:
        data = load(args.data)
    except DataInvalid as exc:
        print(exc, file=sys.stderr)
        return 2
    unknown = set(args.system) - set(data.systems)
    if unknown:
        print(f"unknown system(s): {', '.join(sorted(unknown))}; known: {', '.join(data.systems)}", file=sys.stderr)
        return 2
    specs, dropped = lab_specs.specs(data, args.system or None)
    for key, drops in dropped.items():
        for flag, why in drops:
            print(f"{key}: dropped GPU-only flag {flag}: {why}", file=sys.stderr)
    version = lab_specs.lab_vllm_version(ROOT)
    for key in dropped:
        for note in lab_specs.version_differences(data, key, version):
            print(f"{key}: {note}", file=sys.stderr)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps([s.to_dict() for s in specs], indent=2) + "\n")
    print(f"wrote {args.out} ({len(specs)} servers)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
