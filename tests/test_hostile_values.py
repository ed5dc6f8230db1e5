"""No value in the data file can change the structure of a generated file (issue 19).

For every string in data/systems.yaml (and the flag names, a mapping's keys), hypothesis puts a
hostile string in its place: line breaks, fences, Jinja, HTML, YAML and shell syntax, option-like
values, paths that climb or name system folders. Each mutated data set must either be refused by
the schema and rules, or render every generated file with the same structure as the baseline: the
same YAML keys and list lengths, the same JSON keys, the same set of doc-test blocks (language and
settings) and Markdown block structure on every page, the same Jinja markers, and the same vLLM
argument list apart from the value.
"""

from __future__ import annotations

import copy
import functools
import json
import re
import shlex

import jinja2

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt
from pydantic import ValidationError

from conftest import ROOT
from labdocs.doctests import fences
from labdocs.model import rules, yaml12
from labdocs.docsite import site
from labdocs.render.views import render_all
from labdocs.model.schema import LabData

VALID_TEXT = (ROOT / "data" / "systems.yaml").read_text(encoding="utf-8")
BASE = yaml12.parse(VALID_TEXT)[1]

HOSTILE = [
    "x\n\n```bash {on=stella}\nrm -rf ~\n```\n", "x\n```", "```bash", "~~~", "x\r\nentrypoint: [sh]",
    "x\nentrypoint: [sh, -c, reboot]", "x\u2028entrypoint: evil", "x\x85y", "{{ config }}", "{% include 'x' %}",
    "<script>alert(1)</script>", "x {: onclick=alert(1) }", "[x](javascript:alert(1))", "# heading", "> quote",
    "- item", "1. item", "!!! danger", "=== \"tab\"", "| a | b |", "a | b", "--8<-- \"/etc/passwd\"",
    "--served-model-name=evil", "--port=1", "-x", "no", "off", "nan", "inf", "~-", "~+/x", "~root/x", "..",
    "/", "/etc", "/etc/x", "~/../../etc", "/mnt/../etc", "//x", "x/", "$(reboot)", "`id`", "a;b", "a b",
    "'", '"', "\\", "x\ty", "\x00", "\u202eevil", "\u200b", "\ufeff", "１２３", "10.0.0.\u0661", "*a", "&a",
    "!!int 1", "? x", ": x", "null", "true", "0x10", "${HF_TOKEN}", "%(x)s", "<!-- x -->", "-->", "\n", " ",
]
ALPHABET = "\n\r\t `~#>-*|{}<>!?=:;$&'\"\\/.%[]()xX0 \u2028\x85\u0661"


def _string_paths(node, prefix=()):
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _string_paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _string_paths(v, (*prefix, i))
    elif isinstance(node, str):
        yield prefix


# An image reference legitimately picks a branch (a vllm-gb10 image is built on the host, any other is
# pulled), so its pages differ by design; the image-ref kind (tests/invalid_cases.py, image-ref-invalid) guards it.
STRING_PATHS = sorted((p for p in _string_paths(BASE) if p[0] != "images" or p[-1] != "ref"), key=repr)
# Mapping keys that reach outputs: flag names (argv) and system ids (paths, blocks, anchors).
KEY_PATHS = [("systems", key, "vllm_args") for key in BASE["systems"]] + [("systems",)]


def _accepted(plain: dict) -> LabData | None:
    try:
        data = LabData.model_validate(plain)
    except ValidationError:
        return None
    return None if list(rules.check(data)) else data


FLAG_RENAME: dict[str, str] = {}   # a renamed flag -> its name in the baseline


def _argv_shape(argv: list) -> list:
    """The argument list apart from the values: where the options are and which they are."""
    return [FLAG_RENAME.get(a, a) if isinstance(a, str) and a.startswith("-") else "VALUE" for a in argv]


# Mappings keyed by a value from data (opencode.json's `models`, keyed by the model id the server
# reports, derived from the repo): their keys are values, so only how many there are is structure.
VALUE_KEYED = {"models"}


def _yaml_shape(value, parent=None):
    if isinstance(value, dict):
        if parent in VALUE_KEYED:
            return sorted(repr(_yaml_shape(v)) for v in value.values())
        shape = {k: _yaml_shape(v, k) for k, v in value.items()}
        if isinstance(value.get("command"), list):
            shape["command"] = _argv_shape(value["command"])
        return shape
    if isinstance(value, list):
        return [_yaml_shape(v) for v in value]
    return type(value).__name__


