"""The CI workflows generated from the data's `ci:` block: valid for actionlint, commands that are the
Makefile's own targets, secrets referenced by name only, the forge's folder; and `make publish-status`,
the scheduled job's bot commit, against a real git remote."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import BIN, ROOT, macros_cli, run
from labdocs.model.loader import load
from labdocs.model.schema import FORGES

DATA = load()
CI = DATA.ci
FOLDER = ROOT / FORGES[CI.forge][0]
WORKFLOWS = sorted(FOLDER.glob("*.yml"))
ACTIONLINT = BIN / "actionlint"


def actionlint(paths: list[Path], tmp_path: Path, labels: list[str]) -> subprocess.CompletedProcess:
    """actionlint with the data's runner labels declared (self-hosted labels are the lab's own)."""
    config = tmp_path / "actionlint.yaml"
    config.write_text(yaml.safe_dump({"self-hosted-runner": {"labels": labels}}))
    return run([str(ACTIONLINT), "-config-file", str(config), "-no-color", *map(str, paths)])


def data_labels(data=DATA) -> list[str]:
    return sorted({*data.ci.test.runs_on, *data.ci.status.runs_on} - {"self-hosted"})


def steps(path: Path) -> list[dict]:
    doc = yaml.safe_load(path.read_text())
    return [step for job in doc["jobs"].values() for step in job["steps"]]


def test_the_workflows_are_where_the_forge_reads_them():
    assert [p.name for p in WORKFLOWS] == ["status.yml", "test.yml"]


def test_actionlint_accepts_the_generated_workflows(tmp_path):
    result = actionlint(WORKFLOWS, tmp_path, data_labels())
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_can_fail(tmp_path):
    """The same check refuses a label the data does not declare and a broken expression."""
    broken = tmp_path / "status.yml"
    broken.write_text((FOLDER / "status.yml").read_text().replace("!cancelled()", "!cancelled("))
    result = actionlint([broken, FOLDER / "test.yml"], tmp_path, [])
    assert result.returncode == 1
    assert "label \"" in result.stdout and "is unknown" in result.stdout
    assert "status.yml" in result.stdout and "expression" in result.stdout


def test_every_command_is_a_makefile_target():
    for path in WORKFLOWS:
        for step in steps(path):
            if "uses" in step:
                assert step["uses"].startswith("actions/checkout@"), step
                continue
            argv = shlex.split(step["run"])
            assert argv[0] == "make" and len(argv) >= 2 and all("=" in a for a in argv[2:]), step
            dry = run(["make", "-n", *argv[1:]])          # prints the recipe, runs nothing
            assert dry.returncode == 0, f"{path.name}: {step['run']}: {dry.stderr}"


def test_test_runs_on_push_and_merge_requests():
    doc = yaml.safe_load((FOLDER / "test.yml").read_text())
    triggers = doc[True]                                  # YAML 1.1 reads the key `on` as true
    assert set(triggers) == {"push", "pull_request"}
    assert doc["jobs"]["test"]["runs-on"] == CI.test.runs_on
    assert [s["run"] for s in steps(FOLDER / "test.yml") if "run" in s] == ["make test"]


def test_status_is_scheduled_on_the_lab_runner_and_publishes_after_failures():
    doc = yaml.safe_load((FOLDER / "status.yml").read_text())
    assert doc[True]["schedule"] == [{"cron": CI.status.schedule}]
    job = doc["jobs"]["status"]
    assert job["runs-on"] == CI.status.runs_on and job["timeout-minutes"] == CI.status.timeout_minutes
    runs = [s for s in job["steps"] if "run" in s]
    assert [s["run"] for s in runs] == ["make check-live", "make status TARGET=live",
                                        f"make publish-status BRANCH={CI.status.branch}",
                                        f"make publish-site SITE_ROOT={DATA.docs_site.site_root}"]
    # After a failed block, the probe still runs, its result is still published and the site rebuilt
    # (the job still fails).
    assert [s.get("if") for s in runs] == [None] + ["${{ !cancelled() }}"] * 3
    assert not any(s.get("continue-on-error") for s in runs)
    assert doc["env"]["GIT_AUTHOR_NAME"] == CI.bot.name and doc["env"]["GIT_COMMITTER_EMAIL"] == CI.bot.email
    run_field = FORGES[CI.forge][1]
    assert doc["env"]["LABDOCS_RUN_URL"].endswith("/actions/runs/${{ github.%s }}" % run_field)


def test_secrets_are_referenced_never_written():
    for path in WORKFLOWS:
        text = path.read_text()
        for name in re.findall(r"secrets\.(\w+)", text):
            assert name == CI.secrets.push_token
        assert re.findall(r"\$\{\{ secrets\.\w+ \}\}", text) == (
            [f"${{{{ secrets.{CI.secrets.push_token} }}}}"] if path.name == "status.yml" else [])


@pytest.mark.parametrize("forge", sorted(set(FORGES) - {CI.forge}))
def test_another_forge_is_one_data_value(repo_copy: Path, forge: str, tmp_path):
    data_file = repo_copy / "data" / "systems.yaml"
    text = data_file.read_text()
    data_file.write_text(text.replace(f"  forge: {CI.forge} ", f"  forge: {forge} ", 1))
    result = macros_cli("generate", cwd=repo_copy)
    assert result.returncode == 0, result.stderr
    folder, run_field = FORGES[forge]
    assert f"removed {FORGES[CI.forge][0]}/status.yml" in result.stdout
    assert sorted(p.name for p in (repo_copy / folder).glob("*.yml")) == ["status.yml", "test.yml"]
    assert not list((repo_copy / FORGES[CI.forge][0]).glob("*.yml"))
    status = (repo_copy / folder / "status.yml").read_text()
    assert "${{ github.%s }}" % run_field in status
    assert actionlint(sorted((repo_copy / folder).glob("*.yml")), tmp_path, data_labels()).returncode == 0


@pytest.mark.parametrize("old, new, error", [
    ('schedule: "0 3 * * *"', 'schedule: "0 3 * * * ; curl x"', "ci.status.schedule: '0 3 * * * ; curl x' is not a valid cron schedule"),
    ("push_token: LABDOCS_BOT_TOKEN", "push_token: GITHUB_TOKEN", "ci.secrets.push_token: 'GITHUB_TOKEN' is not a valid secret name"),
    ("runs_on: [self-hosted, lab]", "runs_on: [self-hosted, 'lab\"]']", "ci.status.runs_on[1]: "),
])
def test_ci_data_that_could_change_a_workflow_is_refused(repo_copy: Path, old: str, new: str, error: str):
    data_file = repo_copy / "data" / "systems.yaml"
    text = data_file.read_text()
    assert old in text
    data_file.write_text(text.replace(old, new, 1))
    result = macros_cli("generate", cwd=repo_copy)
    assert result.returncode == 2 and re.search(r"data/systems\.yaml:\d+: " + re.escape(error), result.stderr), result.stderr


# --- make publish-status: the bot commit, against a real (local, bare) git remote ---------------------

def _git(cwd: Path, *args: str) -> str:
    result = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout


def _live_status(repo: Path, checked_at: str, target: str = "live") -> None:
    key = next(iter(DATA.systems))
    record = {"system": key, "verdict": "up", "drift": [], "started_at": checked_at,
              "checks": {"models": {"id_match": True, "context_match": True},
                         "speed": {"ttft_s": 0.3, "decode_tokens_per_s": 33.0}, "tool_format": {"status": "confirmed"}}}
    (repo / "data" / "status.json").write_text(json.dumps({"checked_at": checked_at, "target": target,
                                                           "systems": {key: record}}))
    line = {"checked_at": checked_at, "target": target, "systems": {key: {"verdict": "up", "decode_tokens_per_s": 33.0}}}
    with (repo / "data" / "status-history.jsonl").open("a") as f:
        f.write(json.dumps(line) + "\n")


@pytest.fixture
def clone(repo_copy: Path, tmp_path: Path) -> tuple[Path, Path]:
    remote = tmp_path / "remote.git"
    _git(tmp_path, "init", "--quiet", "--bare", "--initial-branch", CI.status.branch, str(remote))
    _git(repo_copy, "init", "--quiet", "--initial-branch", CI.status.branch)
    _git(repo_copy, "-c", "user.name=dev", "-c", "user.email=dev@home.arpa", "add", "-A")
    _git(repo_copy, "-c", "user.name=dev", "-c", "user.email=dev@home.arpa", "commit", "--quiet", "-m", "start")
    _git(repo_copy, "remote", "add", "origin", str(remote))
    _git(repo_copy, "push", "--quiet", "origin", CI.status.branch)
    return repo_copy, remote


def publish(repo: Path) -> subprocess.CompletedProcess:
    env = {"GIT_AUTHOR_NAME": CI.bot.name, "GIT_AUTHOR_EMAIL": CI.bot.email, "GIT_COMMITTER_NAME": CI.bot.name,
           "GIT_COMMITTER_EMAIL": CI.bot.email, "LABDOCS_RUN_URL": "https://forge.home.arpa/lab/docs/actions/runs/9"}
    return run(["make", "publish-status", f"VENV={BIN.parent}", f"BRANCH={CI.status.branch}"], cwd=repo, env=env)


def test_publish_status_commits_only_the_status_files_as_the_bot(clone):
    repo, remote = clone
    _live_status(repo, "2026-12-02T03:00:00Z")
    # A live probe may also record a newer measured speed in the data (probe --record-measured).
    data_file = repo / "data" / "systems.yaml"
    key = next(k for k, s in DATA.systems.items() if s.speed.decode_tokens_per_s)
    old = f"decode_tokens_per_s: {DATA.systems[key].speed.decode_tokens_per_s:g}"
    assert old in data_file.read_text()
    data_file.write_text(data_file.read_text().replace(old, "decode_tokens_per_s: 29.5", 1))
    assert macros_cli("generate", cwd=repo).returncode == 0          # what `make status TARGET=live` ends with
    (repo / "README.md").write_text("an unrelated local edit\n")
    result = publish(repo)
    assert result.returncode == 0, result.stdout + result.stderr
    log = _git(remote, "log", "-1", "--format=%an <%ae>%n%s%n%b", CI.status.branch)
    assert log.startswith(f"{CI.bot.name} <{CI.bot.email}>\nchore(status): probe of the real hosts\n")
    assert "actions/runs/9" in log
    changed = _git(remote, "show", "--name-only", "--format=", CI.status.branch).split()
    assert {"data/status.json", "data/systems.yaml", "STATUS.md", f"systems/{key}/README.md"} <= set(changed)
    assert "README.md" not in changed
    assert all(p.startswith(("data/status", "data/systems.yaml", "data/examples/", "STATUS.md", "charts/", "systems/"))
               for p in changed), changed

    again = publish(repo)
    assert again.returncode == 0 and "status unchanged: nothing to publish" in again.stdout


def test_publish_status_refuses_a_lab_status(clone):
    repo, remote = clone
    before = _git(remote, "rev-parse", CI.status.branch)
    _live_status(repo, "2026-12-02T03:00:00Z", target="lab")
    result = publish(repo)
    assert result.returncode != 0
    assert _git(remote, "rev-parse", CI.status.branch) == before
