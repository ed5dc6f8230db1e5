"""Write newer measurements back into a data file: `make status TARGET=live` replaces a system's
documented decode speed with the one it just measured, and names the measurement as its source.

Only a measurement of the documented model, newer than the figure's own source, replaces it. The file
is rewritten with ruamel's round trip (comments and order kept), validated with the loader, and only
then moved over the original, so a failed write leaves it as it was. Lab measurements (tiny CPU models)
never go into the repository's own data file: main() refuses that combination.
"""

from __future__ import annotations

import datetime
import io
from pathlib import Path

from labdocs.observed.records import SystemRecord
from labdocs.paths import DEFAULT_DATA, ROOT, write_atomic

COMMITTED_DATA = DEFAULT_DATA
PROBE_BY = "make status (labdocs/probe/speed.py): a streamed chat completion, decode tokens over decode time"


def measured_speeds(records: list[SystemRecord]) -> dict[str, float]:
    """{system: tok/s} for every record that measured the documented model's decode speed."""
    out = {}
    for r in records:
        speed, models = r.checks.speed, r.checks.models
        if speed and models and speed.decode_tokens_per_s and speed.ok and models.id_match:
            out[r.system] = round(float(speed.decode_tokens_per_s), 1)
    return out


def _source_date(doc, source_id) -> datetime.date | None:
    src = (doc.get("sources") or {}).get(source_id) if source_id else None
    measured = (src or {}).get("measured") or {}
    date = measured.get("date")
    if isinstance(date, str):
        return datetime.date.fromisoformat(date)
    return date


def record(data_path: Path, speeds: dict[str, float], when: datetime.date, target: str) -> list[str]:
    """Replace each system's speed.decode_tokens_per_s with its newer measurement. Returns what changed."""
    from ruamel.yaml import YAML
    from ruamel.yaml.scalarstring import DoubleQuotedScalarString

    from labdocs.model.loader import load

    if target != "live" and Path(data_path).resolve() == COMMITTED_DATA.resolve():
        raise ValueError(f"{target} measurements never replace the figures in {COMMITTED_DATA.relative_to(ROOT)}: "
                         "only the real hosts' do (pass a copy to try it)")
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096
    path = Path(data_path)
    doc = yaml.load(path.read_text(encoding="utf-8"))
    changed = []
    for key, value in speeds.items():
        system = (doc.get("systems") or {}).get(key)
        if system is None:
            continue
        speed = system["speed"]
        older = _source_date(doc, speed.get("source"))
        if older is not None and older >= when:
            continue  # the documented figure is as new as this one
        source_id = f"{key}-probe-{when.isoformat()}"
        doc.setdefault("sources", {})[source_id] = {
            # quoted: the data file's reader takes no YAML dates, the schema reads the text as one
            "measured": {"host": str(system["host"]), "date": DoubleQuotedScalarString(when.isoformat()),
                         "by": PROBE_BY}}
        was = speed.get("decode_tokens_per_s")
        speed["decode_tokens_per_s"] = value
        speed["source"] = source_id
        if "estimate" in speed:
            del speed["estimate"]
        changed.append(f"systems.{key}.speed.decode_tokens_per_s: {was} -> {value} ({source_id})")
    if not changed:
        return []
    out = io.StringIO()
    yaml.dump(doc, out)
    write_atomic(path, out.getvalue(), check=load)   # the new file must validate before it replaces the old one
    return changed
