"""Issue 18: llama.cpp's llama-server under systemd as a second engine. The example data file moves pegasus
to it with one data edit; its unit passes `systemd-analyze verify`, its sudo rules `visudo -cf`, its
QUICKSTART uses only the commands those rules allow, and its flags are checked against llama-server's own
flag list of the pinned build (labdocs/engines/llamacpp_flags.json)."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import ROOT
from labdocs.doctests import fences
from labdocs.engines import ENGINES, llamacpp
from labdocs.lab import llamacpp_build
from labdocs.model.errors import DataInvalid
from labdocs.model.loader import load
from labdocs.model.operations import mount_unit
from labdocs.render.views import render_all

EXAMPLE = ROOT / "data" / "examples" / "pegasus-llamacpp.yaml"
SHOWN = EXAMPLE.relative_to(ROOT).as_posix()
DATA = load(EXAMPLE)
FILES = render_all(DATA, SHOWN)
VLLM_FILES = render_all(load(ROOT / "data" / "systems.yaml"))
UNIT = FILES["systems/pegasus/llama-server.service"]
SUDOERS = FILES["systems/pegasus/llama-server.sudoers"]
QUICKSTART = FILES["systems/pegasus/QUICKSTART.md"]


# --- one data edit ------------------------------------------------------------------------------------

def test_the_example_is_one_data_edit_away_from_the_lab():
    """Only the pegasus entry differs from data/systems.yaml, and only stella's files stay as they are."""
    lab, example = (yaml.safe_load(p.read_text()) for p in (ROOT / "data" / "systems.yaml", EXAMPLE))
    differ = {k for k in lab.keys() | example.keys() if lab.get(k) != example.get(k)}
    assert differ == {"systems"}, differ
    assert {k for k in lab["systems"] if lab["systems"][k] != example["systems"].get(k)} == {"pegasus"}
    assert example["systems"]["pegasus"]["engine"] == "llama.cpp"
    for path, text in VLLM_FILES.items():
        if path.startswith("systems/stella/"):
            assert FILES[path] == text.replace("data/systems.yaml", SHOWN), path


def test_a_llamacpp_system_gets_its_unit_sudo_rules_and_pages_and_no_compose_file():
    assert sorted(p for p in FILES if p.startswith("systems/pegasus/")) == [
        "systems/pegasus/.nav.yml", "systems/pegasus/QUICKSTART.md", "systems/pegasus/README.md",
        "systems/pegasus/llama-server.service", "systems/pegasus/llama-server.sudoers"]
    assert "[Unit](pegasus/llama-server.service)" in FILES["systems/README.md"]
    provider = json.loads(FILES["clients/opencode.json"])["provider"]["pegasus"]
    assert list(provider["models"]) == ["gpt-oss-120b"] and provider["options"]["baseURL"].endswith(":8000/v1")


def test_the_serve_command_loads_the_first_shard_under_the_alias_with_the_chat_template():
    argv = shlex.split(re.search(r"^ExecStart=(.*)$", UNIT, re.M).group(1))
    assert argv[0] == "/home/llm-agent/llama.cpp/build/bin/llama-server"
    assert argv[argv.index("--model") + 1] == ("/mnt/models/models--ggml-org--gpt-oss-120b-GGUF/snapshots/"
                                               f"{DATA.systems['pegasus'].model.snapshot}/gpt-oss-120b-mxfp4-00001-of-00003.gguf")
    assert argv[argv.index("--alias") + 1] == "gpt-oss-120b"
    assert argv[argv.index("-c") + 1] == "131072" and "--jinja" in argv
    assert argv[argv.index("--port") + 1] == "8000"


# --- the unit ------------------------------------------------------------------------------------------

SYSTEMD_ANALYZE = shutil.which("systemd-analyze")


