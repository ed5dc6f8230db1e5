"""The compose files validate against the compose specification and deploy what the data says."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from conftest import BIN, ROOT, run
from labdocs.model.loader import load

DATA = load()
COMPOSE_FILES = sorted(ROOT.glob("systems/*/docker-compose.yml"))


def test_every_system_has_a_compose_file():
    assert [p.parent.name for p in COMPOSE_FILES] == sorted(DATA.systems)


def test_compose_files_pass_the_compose_spec_schema():
    result = run([str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.compose-spec",
                  *map(str, COMPOSE_FILES)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_schema_check_can_fail(tmp_path: Path):
    bad = tmp_path / "docker-compose.yml"
    bad.write_text(COMPOSE_FILES[0].read_text().replace("    healthcheck:\n", "    healthcheck:\n      bogus: 1\n"))
    result = run([str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(bad)])
    assert result.returncode == 1 and "bogus" in result.stdout


def _minutes(duration: str) -> float:
    match = re.fullmatch(r"(\d+)m", duration)
    assert match, duration
    return int(match.group(1))


@pytest.mark.parametrize("path", COMPOSE_FILES, ids=lambda p: p.parent.name)
def test_compose_is_deployable_as_documented(path: Path):
    system = DATA.systems[path.parent.name]
    nfs = DATA.infrastructure.nfs
    svc = yaml.safe_load(path.read_text())["services"]["vllm"]
    assert svc["image"] == DATA.images[system.image].ref
    assert svc["container_name"] == system.container_name
    assert svc["restart"] == f"on-failure:{DATA.infrastructure.container.restart_max_retries}"
    assert svc["network_mode"] == "host" and svc["ipc"] == "host"
    assert svc["deploy"]["resources"]["reservations"]["devices"][0]["capabilities"] == ["gpu"]
    mount = svc["volumes"][0]
    assert (mount["source"], mount["target"], mount["read_only"]) == (nfs.mount_point, nfs.container_path, True)
    env = svc["environment"]
    assert env["HF_HUB_OFFLINE"] == "1"
    assert env["HF_TOKEN"] == "${HF_TOKEN:-}"  # a reference, never a value
    assert f":{system.port}/health" in " ".join(svc["healthcheck"]["test"])
    assert _minutes(svc["healthcheck"]["start_period"]) >= system.load.minutes
    assert svc["logging"]["driver"] == "json-file" and "max-size" in svc["logging"]["options"]


def test_no_secret_values_in_generated_or_site_sources():
    pattern = re.compile(r"(hf_[A-Za-z0-9]{20,}|sk-[A-Za-z0-9]{20,}|(?i:api[_-]?key|token)\s*[:=]\s*['\"]?[A-Za-z0-9]{16,})")
    for path in [*ROOT.glob("systems/*/*"), *ROOT.glob("docs/*.md"), ROOT / "data" / "systems.yaml"]:
        if path.is_file():
            assert not pattern.search(path.read_text()), path
