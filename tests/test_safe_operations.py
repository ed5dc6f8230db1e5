"""Issue 14: nothing the generated procedures run can wedge a GB10 host. Bounded restarts in every compose
file, a page-cache drop and a free-memory check before every start, read the way vLLM reads memory there."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
import yaml

from conftest import ROOT
from labdocs.doctests import fences
from labdocs.model import operations
from labdocs.model.loader import load
from labdocs.render.views import render_all
from labdocs.model.schema import LabData

SOURCES = [ROOT / "data" / "systems.yaml", *sorted((ROOT / "data" / "examples").glob("*.yaml"))]
RENDERED = {path.name: (load(path), render_all(load(path))) for path in SOURCES}
START = re.compile(r"docker\s+compose\s+(up|start|restart)\b|docker\s+(start|restart)\b")


def _compose_systems(data: LabData) -> list[str]:
    """The systems these rules are about: vLLM in docker compose (a llama.cpp system runs under systemd:
    tests/test_llamacpp.py checks its unit, sudo rules and steps)."""
    return [key for key, s in data.systems.items() if s.engine == "vllm"]


def _quickstart_blocks():
    for name, (data, files) in RENDERED.items():
        for key in _compose_systems(data):
            page = f"systems/{key}/QUICKSTART.md"
            for block in fences.blocks(page, files[page]):
                yield name, data, key, block


def test_no_compose_file_restarts_without_bound():
    for name, (data, files) in RENDERED.items():
        composes = {p: t for p, t in files.items() if re.fullmatch(r"systems/[\w-]+/docker-compose[\w.-]*\.yml", p)}
        assert composes, name
        for path, text in composes.items():
            policy = yaml.safe_load(text)["services"]["vllm"]["restart"]
            assert policy == f"on-failure:{data.infrastructure.container.restart_max_retries}", (name, path, policy)


def test_no_template_or_generated_file_uses_an_unbounded_policy():
    unbounded = re.compile(r"restart:\s*\"?(always|unless-stopped)\b|--restart[ =](always|unless-stopped)\b")
    # Configuration and scripts only: pages may quote the old policy when they explain why it is gone.
    for path in [*ROOT.glob("templates/system/*compose*.j2"), *ROOT.glob("systems/*/*.yml"), *ROOT.glob("vllm-gb10/*.sh")]:
        if path.is_file():
            assert not unbounded.search(path.read_text(errors="replace")), path


def test_every_start_is_preceded_by_the_cache_drop_and_the_memory_check():
    starts = 0
    for name, _data, _key, block in _quickstart_blocks():
        match = START.search(block.code)
        if not match or block.lang not in fences.SHELL:
            continue
        starts += 1
        before = block.code[:match.start()]
        # Workers' blocks quote the same commands for ssh; compare the words, not the quoting.
        flat = before.replace("'\"'\"'", "'")
        assert block.disruptive, block.id
        assert operations.DROP_PAGE_CACHE in flat, f"{name} {block.id}: no page-cache drop before the start"
        assert "/proc/meminfo" in before and "MemFree" in before, f"{name} {block.id}: no free-memory check"
        assert re.search(r"docker\s+compose\s+down", before), f"{name} {block.id}: vLLM is not stopped first"
    # pegasus, stella (start + rollback each), the two-node head and worker (start + rollback each), ...
    assert starts >= 2 * sum(len(_compose_systems(d)) for d, _ in RENDERED.values())


def test_no_prerequisite_reads_the_memory_total_nvidia_smi_cannot_show_on_gb10():
    for name, _data, _key, block in _quickstart_blocks():
        assert "memory.total" not in block.code, f"{name} {block.id}: nvidia-smi prints [N/A] for it on GB10"


def _variant(data: LabData, key: str, util: float) -> LabData:
    raw = data.model_dump(mode="json")
    raw["systems"][key]["vllm_args"]["gpu-memory-utilization"] = util
    return LabData.model_validate(raw)


def _meminfo_kib(field: str) -> int:
    text = open("/proc/meminfo").read()
    return int(re.search(rf"^{field}:\s+(\d+) kB", text, re.M).group(1))


@pytest.mark.parametrize("util", [0.05, 0.9, 1.0])
def test_the_memory_prerequisite_reads_memfree_against_what_vllm_asks(util):
    """The prerequisite's block as generated, run for real on this machine's /proc/meminfo (no GPU here:
    the nvidia-smi half is left out). 1.0 cannot fit (MemFree < MemTotal), so the check must refuse it."""
    data = _variant(load(), "stella", util)
    page = render_all(data)["systems/stella/QUICKSTART.md"]
    [block] = [b for b in fences.blocks("q", page) if b.on and "/proc/meminfo" in b.code and "nvidia-smi" in b.code]
    awk = block.code.split("&&", 1)[1].strip()
    result = subprocess.run(["bash", "-c", awk], capture_output=True, text=True, timeout=10)
    shown = re.search(r"MemFree ([\d.]+) GiB, vLLM asks for ([\d.]+) GiB \(([\d.]+) of ([\d.]+) GiB\)", result.stdout)
    assert shown, result.stdout + result.stderr
    free, need, shown_util, total = (float(x) for x in shown.groups())
    assert total == round(_meminfo_kib("MemTotal") / 2**20, 1) and float(shown_util) == util
    assert need == pytest.approx(total * util, abs=0.1)
    assert result.returncode == (1 if free < need else 0), result.stdout
    if util == 1.0:
        assert result.returncode == 1 and "not enough free memory" in result.stdout
    if util == 0.05 and _meminfo_kib("MemFree") > 0.2 * _meminfo_kib("MemTotal"):
        assert result.returncode == 0, result.stdout


# --- pruning keeps what rollback needs -------------------------------------------------------------

@pytest.mark.parametrize("code, refused", [
    ("docker image prune -a -f", True),
    ("docker image prune -af", True),
    ("docker system prune --all --force", True),
    ("docker image rm vllm-gb10:v0.15.1-pytorch25.12", True),
    ("docker image prune -f", False),
    ("docker image rm lab-rollback:stella", True),
    ("docker image rm vllm-gb10:v0.14.0-old", False),
])
def test_the_prune_rule_refuses_deleting_rollback_images(code, refused):
    from labdocs.doctests import static

    block = fences.Block("p.md", 3, "bash", code + "\n", {"on": "any"})
    problems = static.deletes_rollback_images(block, "# P\n\n```bash\n" + code + "\n```\n", static.Known(load()))
    assert bool(problems) == refused, problems


@pytest.mark.parametrize("above, refused", [("Reclaim the cache.", True),
                                            ("Reclaim the cache; the next build takes 45-90 min again.", False)])
def test_a_build_cache_prune_must_say_its_cost(above, refused):
    from labdocs.doctests import static

    page = f"# P\n\n{above}\n\n```bash {{on=any disruptive=true}}\ndocker builder prune -f\n```\n"
    block = fences.blocks("p.md", page)[0]
    assert bool(static.deletes_rollback_images(block, page, static.Known(load()))) == refused


def test_the_last_good_image_is_kept_under_its_own_tag_and_put_back_on_rollback():
    """A moving tag (pegasus runs `vllm-gb10:latest`) would leave the last good image dangling after a
    rebuild, and the dangling-only prune would then delete it; a tag of its own keeps it."""
    for name, (data, files) in RENDERED.items():
        for key in _compose_systems(data):
            page = files[f"systems/{key}/QUICKSTART.md"]
            steps, rollback = page.split("## Steps")[1].split("## Rollback")
            rollback = rollback.split("## Troubleshooting")[0]
            tag = operations.rollback_image(key)
            assert steps.index(operations.LAST_GOOD) < steps.index(f'"$(cat {operations.LAST_GOOD_IMAGE})" {tag}'), (name, key)
            assert rollback.index(f"cp {operations.LAST_GOOD} docker-compose.yml") \
                < rollback.index(f'docker image tag {tag} "$(cat {operations.LAST_GOOD_IMAGE})"') \
                < rollback.index("docker compose up -d"), (name, key)


# --- start after storage ---------------------------------------------------------------------------

def _unit(text: str) -> dict[str, dict[str, str]]:
    import configparser

    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str
    parser.read_string(text)
    return {s: dict(parser[s]) for s in parser.sections()}


def test_each_system_has_a_boot_unit_that_waits_for_its_weights():
    from labdocs.model.operations import boot_unit_name
    from labdocs.render.views import system_views

    for name, (data, files) in RENDERED.items():
        nfs = data.infrastructure.nfs
        for view in system_views(data):
            if view.key not in _compose_systems(data):
                continue
            unit = _unit(files[f"systems/{view.key}/{boot_unit_name(view.key)}"])
            assert unit["Unit"]["RequiresMountsFor"] == view.models_source, (name, view.key)
            assert "docker.service" in unit["Unit"]["Requires"] and "docker.service" in unit["Unit"]["After"]
            workdir, ws = unit["Service"]["WorkingDirectory"], unit["Service"]["ExecStart"]
            compose = re.fullmatch(r"/usr/bin/docker compose -f (\S+) up -d", ws).group(1)
            assert f"{workdir}/{compose}" == f"{view.s.service_dir}/docker-compose.yml"
            assert unit["Service"]["User"] == view.s.ssh.user
            page = files[f"systems/{view.key}/QUICKSTART.md"]
            if view.s.weights == "nfs":
                # the fstab line it depends on is shown, mounts that directory, and says nofail
                [line] = [ln for ln in page.splitlines() if ln.startswith(f"{nfs.server}:{nfs.export} ")]
                assert line.split()[1] == view.models_source and "nofail" in line.split()[3]
            assert f"systemctl enable {boot_unit_name(view.key)}" in page


SYSTEMD_ANALYZE = shutil.which("systemd-analyze")


@pytest.fixture(scope="module")
def systemd_root(tmp_path_factory):
    """A root for `systemd-analyze verify`: systemd's own units, docker's unit and client, and python3,
    where the generated units expect them (this machine runs no docker service)."""
    if not SYSTEMD_ANALYZE:
        pytest.fail("systemd-analyze is missing: `make system-deps` installs systemd", pytrace=False)
    root = tmp_path_factory.mktemp("systemd-root")
    shutil.copytree("/usr/lib/systemd/system", root / "usr/lib/systemd/system", symlinks=True)
    (root / "usr/bin").mkdir(parents=True)
    for tool in ("docker", "python3"):        # python3: the docs site's unit (docs-site/)
        (root / "usr/bin" / tool).write_text("#!/bin/sh\n")
        (root / "usr/bin" / tool).chmod(0o755)
    (root / "etc/systemd/system").mkdir(parents=True)
    (root / "etc/systemd/system/docker.service").write_text("[Service]\nExecStart=/usr/bin/docker\n")
    return root


def _verify(root, name: str, text: str) -> subprocess.CompletedProcess:
    (root / "etc/systemd/system" / name).write_text(text)
    return subprocess.run([SYSTEMD_ANALYZE, "verify", "--man=no", f"--root={root}", f"/etc/systemd/system/{name}"],
                          capture_output=True, text=True, timeout=60)


def test_the_boot_units_pass_systemd_analyze_verify(systemd_root):
    for name, (_data, files) in RENDERED.items():
        for path, text in files.items():
            if path.endswith(".service") and not path.endswith("/llama-server.service"):   # test_llamacpp.py
                result = _verify(systemd_root, path.rsplit("/", 1)[1], text)
                assert result.returncode == 0 and not result.stderr.strip(), (name, path, result.stderr)
    typo = RENDERED["systems.yaml"][1]["systems/stella/vllm-stella.service"].replace("RequiresMountsFor", "RequiresMountFor")
    result = _verify(systemd_root, "typo.service", typo)
    assert "Unknown key 'RequiresMountFor'" in result.stderr  # the check can fail


# --- workstation-aware blocks ---------------------------------------------------------------------

@pytest.mark.parametrize("code, page_says, refused", [
    ("getent hosts stella.home.arpa", "", "no install line"),
    ("timeout 900 sh -c 'until curl -fsS http://x/health; do sleep 10; done'", "", "no install line"),
    ("sh -c 'getent hosts x'", "", "getent"),                  # inside a script handed to sh -c
    ("curl -s http://x/v1/models | jq -r .data", "", "brew install jq"),
    ("curl -s http://x/v1/models | jq -r .data", "Needs jq: `brew install jq`.", None),
    ("for _ in $(seq 3); do curl -fsS --max-time 5 http://x/health && break; sleep 10; done", "", None),
    ("ping -c 1 stella.home.arpa", "", None),
])
def test_the_workstation_check_refuses_what_a_stock_mac_lacks(code, page_says, refused):
    from labdocs.doctests import workstation

    page = f"# P\n\n{page_says}\n\n```bash\n{code}\n```\n"
    block = fences.blocks("p.md", page)[0]
    problems = workstation.missing(block, page, "macos")
    if refused is None:
        assert not problems, problems
    else:
        assert problems and refused in problems[0], problems
    # a host block is the host's business
    assert not workstation.missing(fences.Block("p.md", 1, "bash", code, {"on": "stella"}), page, "macos")


@pytest.mark.parametrize("code, needs", [
    ("cd ~/vllm-service && docker compose config --quiet", None),
    ("curl -fsS --max-time 5 http://stella.home.arpa:8000/health", None),
    ("docker image inspect vllm-gb10:latest --format ok", None),
    ("sudo sh -c 'sync; echo 3 > /proc/sys/vm/drop_caches'", None),
    ("mkdir -p /mnt/models/tiktoken", None),
    # the world outside answers what the pages fetch (lab.world_standin), nothing else
    ("curl -fsSL -o x https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken", None),
    ("curl -fsSL -o x https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken", "outside the lab"),
    ("curl -fsS http://127.0.0.1:8000/ http://localhost:8000/", None),     # loopback is the lab (the README's)
    ("curl -fsS http://127.0.0.2.example.org/", "outside the lab (127.0.0.2.example.org)"),
    ("nvidia-smi --query-gpu=name --format=csv,noheader", "a GPU"),
    ("docker compose version && docker info | grep -i runtimes | grep -q nvidia", "NVIDIA container runtime"),
    ("findmnt -t nfs4 /mnt/models", "no kernel NFS client"),
    ("cd ~/vllm-service && docker compose pull", None),             # stella's image: in the lab's registry
    ("docker pull ghcr.io/someone/image:1", "registry"),
    ("sudo systemctl daemon-reload", "systemd"),
])
def test_a_host_stand_in_runs_all_but_what_needs_the_real_hardware(code, needs):
    """A host stand-in has a docker engine, root (sudo), /mnt/models and its own /proc files: only a GPU, the
    NVIDIA runtime, a kernel NFS client, systemd, a registry and addresses outside the lab that the lab's world
    stand-in does not serve keep a block static."""
    from labdocs.doctests import host_blocks

    from labdocs.model.loader import load

    why = host_blocks.static_reason(fences.Block("p.md", 1, "bash", code + "\n", {"on": "stella"}), load())
    assert (why is None) if needs is None else (needs in why), why


def test_backups_made_within_one_second_are_all_kept(tmp_path):
    """Step 1's backup, run three times as fast as bash can (a retried step): three copies, listed oldest first.
    Three runs inside one second fall at least twice into the same second, so names to the second collide."""
    service = tmp_path / "vllm-service"
    script = []
    for n in range(3):
        script += [f"echo {n} > {service}/docker-compose.yml" if n else f"mkdir -p {service} && echo 0 > {service}/docker-compose.yml",
                   operations.backup_running(str(service))]
    started = subprocess.run(["date", "+%s"], capture_output=True, text=True).stdout
    out = subprocess.run(["bash", "-e", "-c", "\n".join(script)], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    took = int(subprocess.run(["date", "+%s"], capture_output=True, text=True).stdout) - int(started)
    copies = sorted(service.glob(operations.BACKUP_GLOB))
    assert took <= 1 and [p.read_text() for p in copies] == ["0\n", "1\n", "2\n"], [p.name for p in copies]
