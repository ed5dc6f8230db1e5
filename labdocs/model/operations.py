"""Host-side commands of the deploy procedure, built once from data: the QUICKSTART shows them and the
tests check them, so the page-cache drop, the memory check and the last-good record cannot drift apart.

GB10 facts behind them (lab-records.md, "GB10 operations"): unified memory counts the page cache as used,
so a vLLM started right after a long load can find too little free memory; nvidia-smi prints no memory
total there; an unbounded restart policy looped until the host needed a power cycle.
"""

from __future__ import annotations

import shlex

from labdocs.model.schema import LabData, System
from labdocs.engines import engine_of

LAST_GOOD = "docker-compose.yml.last-good"   # written only once the running file passed its health check
LAST_GOOD_IMAGE = "image.last-good"          # the image that file runs, kept by the maintenance prune
BACKUP_GLOB = "docker-compose.yml.2*"        # timestamped copies, one per deploy or rollback, never overwritten
# Expands on the host (GNU date). To the nanosecond: two copies in one second (a retried step) must not
# overwrite each other; fixed width, so `ls` lists them oldest first.
TIMESTAMP = "$(date -u +%Y%m%dT%H%M%S.%NZ)"
BACKUP_NAME = "YYYYmmddTHHMMSS.NNNNNNNNNZ"  # how the page spells the timestamp
SERVICE = "vllm"                             # the one compose service of every generated file (_compose.j2)
CONFIG_HASH_LABEL = "com.docker.compose.config-hash"   # compose's label: the service config a container was created from

# NVIDIA's DGX Spark playbook form.
DROP_PAGE_CACHE = "sudo sh -c 'sync; echo 3 > /proc/sys/vm/drop_caches'"


def fstab_line(data: LabData) -> str:
    nfs = data.infrastructure.nfs
    return f"{nfs.server}:{nfs.export} {nfs.mount_point} {nfs.fstype} {','.join(nfs.options)} 0 0"


def mount_command(data: LabData) -> str:
    nfs = data.infrastructure.nfs
    return f"sudo mount -t {nfs.fstype} {nfs.server}:{nfs.export} {nfs.mount_point} -o {','.join(nfs.options)}"


def boot_unit_name(key: str) -> str:
    return f"vllm-{key}.service"


def compose_location(service_dir: str) -> tuple[str, str]:
    """(WorkingDirectory, compose file relative to it) for systemd, which takes `~` alone, not `~/dir`."""
    if service_dir.startswith("~/"):
        return "~", f"{service_dir[2:].rstrip('/')}/docker-compose.yml"
    return service_dir, "docker-compose.yml"


def restart_policy(data: LabData) -> str:
    return f"on-failure:{data.infrastructure.container.restart_max_retries}"


def memory_check(system: System) -> str:
    """Exits non-zero unless MemFree covers what vLLM asks for: gpu-memory-utilization times the device's
    memory, which on GB10 is the host's unified memory (MemTotal, close to the ~121.7 GiB CUDA reports).
    MemFree, not MemAvailable: CUDA counts the page cache as used there."""
    util = engine_of(system).gpu_memory_utilization(system)
    program = (
        "/^MemTotal:/ {total = $2} /^MemFree:/ {free = $2} "
        'END {need = total * util; printf "MemFree %.1f GiB, vLLM asks for %.1f GiB (%s of %.1f GiB)\\n", '
        "free / 1048576, need / 1048576, util, total / 1048576; "
        'if (free < need) {print "not enough free memory: stop what holds it and drop the page cache"; exit 1}}'
    )
    return f"awk -v util={util:g} '{program}' /proc/meminfo"


def backup_running(service_dir: str) -> str:
    """Keep the running compose file under a timestamped name; earlier copies are never overwritten."""
    return (f'mkdir -p {service_dir} && cd {service_dir} && if [ -f docker-compose.yml ]; then '
            f'cp -p docker-compose.yml "docker-compose.yml.{TIMESTAMP}"; fi')


def start(system: System, service_dir: str) -> list[str]:
    """Stop the running vLLM (its memory is freed), drop the page cache, check free memory, start."""
    return [f"cd {service_dir} && docker compose down", DROP_PAGE_CACHE, memory_check(system), "docker compose up -d"]


