"""Write README.md's code-layout table from the package tree (labdocs.docsite.layout); --check only
reports drift (exit 1 with a diff), as `make check-generated` does for the generated files."""

from __future__ import annotations

import argparse
import difflib
import sys
from pathlib import Path

from labdocs.docsite.layout import replace_section
from labdocs.paths import ROOT, write_atomic

README = ROOT / "README.md"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="report drift, write nothing")
    parser.add_argument("--readme", type=Path, default=README, help="the file with the section (default: README.md)")
    args = parser.parse_args()
    old = args.readme.read_text(encoding="utf-8")
    new = replace_section(old)
    if old == new:
        print("README.md code layout in sync")
        return 0
    if args.check:
        sys.stdout.writelines(difflib.unified_diff(old.splitlines(True), new.splitlines(True),
                                                   "a/README.md", "b/README.md"))
        print("README.md's code layout differs from the package tree: run `python tools/code_layout.py`")
        return 1
    write_atomic(args.readme, new)
    print("README.md code layout written")
    return 0


if __name__ == "__main__":
    sys.exit(main())