@pytest.fixture(scope="module")
def systemd_root(tmp_path_factory):
    """A root for `systemd-analyze verify`: systemd's own units, the binary where the unit runs it, and the
    share's mount unit as systemd-fstab-generator makes it from the QUICKSTART's fstab line."""
    if not SYSTEMD_ANALYZE:
        pytest.fail("systemd-analyze is missing: `make system-deps` installs systemd", pytrace=False)
    root = tmp_path_factory.mktemp("systemd-root")
    shutil.copytree("/usr/lib/systemd/system", root / "usr/lib/systemd/system", symlinks=True)
    program = root / DATA.systems["pegasus"].llamacpp.source_dir.lstrip("/") / "build/bin/llama-server"
    program.parent.mkdir(parents=True)
    program.write_text("#!/bin/sh\n")
    program.chmod(0o755)
    (root / "etc/systemd/system").mkdir(parents=True)
    server, mount_point, fstype, options = re.search(r"^(\S+) (\S+) (\S+) (\S+) 0 0$", QUICKSTART, re.M).groups()
    (root / "etc/systemd/system" / mount_unit(mount_point)).write_text(
        f"[Mount]\nWhat={server}\nWhere={mount_point}\nType={fstype}\nOptions={options}\n")
    return root


def _verify(root: Path, name: str, text: str) -> subprocess.CompletedProcess:
    (root / "etc/systemd/system" / name).write_text(text)
    return subprocess.run([SYSTEMD_ANALYZE, "verify", "--man=no", f"--root={root}", f"/etc/systemd/system/{name}"],
                          capture_output=True, text=True, timeout=60)


def test_the_unit_needs_the_share_restarts_on_failure_with_a_limit_and_runs_as_the_service_user(systemd_root):
    result = _verify(systemd_root, "llama-server.service", UNIT)
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr
    for line in ("Requires=mnt-models.mount", "After=mnt-models.mount network-online.target", "Restart=on-failure",
                 "StartLimitBurst=3", "User=llm-agent"):
        assert re.search(f"^{re.escape(line)}$", UNIT, re.M), line
    assert int(re.search(r"^StartLimitIntervalSec=(\d+)$", UNIT, re.M).group(1)) >= 3 * 120


@pytest.mark.parametrize("old, new, says", [
    ("Restart=on-failure", "Restart=on-failur", "Failed to parse service restart specifier"),
    ("StartLimitBurst=3", "StartLimitBurst=three", "Failed to parse unsigned value"),
    ("Requires=mnt-models.mount", "Requires=mnt-modelz.mount", "Unit mnt-modelz.mount not found"),
    ("ExecStart=/home/", "ExecStart=/opt/", "is not executable"),
    ("User=llm-agent", "Usr=llm-agent", "Unknown key"),
])
def test_a_broken_unit_fails_the_check(systemd_root, old, new, says):
    assert old in UNIT
    result = _verify(systemd_root, "broken.service", UNIT.replace(old, new, 1))
    assert says in result.stderr, result.stderr


def test_mount_unit_names_match_systemd_escape():
    escape = shutil.which("systemd-escape")
    for path in ("/mnt/models", "/mnt/my-models", "/srv/models.v2", "/mnt/a_b/c"):
        want = subprocess.run([escape, "-p", "--suffix=mount", path], capture_output=True, text=True).stdout.strip()
        assert mount_unit(path) == want, path


# --- the sudo rules ------------------------------------------------------------------------------------

RECORDS = ["systemctl start llama-server", "systemctl stop llama-server", "systemctl restart llama-server",
           "systemctl status llama-server", "systemctl daemon-reload",
           "tee /etc/systemd/system/llama-server.service", "journalctl -u llama-server"]   # lab-records.md


def _allowed(text: str) -> list[str]:
    body = text.split("Cmnd_Alias LLAMA_SERVER =", 1)[1].split("\nllm-agent ", 1)[0]
    return [c.strip() for c in body.replace("\\\n", " ").split(",")]


def _visudo(tmp_path: Path, text: str) -> subprocess.CompletedProcess:
    visudo = shutil.which("visudo") or "/usr/sbin/visudo"
    path = tmp_path / "llama-server"
    path.write_text(text)
    return subprocess.run([visudo, "-cf", str(path)], capture_output=True, text=True, timeout=30)


