"""The "what changes" page for an engine or model switch, its CHANGELOG entry, and the evaluation table
(issue 18, point 4)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from conftest import ROOT, macros_cli
from labdocs.engines import llamacpp
from labdocs.model.errors import DataInvalid
from labdocs.model.loader import load, load_text
from labdocs.render import migration
from labdocs.render.views import cell, num, render_all

OLD_PATH, (NEW_REL, KEY) = ROOT / "data" / "systems.yaml", migration.EXAMPLE
NEW_TEXT = (ROOT / NEW_REL).read_text(encoding="utf-8")
OLD, NEW = load(OLD_PATH), load(ROOT / NEW_REL)
COMMITTED = ROOT / migration.EXAMPLE_PAGE


def _rows(old=OLD, new=NEW) -> dict[str, migration.Row]:
    return {r.aspect: r for r in migration.rows(*migration.views(old, new, KEY))}


def test_the_rows_of_the_bundled_example_come_from_the_data():
    rows, old, new = _rows(), OLD.systems[KEY], NEW.systems[KEY]
    assert rows["Engine and service manager"].old == f"vllm in docker-compose, image {OLD.images[old.image].ref}"
    assert rows["Engine and service manager"].new == "llama.cpp under systemd, unit llama-server.service"
    assert rows["Model id (as /v1/models reports it)"].old == old.model.id
    assert rows["Model id (as /v1/models reports it)"].new == new.llamacpp.alias == "gpt-oss-120b"
    assert rows["Reasoning field"].old == ", ".join(OLD.vllm_versions[OLD.images[old.image].vllm].reasoning_fields)
    assert rows["Reasoning field"].new == ", ".join(llamacpp.REASONING_FIELDS)
    assert rows["Expected decode speed"].old.startswith(f"{num(old.speed.decode_tokens_per_s)} tok/s")
    assert rows["Expected decode speed"].new.startswith(f"{num(new.speed.decode_tokens_per_s)} tok/s")
    assert new.speed.estimate in rows["Expected decode speed"].new
    assert all(f in rows["Model files"].new for f in new.model.gguf) and "GGUF, 3 shard(s)" in rows["Model files"].new
    assert f"{num(old.model.files.size_gib)} GiB" in rows["Model files"].old
    assert rows["Start command"].new == " ".join(llamacpp.serve_argv(new, NEW.infrastructure.nfs.mount_point))
    assert rows["Context length (tokens)"].old == rows["Context length (tokens)"].new == f"{old.context_length:,}"
    assert not rows["API base URL"].changed and rows["API base URL"].new == f"http://{new.host}:{new.port}/v1"
    page = COMMITTED.read_text(encoding="utf-8")
    for r in rows.values():     # each row is on the committed page, as the data renders it
        assert f"| {r.aspect} | {cell(r.old)} | {cell(r.new)} | {'**changed**' if r.changed else 'same'} |" in page


def test_the_command_prints_the_committed_page_and_the_changelog_entry():
    result = macros_cli("migration", "--from", "data/systems.yaml", "--to", NEW_REL, "--system", KEY)
    assert result.returncode == 0, result.stderr
    assert result.stdout == COMMITTED.read_text(encoding="utf-8")
    entry = macros_cli("migration", "--to", NEW_REL, "--system", KEY, "--changelog")
    assert entry.returncode == 0, entry.stderr
    assert entry.stdout.startswith("### Changed\n- Pegasus: engine and service manager is now llama.cpp")
    assert "\n### Removed\n- Pegasus: the docker compose deployment (image vllm-gb10:latest)" in entry.stdout
    assert entry.stdout in result.stdout        # the page carries the same entry
    missing = macros_cli("migration", "--to", NEW_REL, "--system", "orion")
    assert missing.returncode == 2 and "migration: --from: no system 'orion'; its systems: pegasus, stella" in missing.stderr


def test_a_hand_edit_of_the_page_is_drift(repo_copy: Path):
    page = repo_copy / migration.EXAMPLE_PAGE
    page.write_text(page.read_text().replace("| Quantization | MXFP4 |", "| Quantization | FP8 |"))
    result = macros_cli("check", "--out", str(repo_copy))
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"a/{migration.EXAMPLE_PAGE}" in result.stdout and "-| Quantization | FP8 |" in result.stdout


def _structure(text: str) -> list[tuple[str, str]]:
    return [(t.type, t.info) for t in MarkdownIt("commonmark").enable("table").parse(text)]


HOSTILE = ["x | y", "`x`", "```", "<script>alert(1)</script>", "[x](javascript:alert(1))", "{{ config }}",
           "x {: onclick=alert(1) }", "\\|", "&lt;b&gt;", "*x*"]


@pytest.mark.parametrize("value", HOSTILE)
def test_a_hostile_value_on_the_page_is_escaped_or_refused(value: str):
    base = migration.page(OLD, NEW, KEY, "a.yaml", "b.yaml")
    line = "      estimate: the lab's records, February 2026"
    assert line in NEW_TEXT
    text = NEW_TEXT.replace(line, f"      estimate: {json.dumps('the records ' + value)}  #", 1)
    try:
        new = load_text(text, "b.yaml")
    except DataInvalid:
        return      # refused: fine
    page = migration.page(OLD, new, KEY, "a.yaml", "b.yaml")
    assert _structure(page) == _structure(base)
    assert "<script" not in page and "](javascript" not in page and "{{" not in page.split("-->", 1)[1]


def test_a_line_break_never_reaches_a_cell():
    with pytest.raises(ValueError, match="line break"):
        cell("x\n| a | b |")


STELLA_END = "      source: stella-deploy\n\nclients:"
EVALUATIONS = """      source: stella-deploy
    evaluations:
      - model: Qwen3-8B Q8_0
        date: "2026-01-25"
        decode_tok_s: 27.8
        size_gib: 8.1
        verdict: kept, `<b>` *x*
        source: {source}

