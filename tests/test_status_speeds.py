"""STATUS.md's decode speeds against the bandwidth ceiling (labdocs/render/speeds.py): per system its engine,
the documented figure and its source, the fraction of its ceiling, the last live probe; for the bundled engine
switch (pegasus to llama.cpp) both engines' figures as fractions of one ceiling."""

from __future__ import annotations

from conftest import ROOT
from labdocs.model.loader import load
from labdocs.observed.records import Checks, SpeedCheck, Status, SystemRecord
from labdocs.render import speeds
from labdocs.render.views import render_all, system_views

DATA = load()
EXAMPLE = "data/examples/pegasus-llamacpp.yaml"


def _section(text: str) -> str:
    return text.split("## Decode speed against the bandwidth ceiling", 1)[1].split("\nCheck every system", 1)[0]


def test_status_shows_each_systems_engine_and_fraction_with_its_source():
    section = _section((ROOT / "STATUS.md").read_text(encoding="utf-8"))
    pegasus = next(line for line in section.splitlines() if line.startswith("| [Pegasus]"))
    cells = [c.strip() for c in pegasus.split(" | ")]
    assert cells[1:3] == ["vllm (safetensors)", "34.2 tok/s"]
    assert cells[3].startswith("measured on pegasus.home.arpa, 2026-01-22 (`pegasus-deploy`)")
    assert cells[4:7] == ["54.6 tok/s", "63%", "not probed yet |"]
    # each ceiling says what it is computed from, with the sources of its inputs
    assert "- Pegasus: 273 GB/s ([vendor]" in section and "(`nvidia-dgx-spark`)) over 4.999 GB" in section


def test_the_engine_switch_shows_both_speeds_as_fractions_of_one_ceiling():
    section = _section((ROOT / "STATUS.md").read_text(encoding="utf-8"))
    switch = section.split("### Engine switch: Pegasus", 1)[1]
    assert "fractions of one ceiling, 100.2 tok/s, the ceiling of the GGUF files" in switch
    assert "**estimate**: the GGUF's own tensor types are not recorded" in switch
    before = next(line for line in switch.splitlines() if line.startswith("| before |"))
    after = next(line for line in switch.splitlines() if line.startswith("| after |"))
    assert "| vllm (safetensors) | `data/systems.yaml` | 34.2 tok/s | measured on pegasus.home.arpa, 2026-01-22" in before
    assert before.endswith("| 34% | 63% of 54.6 tok/s |")
    assert f"| llama.cpp (GGUF) | `{EXAMPLE}` | 58.8 tok/s | **estimate**: the lab's records, February 2026" in after
    assert after.endswith("| 59% | 59% of 100.2 tok/s |")


def test_the_examples_own_status_has_its_engine_and_no_switch():
    text = render_all(load(ROOT / EXAMPLE), EXAMPLE)["STATUS.md"]
    section = _section(text)
    assert "| [Pegasus](systems/pegasus/README.md) | llama.cpp (GGUF) | 58.8 tok/s | **estimate**" in section
    assert "| 100.2 tok/s | 59% | not probed yet |" in section
    assert "### Engine switch" not in section


def test_the_last_live_probe_is_shown_beside_the_documented_figure():
    views = system_views(DATA)
    speed = SpeedCheck(ok=True, decode_tokens_per_s=33.14, measured_pct_of_ceiling=60.7,
                       ceiling={"tokens_per_s": 54.6})
    status = Status.of([SystemRecord(system="pegasus", verdict="up", started_at="2026-12-01T03:00:04Z",
                                     checks=Checks(speed=speed)),
                        SystemRecord(system="stella", verdict="down", checks=Checks())],
                       "live", "2026-12-01T03:00:00Z")
    rows = {r.key: r for r in speeds.speed_rows(views, status)}
    assert rows["pegasus"].observed == ("33.1 tok/s, 61% of the 54.6 tok/s ceiling "
                                        "(measured by `make status TARGET=live`, 2026-12-01)")
    assert rows["stella"].observed == "no measurement (down)"
    # a probe from before an engine switch says which engine it measured
    switched = status.model_copy(deep=True)
    switched.systems["pegasus"].engine = "llama.cpp"
    assert speeds.speed_rows(views, switched)[0].observed.endswith("2026-12-01), served by llama.cpp then")