def test_the_sudo_rules_are_exactly_the_records_commands_and_parse(tmp_path):
    assert [re.sub(r"^/usr/bin/", "", c) for c in _allowed(SUDOERS)] == RECORDS
    assert re.search(r"^llm-agent ALL=\(root\) NOPASSWD: LLAMA_SERVER$", SUDOERS, re.M)
    result = _visudo(tmp_path, SUDOERS)
    assert result.returncode == 0 and "parsed OK" in result.stdout, result.stdout + result.stderr


@pytest.mark.parametrize("old, new", [
    ("    /usr/bin/systemctl daemon-reload, \\\n", "    systemctl daemon-reload, \\\n"),     # not a full path
    ("ALL=(root)", "ALL=(root"),
    ("NOPASSWD: LLAMA_SERVER", "NOPASSWD LLAMA_SERVER"),
    ("Cmnd_Alias LLAMA_SERVER", "Cmnd_Alias llama_server"),                                   # aliases are upper case
])
def test_broken_sudo_rules_fail_visudo(tmp_path, old, new):
    assert old in SUDOERS
    result = _visudo(tmp_path, SUDOERS.replace(old, new, 1))
    assert result.returncode != 0, result.stdout


def test_a_lost_comma_parses_but_is_not_the_records_list(tmp_path):
    """visudo accepts `.../systemctl stop llama-server /usr/bin/systemctl restart ...` (one command with more
    arguments): only the comparison with the records' list catches it."""
    broken = SUDOERS.replace("/usr/bin/systemctl stop llama-server, \\\n", "/usr/bin/systemctl stop llama-server \\\n", 1)
    assert broken != SUDOERS and _visudo(tmp_path, broken).returncode == 0
    assert [re.sub(r"^/usr/bin/", "", c) for c in _allowed(broken)] != RECORDS