def started_from_file() -> list[str]:
    """Fails, saying why, unless a running container was created from docker-compose.yml as it is now:
    compose labels each container with the hash of its service config, and `config --hash` computes the
    file's. After a failed start the old container may still answer /health; its file is not this one."""
    return [f"hash=$(docker compose config --hash {SERVICE} | cut -d' ' -f2)",
            f"if [ -z \"$(docker ps -q --filter label={CONFIG_HASH_LABEL}=$hash)\" ]; then "
            f"echo \"not recorded: the running container was not started from this docker-compose.yml "
            f"(did step 2 or 3 fail?)\" >&2; false; fi"]


def record_last_good(service_dir: str, health_url: str | None) -> str:
    """Written only after the running configuration answered its health check (the head's, for a worker
    checked from the head's step), and only if the running container was started from this file."""
    check = [f"curl -fsS --max-time 5 {health_url}"] if health_url else []
    return " \\\n  && ".join([f"cd {service_dir}", *check, *started_from_file(), f"cp docker-compose.yml {LAST_GOOD}",
                             f"docker compose config --images > {LAST_GOOD_IMAGE}",
                             f"echo \"last good: $(cat {LAST_GOOD_IMAGE})\""])


def rollback_image(key: str) -> str:
    """A local tag that keeps the last good image when its own tag moves (a rebuilt `latest`): a tagged
    image is never dangling, so the maintenance prune leaves it."""
    return f"lab-rollback:{key}"


def keep_image(service_dir: str, key: str) -> str:
    return (f'cd {service_dir} && docker image tag "$(cat {LAST_GOOD_IMAGE})" {rollback_image(key)} '
            f'&& echo "kept as {rollback_image(key)}"')


def restore_image(service_dir: str, key: str) -> str:
    """Point the last good file's image reference at the image that last worked."""
    return f'cd {service_dir} && docker image tag {rollback_image(key)} "$(cat {LAST_GOOD_IMAGE})"'


def restore_last_good(service_dir: str) -> str:
    return (f"cd {service_dir} && test -f {LAST_GOOD} && cp -p docker-compose.yml \"docker-compose.yml.{TIMESTAMP}\" "
            f"&& cp {LAST_GOOD} docker-compose.yml && docker compose config --images")


def over_ssh(alias: str, commands: list[str] | str) -> str:
    """`ssh ALIAS '...'`, or a quoted here-document when the commands hold quotes of their own (read as
    written on the host, with no nested quoting)."""
    if isinstance(commands, str):
        return f"ssh {alias} {shlex.quote(commands)}" if "'" not in commands else over_ssh(alias, [commands])
    if len(commands) == 1 and "'" not in commands[0]:
        return over_ssh(alias, commands[0])
    body = " \\\n  && ".join(commands)
    return f"ssh {alias} bash -s <<'EOF'\n{body}\nEOF"


def ray_check(view) -> str:
    """On the head: wait (bounded, as the operator's step) until Ray lists every node as active and counts
    every node's GPU, as NVIDIA's playbook checks with `ray status` ("2 nodes with available GPU resources")."""
    c, nodes, gpus = view.s.cluster, len(view.nodes), view.cluster_gpus
    status = f"docker exec {view.s.container_name} ray status 2>/dev/null"
    seen = (f"s=$({status}); [ \"$(printf '%s\\n' \"$s\" | grep -c '^ 1 node_')\" -eq {nodes} ] "
            f"&& printf '%s\\n' \"$s\" | grep -q '/{gpus}.0 GPU'")
    return (f"ok=; for _ in $(seq {max(1, c.ready_timeout_s // 10)}); do if {seen}; then ok=1; break; fi; sleep 10; done; "
            f"[ -n \"$ok\" ] && echo \"{nodes} nodes and {gpus} GPUs in the Ray cluster\"")


