"""STATUS.md's decode speeds against the bandwidth ceiling (labdocs/model/ceiling.py): per system its engine,
the documented figure with its source, the ceiling with what it is computed from, the fraction; the last live
probe's measurement beside it; and for an engine switch (the bundled migration example) both engines' figures
as fractions of one ceiling. Every figure names its source or says estimate; only live probes are shown
(labdocs/observed/status.py refuses anything else in data/status.json).

Views are read duck-typed (SystemView: .s, .data, .engine, .platform, .ceiling, .cite): this module does not
import labdocs.render.views, which imports it.
"""

from __future__ import annotations

from dataclasses import dataclass

from labdocs.model.ceiling import bandwidth_ceiling, pct_of


def _num(value: float) -> str:
    return f"{value:g}"


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f}%"


def files_kind(view) -> str:
    return "GGUF" if view.s.model.gguf else "safetensors"


def engine_label(view) -> str:
    return f"{view.engine.NAME} ({files_kind(view)})"


def basis(view, ceiling: dict | None = None) -> str:
    """What a ceiling is computed from, each input with its source: the platform's bandwidth, the bytes
    one token reads (the model's read_per_token groups, or every active weight at its quantization)."""
    ceiling = ceiling or view.ceiling
    if not ceiling:
        return "no ceiling: the data lacks the platform's bandwidth or a quantization's bits"
    m = view.s.model
    bandwidth = f"{_num(ceiling['memory_bandwidth_gbs'])} GB/s ({view.cite(view.platform.source)})"
    if m.read_per_token:
        what = f"its {len(m.read_per_token)} tensor groups (model.read_per_token; {view.cite(m.source)})"
    else:
        bits = view.data.quantizations[m.quantization].bits_per_weight
        what = f"{_num(m.active_params_b)}B active parameters at {m.quantization}, {_num(bits)} bits ({view.cite(m.source)})"
        if m.gguf:
            what += ("; **estimate**: the GGUF's own tensor types are not recorded, so every active weight is taken "
                     "at the model's quantization (`python -m labdocs.model.ceiling --gguf` on the shards prints them)")
    return f"{bandwidth} over {_num(ceiling['gb_read_per_token'])} GB read per token: {what}"


def _figure(view) -> tuple[str, str]:
    s = view.s.speed
    if s.decode_tokens_per_s is None:
        return "not measured yet", "n/a"
    return f"{_num(s.decode_tokens_per_s)} tok/s", view.cite(s.source, s.estimate)    # as the data writes it


def _observed(record, engine: str) -> str:
    """The last live probe's measurement of this system (data/status.json), or why there is none; a probe of
    the engine the system ran before a switch says so."""
    if record is None:
        return "not probed yet"
    if record.engine and record.engine != engine:
        return f"{_observed(record, record.engine)}, served by {record.engine} then"
    speed = record.checks.speed
    if speed is None or speed.decode_tokens_per_s is None:
        return f"no measurement ({record.verdict})"
    text = f"{_num(round(speed.decode_tokens_per_s, 1))} tok/s"
    if speed.measured_pct_of_ceiling is not None:
        of = f"the {_num(speed.ceiling['tokens_per_s'])} tok/s" if speed.ceiling else "the bandwidth"
        text += f", {speed.measured_pct_of_ceiling:.0f}% of {of} ceiling"
    return f"{text} (measured by `make status TARGET=live`, {(record.started_at or '')[:10]})"


@dataclass(frozen=True)
class SpeedRow:
    """One system's row of STATUS.md's speed table, every cell finished text."""

    key: str
    name: str
    engine: str
    speed: str
    source: str
    ceiling: str
    fraction: str
    observed: str


def speed_rows(views, status) -> list[SpeedRow]:
    systems = status.systems if status else {}
    rows = []
    for v in views:
        speed, source = _figure(v)
        ceiling = f"{_num(v.ceiling['tokens_per_s'])} tok/s" if v.ceiling else "n/a"
        rows.append(SpeedRow(v.key, v.s.name, engine_label(v), speed, source, ceiling,
                             _pct(pct_of(v.s.speed.decode_tokens_per_s, v.ceiling)),
                             _observed(systems.get(v.key), v.engine.NAME)))
    return rows


@dataclass(frozen=True)
class SwitchRow:
    side: str           # before | after
    engine: str
    data_file: str
    speed: str
    source: str
    fraction: str       # of the switch's common ceiling
    own: str            # of the ceiling of the files this engine reads


@dataclass(frozen=True)
class Switch:
    """An engine switch of one system (the same model): both engines' documented speeds against one ceiling."""

    key: str
    name: str
    ceiling: str
    basis: str
    rows: list[SwitchRow]
    page: str | None


def switch(old, new, old_source: str, new_source: str, page: str | None = None) -> Switch | None:
    """Both sides' speeds as fractions of the same ceiling: the higher of the two files' ceilings (the file
    that reads fewer bytes per token bounds any engine serving this model on this platform); each side's
    fraction of its own file's ceiling beside it. None when a side has no ceiling."""
    ceilings = [(bandwidth_ceiling(v.data, v.s), v) for v in (old, new)]
    if any(c is None for c, _ in ceilings):
        return None
    common, owner = max(ceilings, key=lambda cv: cv[0]["tokens_per_s"])
    rows = []
    for side, v, source in (("before", old, old_source), ("after", new, new_source)):
        speed, cited = _figure(v)
        documented = v.s.speed.decode_tokens_per_s
        own = v.ceiling
        rows.append(SwitchRow(side, engine_label(v), source, speed, cited, _pct(pct_of(documented, common)),
                              f"{_pct(pct_of(documented, own))} of {_num(own['tokens_per_s'])} tok/s"))
    return Switch(new.key, new.s.name, f"{_num(common['tokens_per_s'])} tok/s",
                  f"the ceiling of the {files_kind(owner)} files, the lighter read: " + basis(owner, common), rows, page)
