"""Generated files: in sync with the data, marked, written atomically, and drift shown as a diff."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml

from conftest import macros_cli
from labdocs.model.loader import load
from labdocs.paths import write_atomic
from labdocs.render.views import render_all
from labdocs.engines.vllm import serve_argv

DATA = load()
FILES = render_all(DATA)


def test_check_generated_passes_on_the_repo():
    result = macros_cli("check")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("rel", sorted(r for r in FILES if not r.endswith(".json")))  # JSON has no comments
def test_every_generated_file_opens_with_the_marker(rel: str):
    head = FILES[rel].splitlines()[0]
    if rel.startswith("charts/"):  # drawn from the probe's records
        assert re.search(r"DO NOT EDIT: generated from data/status[\w.-]+ by `make generate` \(labdocs/observed/status.py\)", head)
        return
    assert "DO NOT EDIT: generated from data/systems.yaml by `make generate`" in head
    assert "templates/" in head  # names the template it came from


def test_each_system_gets_its_files():
    for key in DATA.systems:
        for name in ("README.md", "QUICKSTART.md", "COMPOSE.md", "docker-compose.yml", ".nav.yml"):
            assert f"systems/{key}/{name}" in FILES


def test_the_systems_listing_has_every_system_in_data_order():
    """systems/README.md is the Systems section's index page (and the large-lab sidebar's "All N")."""
    listing = FILES["systems/README.md"]
    rows = re.findall(r"^\| \[([^\]]+)\]\(([\w-]+)/README\.md\)", listing, re.M)
    assert rows == [(s.name, key) for key, s in DATA.systems.items()]
    nav = yaml.safe_load(FILES["systems/.nav.yml"])["nav"]
    assert nav == [{"Systems": "README.md"}, *DATA.systems]


def test_drift_is_reported_as_a_diff_and_nothing_is_written(repo_copy: Path):
    target = repo_copy / "systems" / "stella" / "docker-compose.yml"
    target.write_text(target.read_text().replace('restart: "on-failure:3"', "restart: always"))
    edited = target.read_text()

    result = macros_cli("check", "--out", str(repo_copy))

    assert result.returncode == 1
    assert "--- a/systems/stella/docker-compose.yml" in result.stdout
    assert "-    restart: always" in result.stdout and '+    restart: "on-failure:3"' in result.stdout
    assert target.read_text() == edited


def test_generate_repairs_drift_and_removes_files_of_a_removed_system(repo_copy: Path):
    shutil.copytree(repo_copy / "systems" / "stella", repo_copy / "systems" / "gone")
    (repo_copy / "systems" / "gone" / "notes.md").write_text("hand-written, no marker: kept\n")
    (repo_copy / "systems" / "stella" / "README.md").write_text("hand edit\n")

    result = macros_cli("generate", "--out", str(repo_copy))

    assert result.returncode == 0, result.stderr
    assert (repo_copy / "systems" / "stella" / "README.md").read_text() == FILES["systems/stella/README.md"]
    assert [p.name for p in (repo_copy / "systems" / "gone").iterdir()] == ["notes.md"]
    assert macros_cli("check", "--out", str(repo_copy)).returncode == 0


def test_write_is_atomic_and_leaves_no_temp_files(tmp_path: Path):
    target = tmp_path / "a" / "file.md"
    write_atomic(target, "one\n")
    write_atomic(target, "two\n")
    assert target.read_text() == "two\n"
    assert [p.name for p in target.parent.iterdir()] == ["file.md"]


@pytest.mark.parametrize("key", sorted(DATA.systems))
def test_readme_shows_the_documented_facts(key: str):
    s = DATA.systems[key]
    text = FILES[f"systems/{key}/README.md"]
    for fact in (s.host, s.model.id, s.model.repo, s.container_name, s.service_dir, s.ssh.alias,
                 f"--tool-call-parser {s.tool_calling.parser}", f"{s.context_length:,}"):
        assert fact in text, fact


@pytest.mark.parametrize("key", sorted(DATA.systems))
def test_compose_page_embeds_the_compose_file_byte_for_byte(key: str):
    page = FILES[f"systems/{key}/COMPOSE.md"]
    block = re.search(r"```yaml[^\n]*\n(.*?)```", page, re.S).group(1)
    assert block == FILES[f"systems/{key}/docker-compose.yml"]


@pytest.mark.parametrize("key", sorted(DATA.systems))
def test_quickstart_has_the_playbook_shape(key: str):
    text = FILES[f"systems/{key}/QUICKSTART.md"]
    headings = re.findall(r"^## (.+)$", text, re.M)
    assert headings[:6] == ["Overview", "Prerequisites", "Time and risk", "Steps", "Rollback", "Troubleshooting"]
    prereqs = text.split("## Prerequisites")[1].split("## Time and risk")[0]
    items = re.split(r"^\d+\. ", prereqs, flags=re.M)[1:]
    assert items and all("```bash" in item for item in items)  # a check per prerequisite
    steps = text.split("## Steps")[1].split("## Rollback")[0]
    # bounded wait, with what a stock Mac has (no GNU timeout)
    assert re.search(r"for _ in \$\(seq \d+\); do curl -fsS --max-time \d+ http://\S+/health && break; sleep \d+; done", steps)
    assert "| Symptom | Cause | Fix |" in text


def test_generated_markdown_has_no_jinja_syntax_for_the_site_to_trip_on():
    # (The CI workflows are not pages: their ${{ }} expressions are the forges' syntax.)
    for rel, text in FILES.items():
        if rel.endswith(".md"):
            assert "{{" not in text and "{%" not in text, rel


@pytest.mark.parametrize("key", sorted(DATA.systems))
def test_compose_command_is_the_serve_argv(key: str):
    compose = yaml.safe_load(FILES[f"systems/{key}/docker-compose.yml"])
    assert compose["services"]["vllm"]["command"] == serve_argv(DATA.systems[key])
