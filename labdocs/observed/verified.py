"""test-results/verified.json: per site page, when the doc-tests ran its blocks and with what result.

One model, used by the writer (the doc-test run) and the reader (the site's "verified" marks,
labdocs/docsite/hooks/verified.py). Format 1:

    {
      "format": 1,
      "pages": {
        "systems/pegasus/QUICKSTART.md": {           # the page's path under docs/ (page.file.src_uri)
          "lab":  {"date": "2026-11-25", "passed": 7, "failed": 0, "skipped": 1,
                   "sha256": "<hex digest of the page's Markdown after macros>"},
          "live": {"date": "2026-11-20", "passed": 5, "failed": 0, "skipped": 3, "sha256": "..."}
        }
      }
    }

`sha256` is taken over the exact text the doc-tests ran (what LABDOCS_RENDERED_DIR receives, UTF-8),
so a mark is only claimed for the page as it is now.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError

from labdocs.paths import write_atomic

Target = Literal["lab", "live"]
TARGETS: dict[str, str] = {"lab": "in the lab", "live": "live"}   # target -> how a page's mark says it
Count = Annotated[StrictInt, Field(ge=0)]
FORMAT = "labdocs/observed/verified.py"


class VerifiedInvalid(ValueError):
    """A verified.json that does not follow format 1: `path: where: why`."""

    def __init__(self, path: Path, where: str, why: str):
        super().__init__(f"{path}: {where}: {why} (format: {FORMAT})")


class Run(BaseModel):
    """One target's last run of a page's blocks."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    date: dt.date
    passed: Count = 0
    failed: Count = 0
    skipped: Count = 0
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="of the page's Markdown after macros")

    @classmethod
    def of(cls, text: str, date: dt.date, passed: int, failed: int, skipped: int) -> Run:
        return cls(date=date, passed=passed, failed=failed, skipped=skipped, sha256=digest(text))


class Verified(BaseModel):
    model_config = ConfigDict(extra="forbid")
    format: Literal[1] = 1
    pages: dict[str, dict[Target, Run]] = Field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> Verified:
        """The file's marks; raises VerifiedInvalid naming the first problem."""
        try:
            raw = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise VerifiedInvalid(path, "file", str(exc)) from None
        try:
            return cls.model_validate(raw)
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err["loc"]) or "top level"
            raise VerifiedInvalid(path, where, _why(err)) from None

    @classmethod
    def load_or_new(cls, path: Path) -> Verified:
        """For the writer: the file's marks, or none when it is missing or unreadable (a new run starts over)."""
        try:
            return cls.load(path)
        except VerifiedInvalid:
            return cls()

    def record(self, uri: str, target: Target, run: Run) -> None:
        self.pages.setdefault(uri, {})[target] = run

    def write(self, path: Path) -> None:
        text = json.dumps(self.model_dump(mode="json"), indent=2, sort_keys=True) + "\n"
        write_atomic(Path(path), text)


def digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _why(err: dict) -> str:
    value = err.get("input")
    if err["type"].startswith("date"):
        return f"{value!r} is not a YYYY-MM-DD date"
    if err["loc"] and err["loc"][-1] in ("passed", "failed", "skipped"):
        return f"{value!r} is not a count"
    if err["loc"] and err["loc"][-1] == "sha256":
        return "expected the hex SHA-256 of the page's Markdown after macros"
    if err["loc"] and err["loc"][0] == "format":
        return 'expected {"format": 1, "pages": {...}}'
    return err["msg"]