class Procedure:
    """The finished command text of one system's QUICKSTART host steps (templates compute nothing)."""

    def __init__(self, data: LabData, view) -> None:
        s, d = view.s, view.s.service_dir
        self.restart_policy = restart_policy(data)
        self.restart_max_retries = data.infrastructure.container.restart_max_retries
        self.memory_check = memory_check(s)
        self.gpu_memory_utilization = f"{engine_of(s).gpu_memory_utilization(s):g}"
        self.drop_page_cache = DROP_PAGE_CACHE
        self.backup = {n.ssh_alias: over_ssh(n.ssh_alias, backup_running(d)) for n in view.nodes}
        self.start = " \\\n  && ".join(start(s, d))
        self.start_worker = {w.ssh_alias: over_ssh(w.ssh_alias, start(s, d)) for w in view.workers}
        # Workers stop before the head: a worker whose head goes away exits with an error, and its bounded
        # restart policy would spend its tries on a head that is not there.
        self.stop_worker = {w.ssh_alias: over_ssh(w.ssh_alias, f"cd {d} && docker compose down") for w in view.workers}
        self.stop = f"cd {d} && docker compose down"
        self.ray_check = ray_check(view) if s.cluster else None
        self.record = record_last_good(d, f"{view.api_base}/health")
        self.rollback_image = rollback_image(view.key)
        self.keep_image = keep_image(d, view.key)
        self.record_worker = {w.ssh_alias: over_ssh(w.ssh_alias, f"{record_last_good(d, None)} \\\n  && {keep_image(d, view.key)}")
                              for w in view.workers}
        self.restore = restore_last_good(d)
        self.restore_image = restore_image(d, view.key)
        self.restore_worker = {w.ssh_alias: over_ssh(w.ssh_alias, f"{restore_last_good(d)} && {restore_image(d, view.key)}")
                               for w in view.workers}
        self.last_good, self.last_good_image, self.backups = LAST_GOOD, LAST_GOOD_IMAGE, BACKUP_GLOB
        self.backup_name = f"docker-compose.yml.{BACKUP_NAME}"
        # Start at boot, only once the weights' directory is mounted (fstab mounts the share with nofail).
        self.unit = boot_unit_name(view.key)
        self.unit_workdir, self.unit_compose_file = compose_location(d)
        self.fstab_line = fstab_line(data)
        self.install_unit = (f"sudo install -m 644 {d}/{self.unit} /etc/systemd/system/{self.unit} "
                             f"&& sudo systemctl daemon-reload && sudo systemctl enable {self.unit}")
        mount_point = data.infrastructure.nfs.mount_point
        mount_unit = f'"$(systemd-escape -p --suffix=mount {mount_point})"'
        self.check_boot = f"systemctl is-active {self.unit}" if s.weights == "local" else (
                           f"findmnt -t {data.infrastructure.nfs.fstype} {mount_point} >/dev/null "
                           f"&& mounted=$(systemctl show -P ActiveEnterTimestampMonotonic {mount_unit}) "
                           f"&& started=$(systemctl show -P ExecMainStartTimestampMonotonic {self.unit}) "
                           f'&& [ "$mounted" -gt 0 ] && [ "$started" -ge "$mounted" ] '
                           f'&& echo "{self.unit} started after {mount_point} was mounted"')
        # The bounded wait for /health, from the workstation: curl's own time limit and a counted loop
        # (a stock Mac has no GNU timeout).
        tries = max(1, view.wait_seconds // 10)
        health = f"curl -fsS --max-time 5 {view.api_base}/health"
        self.wait_tries = tries
        self.wait_timeout = tries * 15 + 15   # the doc-tests' limit for the block: each try is 5 s + 10 s at most
        self.wait = (f"for _ in $(seq {tries}); do {health} && break; sleep 10; done; "
                     f"{health} && echo healthy")


# --- llama.cpp under systemd (the lab's units from February 2026, lab-records.md "Where the lab went next") ---

def mount_unit(path: str) -> str:
    """systemd's name for the mount unit of a path, as `systemd-escape -p --suffix=mount PATH` prints it."""
    parts = [p for p in path.split("/") if p]
    out = []
    for part in parts:
        chars = []
        for i, ch in enumerate(part):
            keep = ch.isascii() and (ch.isalnum() or ch in ":_" or (ch == "." and i > 0))
            chars.append(ch if keep else "".join(f"\\x{b:02x}" for b in ch.encode()))
        out.append("".join(chars))
    return ("-".join(out) or "-") + ".mount"


# The commands the service user may run with sudo, no password, and nothing else (records: llm-agent's
# NOPASSWD rules). Paths are Ubuntu's (DGX OS): sudoers takes absolute paths only.
SYSTEMCTL, TEE, JOURNALCTL = "/usr/bin/systemctl", "/usr/bin/tee", "/usr/bin/journalctl"


def sudo_commands(unit: str) -> list[str]:
    name = unit.removesuffix(".service")
    return [*(f"{SYSTEMCTL} {verb} {name}" for verb in ("start", "stop", "restart", "status")),
            f"{SYSTEMCTL} daemon-reload", f"{TEE} /etc/systemd/system/{unit}", f"{JOURNALCTL} -u {name}"]


class SystemdProcedure:
    """The QUICKSTART's host steps for a server run by a systemd unit (llama.cpp's llama-server): the unit
    file is copied to the host, installed with `sudo tee` (the only way the sudo rules allow), and the last
    unit that passed its health check is kept; rolling back puts that unit, and with it the model it names,
    back. Every sudo command here is one of `sudo_commands`, which the generated sudoers drop-in allows."""

    def __init__(self, data: LabData, view) -> None:
        s, d = view.s, view.s.service_dir
        name = view.engine.UNIT
        self.unit_name, self.unit = name, f"{name}.service"
        self.unit_path = f"/etc/systemd/system/{self.unit}"
        self.sudoers_file, self.sudoers_target = f"{name}.sudoers", f"/etc/sudoers.d/{name}"   # no '.': sudo skips those
        self.sudo_commands = sudo_commands(self.unit)
        self.user = s.ssh.user
        self.restart_max_retries = data.infrastructure.container.restart_max_retries
        self.restart_sec = s.llamacpp.restart_sec if s.llamacpp else 10
        self.mount_unit = mount_unit(data.infrastructure.nfs.mount_point) if s.weights == "nfs" else None
        self.models_source = view.models_source
        tries = max(1, view.wait_seconds // 10)
        # The start limit: restart_max_retries failed starts within the time they take (each may load for the
        # whole wait before it fails) stop the unit for good, as the compose systems' on-failure:N does.
        self.start_limit_burst = self.restart_max_retries
        self.start_limit_interval_s = self.restart_max_retries * (view.wait_seconds + self.restart_sec)
        self.last_good = f"{self.unit}.last-good"
        self.backups = f"{self.unit}.2*"
        self.backup = over_ssh(s.ssh.alias, f'mkdir -p {d} && cd {d} && if [ -f {self.unit} ]; then '
                                            f'cp -p {self.unit} "{self.unit}.{TIMESTAMP}"; fi')
        self.copy = f"scp systems/{view.key}/{self.unit} {s.ssh.alias}:{d}/{self.unit}"
        self.install = (f"cd {d} && sudo tee {self.unit_path} < {self.unit} > /dev/null "
                        f"&& sudo systemctl daemon-reload && echo installed")
        self.restart = f"sudo systemctl restart {name}"
        self.stop = f"sudo systemctl stop {name}"
        self.status = f"sudo systemctl status {name}"
        self.logs = f"sudo journalctl -u {name} | tail -n 50"
        health = f"curl -fsS --max-time 5 {view.api_base}/health"
        self.wait_tries = tries
        self.wait_timeout = tries * 15 + 15
        self.wait = f"for _ in $(seq {tries}); do {health} && break; sleep 10; done; {health} && echo healthy"
        self.record = (f"cd {d} && {health} && cp {self.unit_path} {self.last_good} "
                       f"&& grep -o -- '--model [^ ]*' {self.last_good}")
        self.restore = (f"cd {d} && test -f {self.last_good} && cp -p {self.unit_path} \"{self.unit}.{TIMESTAMP}\" "
                        f"&& sudo tee {self.unit_path} < {self.last_good} > /dev/null "
                        f"&& sudo systemctl daemon-reload && sudo systemctl restart {name}")
        # Once, by an administrator (full sudo): the sudo rules, checked before they are installed, and
        # the unit enabled at boot.
        self.admin_copy = f"scp systems/{view.key}/{self.sudoers_file} systems/{view.key}/{self.unit} {s.ssh.alias}:{d}/"
        self.admin_install = (f"cd {d} && sudo visudo -cf {self.sudoers_file} "
                              f"&& sudo install -m 0440 -o root -g root {self.sudoers_file} {self.sudoers_target} "
                              f"&& sudo install -m 0644 {self.unit} {self.unit_path} "
                              f"&& sudo systemctl daemon-reload && sudo systemctl enable {name}")
        self.check_sudo = f"sudo -n -l {SYSTEMCTL} restart {name}"
        self.fstab_line = fstab_line(data)
        mount_point = data.infrastructure.nfs.mount_point
        self.check_boot = (f"findmnt -t {data.infrastructure.nfs.fstype} {mount_point} >/dev/null "
                           f"&& systemctl is-active {name}") if s.weights == "nfs" else f"systemctl is-active {name}"