clients:"""


def _with_evaluations(source: str = "stella-deploy", extra: str = "") -> str:
    text = OLD_PATH.read_text(encoding="utf-8")
    assert STELLA_END in text
    return text.replace(STELLA_END, EVALUATIONS.format(source=source).replace("        source:", extra + "        source:"))


def test_evaluations_are_rendered_on_the_readme_only_when_declared():
    files = render_all(load_text(_with_evaluations(), "data/systems.yaml"))
    readme = files["systems/stella/README.md"]
    assert "### Model evaluations" in readme
    assert "| Qwen3-8B Q8_0 | 2026-01-25 | 27.8 | not recorded | 8.1 | kept, &#96;&#60;b&#62;&#96; &#42;x&#42; | " in readme
    assert "### Model evaluations" not in render_all(OLD)["systems/stella/README.md"]


@pytest.mark.parametrize("source, extra, message", [
    ("lab-notes", "", "systems.stella.evaluations[0].source: unknown source 'lab-notes'"),
    ("stella-deploy", "        tok_s: 3\n", "systems.stella.evaluations[0].tok_s"),
])
def test_an_evaluation_error_names_file_line_and_key(source: str, extra: str, message: str):
    with pytest.raises(DataInvalid) as err:
        load_text(_with_evaluations(source, extra), "data/systems.yaml")
    text = str(err.value)
    assert text.startswith("data/systems.yaml:") and message in text, text
    line = int(text.split(":")[1])
    assert 296 < line < 310, text     # the evaluation's lines, after stella's memory block


@pytest.mark.parametrize("value", HOSTILE)
def test_the_cell_filter_alone_keeps_a_table_row_a_row_of_plain_text(value: str):
    # (the schema refuses most of these before; the filter holds on its own)
    row = f"| a | b |\n|---|---|\n| {cell(value)} | z |\n"
    tokens = MarkdownIt("commonmark").enable("table").parse(row)
    assert [t.type for t in tokens].count("td_open") == 2
    inline = [c.type for t in tokens if t.type == "inline" for c in t.children or []]
    assert set(inline) <= {"text"}, (value, inline)