_MD = MarkdownIt("commonmark").enable("table")


def _command_shape(code: str) -> tuple:
    """A shell block's structure: its operators and quoting, with every word (where values land)
    reduced to W, plus its expansions; a value that split a word or added `;`, `$(` ... shows here."""
    lexer = shlex.shlex(code, posix=True, punctuation_chars=True)
    lexer.whitespace_split, lexer.commenters = True, ""
    try:
        tokens = tuple(t if set(t) <= set("();<>|&") else "W" for t in lexer)
    except ValueError as exc:          # (unbalanced quotes)
        tokens = (f"unparseable: {exc}",)
    return tokens, code.count("$"), code.count("`"), code.count("\n")


def _commands(block) -> str:
    """A shell block's code; of a console block, its `$ ` lines (the rest is output, where a value
    is shown as it is, e.g. a page title of several words)."""
    if block.lang != "console":
        return block.code
    lines = block.code.splitlines()
    return "\n".join(line[2:] if line.startswith("$ ") else "OUTPUT" for line in lines)


def _markdown_shape(page: str, text: str) -> tuple:
    # (a block's title shows a value, e.g. the compose file's path on the host: compare that it has one)
    blocks = [(b.lang, tuple(sorted((k, "TITLE" if k == "title" else v) for k, v in b.attrs.items())),
               _command_shape(_commands(b)) if b.lang in fences.RUNNABLE else None)
              for b in fences.blocks(page, text)]
    tokens = [t.type for t in _MD.parse(fences.unwrap_containers(text)) if t.type != "inline"]
    jinja = [text.count(m) for m in ("{{", "{%", "{#")]
    # (a table row with more cells than its header drops the extra ones: count the separators)
    cells = [len(re.findall(r"(?<!\\)\|", line)) for line in text.splitlines() if line.lstrip().startswith("|")]
    return blocks, tokens, jinja, cells, re.findall(r"^(?:!!!|===|\?\?\?).*$", text, re.M).__len__()


def structure(files: dict[str, str], rename: dict[str, str] | None = None) -> dict:
    """Each generated file's structure. `rename` maps a renamed key back, so paths compare."""
    out = {}
    for rel, text in files.items():
        for new, old in (rename or {}).items():
            rel = rel.replace(f"/{new}/", f"/{old}/")
        out[rel] = _file_shape(rel, text, tuple(sorted(FLAG_RENAME.items())))
    return out


# One mutated value changes a few files; the others come out byte for byte as before. Their shape is a function
# of the path, the text and the flag renames alone, so it is computed once per distinct text (parsing every page
# as Markdown again was most of this module's time). The result is compared, never changed.
@functools.lru_cache(maxsize=4096)
def _file_shape(rel: str, text: str, flag_rename: tuple):
    assert dict(flag_rename) == FLAG_RENAME     # (the YAML shapes read FLAG_RENAME: it is part of the key)
    if rel.endswith((".yml", ".yaml")):
        return _yaml_shape(yaml.safe_load(text))
    if rel.endswith(".json"):
        return _yaml_shape(json.loads(text))
    if rel.endswith(".md"):
        return _markdown_shape(rel, text)
    if rel.endswith(".env"):
        return [line.split("=", 1)[0] for line in text.splitlines()]
    if rel.endswith(".svg"):
        return "svg"
    return text.count("\n")


# The hand-written pages that read the data through mkdocs-macros, rendered the way the site does
# (same variables and filters, same whitespace rules) so the doc-tests' blocks there are compared too.
DOCS = ROOT / "docs"
DOC_PAGES = sorted(p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md")
                   if not p.is_symlink() and not p.resolve().is_relative_to(ROOT / "systems")
                   and re.search(r"\{\{|\{%", p.read_text(encoding="utf-8")))
_DOCS_ENV = jinja2.Environment(loader=jinja2.FileSystemLoader(DOCS), trim_blocks=True, lstrip_blocks=True,
                               undefined=jinja2.StrictUndefined)
_DOCS_ENV.filters.update(site.FILTERS)


