"""What the doc-tests did, per page: blocks found, executed on a host, executed from the workstation,
refused there as a host without a GPU or the share must be (checks for them, each with its reason), checked
statically (each with its reason), skipped (each with its reason), failed; and the share of all
runnable blocks found that only got a static look."""

from __future__ import annotations

from collections import Counter, defaultdict

KINDS = ("host", "workstation", "refused", "static", "skipped", "failed")
# executed: on a host (over ssh), from the workstation side, or a check for what a host stand-in is not, which
# ran there and refused it as it must (host_blocks.Refusal)
RAN = ("host", "workstation", "refused")


class Report:
    def __init__(self):
        self.found: Counter[str] = Counter()
        self.done: dict[str, Counter[str]] = defaultdict(Counter)
        self.reasons: dict[str, list[tuple[str, str]]] = {"refused": [], "static": [], "skipped": []}

    def add_found(self, page: str) -> None:
        self.found[page] += 1

    def record(self, page: str, kind: str, block_id: str = "", reason: str = "") -> None:
        if kind not in KINDS:
            raise ValueError(f"{block_id or page}: unknown report kind {kind!r} (one of {', '.join(KINDS)})")
        self.done[page][kind] += 1
        if kind in self.reasons:
            self.reasons[kind].append((block_id, reason))

    def static_fraction(self) -> tuple[int, int]:
        """(blocks checked only statically, runnable blocks found): the issue's ceiling is 10%."""
        return sum(c["static"] for c in self.done.values()), sum(self.found.values())

    def lines(self, target: str) -> list[str]:
        if not self.found:
            return []
        pages = sorted(set(self.found) | set(self.done))
        width = max(len(p) for p in pages)
        where = "loopback lab and host stand-ins" if target == "lab" else "real hosts"
        out = [f"doc blocks against the {where}: " + ", ".join(
            f"{sum(c[k] for c in self.done.values())} {k}" for k in KINDS) + f" of {sum(self.found.values())} found",
            f"{'page':<{width}}  found  " + "  ".join(f"{k:>11}" for k in KINDS)]
        for page in pages:
            counts = self.done[page]
            out.append(f"{page:<{width}}  {self.found[page]:>5}  " + "  ".join(f"{counts[k]:>11}" for k in KINDS))
        static, found = self.static_fraction()
        counted = sum(sum(c.values()) for c in self.done.values())
        if counted:
            out.append(f"static only: {static} of {found} runnable blocks found ({100 * static / found:.0f}%)"
                       + (f"; {found - counted} of them not run in this session" if counted < found else ""))
        for kind in self.reasons:
            out += [f"{kind} {block_id}: {reason}" for block_id, reason in sorted(self.reasons[kind], key=_order)]
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
                                                  passed=sum(counts[k] for k in (*RAN, "static")),
                                                  failed=counts["failed"], skipped=counts["skipped"]))
        doc.write(path)



def _order(entry: tuple[str, str]) -> tuple[str, int]:
    page, _, line = entry[0].rpartition(":")
    return (page, int(line)) if line.isdigit() else (entry[0], 0)