def _sudo_commands(code: str) -> list[list[str]]:
    """Every `sudo ...` simple command of a shell text, as argv without its redirections."""
    lexer = shlex.shlex(code, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    commands, current, skip = [], [], False
    for token in [*lexer, ";"]:
        if token in ("&&", "||", ";", "|", "\n", "(", ")"):
            commands.append(current)
            current = []
        elif token in ("<", ">", ">>", "2>"):
            skip = True
        elif skip:
            skip = False
        else:
            current.append(token)
    return [c[1:] for c in commands if c[:1] == ["sudo"]]


def test_the_quickstart_uses_only_the_allowed_commands():
    """The service user's blocks run sudo only with commands the rules allow, word for word (sudo matches
    arguments exactly); the administrator's block (full sudo) installs the rules once."""
    allowed = {re.sub(r"^/usr/bin/", "", c) for c in _allowed(SUDOERS)}
    admin = DATA.systems["pegasus"]
    used = set()
    for block in fences.blocks("systems/pegasus/QUICKSTART.md", QUICKSTART):
        if block.lang != "bash" or "visudo" in block.code:
            continue
        for argv in _sudo_commands(block.code):
            if argv[:2] in (["-n", "-l"], ["-l"]):
                continue
            assert " ".join(argv) in allowed, (block.line, argv)
            used.add(" ".join(argv))
    assert {"systemctl daemon-reload", "systemctl restart llama-server",
            "tee /etc/systemd/system/llama-server.service", "journalctl -u llama-server"} <= used, used
    assert admin.ssh.user == "llm-agent"


def test_rollback_installs_the_last_good_unit_with_its_model():
    record = re.search(r"^    (cd ~/llama-server && curl .*last-good.*)$", QUICKSTART, re.M).group(1)
    assert "/health &&" in record and "cp /etc/systemd/system/llama-server.service llama-server.service.last-good" in record
    assert "sudo tee /etc/systemd/system/llama-server.service < llama-server.service.last-good" in QUICKSTART
    assert re.search(r"for _ in \$\(seq \d+\); do curl -fsS --max-time 5 http://pegasus\.home\.arpa:8000/health", QUICKSTART)


# --- flags against llama-server's own list --------------------------------------------------------------

def test_the_flag_list_is_the_pinned_builds():
    facts = llamacpp.facts()
    assert facts["llama_cpp_python"] == llamacpp_build.PIN
    assert len(facts["flags"]) > 200 and sum(len(f["names"]) for f in facts["flags"].values()) > 400
    for name in ("--ctx-size", "--alias", "--jinja", "--n-gpu-layers", "--metrics", "--host", "--port", "-ngl"):
        assert llamacpp.canonical(name), name
    assert llamacpp.canonical("--n-gpu-layers") == llamacpp.canonical("-ngl") == "--gpu-layers"
    for name in [*llamacpp.GPU_ONLY_FLAGS, *llamacpp.LAB_SET_FLAGS]:
        assert f"--{name}" in facts["flags"], name
    for name in [*llamacpp.RESERVED_FLAGS, *llamacpp.SECRET_FLAGS]:
        assert llamacpp.canonical(name), name
    assert "-c" in facts["flags"]["--ctx-size"]["names"] and facts["flags"]["--jinja"]["value"] is None


def _load_edited(tmp_path: Path, old: str, new: str):
    text = EXAMPLE.read_text()
    assert old in text, old
    path = tmp_path / "edited.yaml"
    path.write_text(text.replace(old, new, 1))
    line = text[:text.index(old)].count("\n") + 1 + old.count("\n") - (1 if old.endswith("\n") else 0)
    with pytest.raises(DataInvalid) as caught:
        load(path)
    return str(caught.value), path, line


ARGS = "        metrics: true                   # /metrics, which `make status` reads\n"


@pytest.mark.parametrize("new, key, says", [
    ("        n-gpu-layer: 99\n", "n-gpu-layer", "did you mean n-gpu-layers"),
    ("        ngl: 99\n", "ngl", "write it out in full: gpu-layers or n-gpu-layers"),
    ("        ctx-size: 4096\n", "ctx-size", "set context_length instead"),
    ("        api-key: abc\n", "api-key", "would write a secret"),
    ("        jinja: false\n", "jinja", "is generated, not set here"),
    ("        embeddings: 3\n", "embeddings", "takes no value"),
    ("        threads: true\n", "threads", "takes a value"),
])
def test_a_wrong_flag_is_refused_at_its_file_line_and_key(tmp_path, new, key, says):
    message, path, _ = _load_edited(tmp_path, ARGS, ARGS + new)
    line = EXAMPLE.read_text().splitlines().index(ARGS.rstrip("\n")) + 2
    assert f"{path}:{line}: systems.pegasus.llamacpp.args.{key}: " in message, message
    assert says in message, message


@pytest.mark.parametrize("old, new, says", [
    ("    engine: llama.cpp ", "    image: gb10-community\n    engine: llama.cpp ", "image (the docker image vLLM runs in) is for vllm systems"),
    ("    engine: llama.cpp ", "    service_manager: docker-compose\n    engine: llama.cpp ", "llama.cpp runs under systemd here"),
    ("        - gpt-oss-120b-mxfp4-00002-of-00003.gguf\n", "", "the shards are not gpt-oss-120b-mxfp4's 3 files in order"),
    ("    llamacpp:\n", "    vllm_args: {dtype: auto}\n    llamacpp:\n", "vllm_args (vLLM's flags) is for vllm systems"),
])
def test_engine_fields_are_checked(tmp_path, old, new, says):
    message, _, _ = _load_edited(tmp_path, old, new)
    assert says in message, message


def test_every_engine_module_answers_for_the_example():
    s = DATA.systems["pegasus"]
    assert set(ENGINES) == {"vllm", "llama.cpp"}
    assert ENGINES["llama.cpp"].flag_names(s)[:5] == ["alias", "host", "port", "ctx-size", "jinja"]
    assert ENGINES["llama.cpp"].REASONING_FIELDS == ("reasoning_content",)
    assert ENGINES["llama.cpp"].reasoning_text({"reasoning_content": "thinking"}) == "thinking"