def render_everything(data: LabData) -> dict[str, str]:
    """Every generated file, plus every data-reading page under docs/ as mkdocs-macros renders it."""
    files = render_all(data)
    context = site.variables(data, {})
    for page in DOC_PAGES:
        files[f"docs/{page}"] = _DOCS_ENV.get_template(page).render(context)
    return files


BASELINE = structure(render_everything(_accepted(BASE)))
TRIED: dict[str, int] = {"values": 0, "keys": 0, "accepted": 0}


def _set(plain: dict, path: tuple, value) -> dict:
    plain = copy.deepcopy(plain)
    node = plain
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    return plain


hostile = st.one_of(
    st.sampled_from(HOSTILE),
    st.text(alphabet=ALPHABET, min_size=1, max_size=24),
    st.tuples(st.sampled_from(["Stella", "stella", "~/vllm-service", "/mnt/models", "auto", "0.9"]),
              st.sampled_from(HOSTILE)).map("".join),
)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(path=st.sampled_from(STRING_PATHS), value=hostile)
def test_hostile_value_is_refused_or_changes_no_structure(path, value):
    TRIED["values"] += 1
    plain = _set(BASE, path, value)
    data = _accepted(plain)
    if data is None:
        return
    TRIED["accepted"] += 1
    assert structure(render_everything(data)) == BASELINE, (path, value)


@settings(max_examples=300, deadline=None)
@given(where=st.sampled_from(KEY_PATHS), value=hostile)
def test_hostile_key_is_refused_or_changes_no_structure(where, value):
    """A renamed flag or system id: refused, or the same structure with the name in its place."""
    TRIED["keys"] += 1
    node = BASE
    for part in where:
        node = node[part]
    old = next(iter(node))
    renamed = {(value if k == old else k): v for k, v in node.items()}
    plain = _set(BASE, where, renamed)
    data = _accepted(plain)
    if data is None:
        return
    TRIED["accepted"] += 1
    rename = {value: old} if where == ("systems",) else {}
    FLAG_RENAME.clear()
    if where != ("systems",):
        FLAG_RENAME.update({f"--{value}": f"--{old}", f"--no-{value}": f"--no-{old}"})
    try:
        got = structure(render_everything(data), rename)
    finally:
        FLAG_RENAME.clear()
    if where != ("systems",):
        assert got == BASELINE, (where, value)
    else:  # a system id also names pages, charts and anchors: compare the files it renders
        assert sorted(got) == sorted(BASELINE) and all(got[k] == BASELINE[k] for k in got), (where, value)


def test_report_how_many_were_tried():
    """(Runs last in this file: prints the counts for the closing note.)"""
    print(f"\nhostile values tried: {TRIED}; string fields: {len(STRING_PATHS)}")
    assert len(STRING_PATHS) > 40 and len(DOC_PAGES) >= 5, DOC_PAGES


@pytest.mark.parametrize("value", ["Fast Coder (v2) & friends", "Pegasus's `<tool_call>` text", 'says "hi"',
                                    "Über-Coder", "5-6 min, per `docker logs`"])
def test_ordinary_prose_is_accepted(value):
    """The kinds refuse structure, not prose: quotes, ampersands, code spans and accents pass."""
    data = _accepted(_set(BASE, ("systems", "stella", "role"), value))
    assert data is not None and data.systems["stella"].role == value
    assert structure(render_everything(data)) == BASELINE


@pytest.mark.parametrize("field, value", [("service_dir", "~/x; reboot"), ("service_dir", "~/x $(id)"),
                                          ("role", "Coder\n\n```bash\nid\n```"),
                                          ("name", "Stella | x"), ("container_name", "qwen coder"),
                                          ("name", "Stella\n\n```bash {on=stella}\nid\n```")])
def test_structure_check_sees_what_validation_would_refuse(field, value):
    """The comparison itself is not blind: the same values forced past validation (model_copy does
    not validate) do change the structure it compares."""
    data = _accepted(BASE)
    stella = data.systems["stella"]
    stella = stella.model_copy(update={field: value})
    forced = data.model_copy(update={"systems": {**data.systems, "stella": stella}})
    try:
        files = render_everything(forced)
    except ValueError as exc:      # the renderer's own context escaping refused it (YAML comments)
        assert "refusing" in str(exc)
        return
    assert structure(files) != BASELINE
