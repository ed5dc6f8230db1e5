"""What the doc-tests did, per page: found, executed, checked statically, skipped (with reasons)."""

from __future__ import annotations

from collections import Counter, defaultdict

KINDS = ("executed", "static", "skipped", "failed")


class Report:
    def __init__(self):
        self.found: Counter[str] = Counter()
        self.done: dict[str, Counter[str]] = defaultdict(Counter)
        self.skips: list[tuple[str, str]] = []

    def add_found(self, page: str) -> None:
        self.found[page] += 1

    def record(self, page: str, kind: str, block_id: str = "", reason: str = "") -> None:
        self.done[page][kind] += 1
        if kind == "skipped":
            self.skips.append((block_id, reason))

    def lines(self, target: str) -> list[str]:
        if not self.found:
            return []
        width = max(len(p) for p in self.found)
        out = [f"doc blocks against the {'loopback lab' if target == 'lab' else 'real hosts'}: " + ", ".join(
            f"{sum(c[k] for c in self.done.values())} {k}" for k in KINDS) + f" of {sum(self.found.values())} found",
            f"{'page':<{width}}  found  " + "  ".join(f"{k:>8}" for k in KINDS)]
        for page in sorted(self.found):
            counts = self.done[page]
            out.append(f"{page:<{width}}  {self.found[page]:>5}  " + "  ".join(f"{counts[k]:>8}" for k in KINDS))
        for block_id, reason in self.skips:
            out.append(f"skipped {block_id}: {reason}")
        return out

    def write_verified(self, path, target: str, texts: dict[str, str], uris: dict[str, str], date: str) -> None:
        """test-results/verified.json (labdocs/observed/verified.py): per site page, this run's counts and
        the digest of the text that ran; the other target's entries are kept."""
        import datetime as dt

        from labdocs.observed.verified import Run, Verified

        doc = Verified.load_or_new(path)
        for page, counts in self.done.items():
            if page not in uris or page not in texts:
                continue  # not a site page (the repository README)
            doc.record(uris[page], target, Run.of(texts[page], dt.date.fromisoformat(date),
                                                  passed=counts["executed"] + counts["static"],
                                                  failed=counts["failed"], skipped=counts["skipped"]))
        doc.write(path)

