"""Host-side blocks run as the operator runs them: from the workstation, in a checkout of this repository.
A block marked on=ID goes to the host over ssh with the documented alias, the block on stdin
(`ssh ALIAS bash -e -o pipefail -s`); every other block runs on the workstation (its ssh/scp reach the hosts).

The same evaluator serves the host stand-ins (lab.host_systems: `wrap` gives the lab's hosts file and ssh
config) and the real hosts (`wrap` is the identity). `static_reason` says why a block cannot run on a
stand-in at all (what truly needs a GPU, a kernel NFS client, systemd, or a part of the world outside that the
lab's world stand-in, lab.world_standin, does not serve).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from labdocs.doctests import console, fences
from labdocs.doctests.run import SHELL, Outcome, execute, why_unreachable
from labdocs.lab import nfs_standin, world_standin
from labdocs.model.schema import LabData

REMOTE = ["bash", "-e", "-o", "pipefail", "-s"]

PULL = re.compile(r"\bdocker\s+(compose\s+)?pull\b")
PULL_REASON = "pulls from a registry the lab does not stand in for"
# Not static on a stand-in that runs systemd as its init (static_reason's systemd argument).
SYSTEMD_REASON = "needs systemd as PID 1 (a host stand-in has no init)"
# What a host stand-in cannot be, and the blocks that need it (checked in this order; the first wins).
NEEDS = [
    (re.compile(r"\bnvidia-smi\b"), "needs a GPU (`nvidia-smi`)"),
    # (listing the runtimes is the check: the page expects `nvidia` among them)
    (re.compile(r"docker info\b.*(\bnvidia\b|\.Runtimes\b)"), "needs the NVIDIA container runtime"),
    (PULL, PULL_REASON),
    (re.compile(r"\bsystemctl\b|\bsystemd-"), SYSTEMD_REASON),
    # The build kit (vllm-gb10/): its dry runs and checks run on a stand-in; these do not.
    (re.compile(r"\bdocker\s+run\b[^\n]*\s--gpus\b"), "needs a GPU (`docker run --gpus all`)"),
    (re.compile(r"\./build\.sh\b(?![^\n]*\s--(dry-run|help)\b)"),
     "the CUDA build: compiles vLLM's kernels for the GB10 with the NGC base image's CUDA toolkit (the lab's "
     "stand-in of that image has none; 45-90 min on a GB10)"),
    (re.compile(r"\./run\.sh\b(?![^\n]*\s--(dry-run|help)\b)"),
     "needs a GPU: run.sh's trial checks `nvidia-smi` first, then starts `docker run --gpus all`"),
]
URL = re.compile(r"https?://([A-Za-z0-9.-]+)[^\s'\"`)]*")     # group 1: the host


@dataclass(frozen=True)
class Refusal:
    """A check for what a stand-in is not (a GPU, the NVIDIA runtime, the NFS share). It runs on the stand-in
    anyway, and must fail there as it fails on a host without that: a check that passes on a GPU-less VM
    would pass on any host, so it checks nothing. `exit`: its exit status then; `says`: what stderr says."""

    lacks: str
    exit: int
    says: str = ""

    def problem(self, outcome: Outcome) -> str | None:
        """None when the outcome is the refusal; else what the check did instead."""
        if outcome.timed_out:
            return f"killed at its timeout instead of refusing a host with {self.lacks}"
        if outcome.returncode == 0:
            return f"passed on a host stand-in with {self.lacks}: the check cannot tell such a host from a GB10"
        if outcome.returncode != self.exit or self.says not in outcome.stderr:
            return (f"exit status {outcome.returncode}, expected {self.exit}"
                    + (f" saying {self.says!r}" if self.says else "") + f" (a host with {self.lacks})")
        return None

    def reason(self) -> str:
        return f"refuses a host with {self.lacks}, as on a host without it: exit {self.exit}" + (
            f" ({self.says})" if self.says else "")


# Checks for what a stand-in is not: a block that starts with `nvidia-smi` (or, for the share, `findmnt -t
# nfs4`), or greps `docker info` for the nvidia runtime. What such a block does after the check runs only on a
# real host.
GPU_CHECK = re.compile(r"\A\s*nvidia-smi\b")
RUNTIME_CHECK = re.compile(r"\bdocker info\b[^\n]*\|\s*grep\b[^\n]*\bnvidia\b")

# Pages with host blocks that another piece of work runs, and why they are not run as pages on the stand-ins
# (their host blocks stay static, with this reason). None today: a page that assumes what no step of it makes
# gets it from a preparation (preparations.py) and runs as a procedure page.
NOT_HERE: dict[str, str] = {}


def _in_lab(host: str, domain: str) -> bool:
    """A URL's host the lab answers: a name under the lab's domain, or loopback (the workstation itself)."""
    if host.endswith("." + domain) or host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def static_reason(block: fences.Block, data: LabData, systemd: frozenset[str] | set[str] = frozenset(),
                  world: bool = True) -> str | None:
    """Why the block cannot run against a host stand-in, or None when it can. systemd: the systems whose
    stand-in runs systemd as its init (lab.standin_hosts, HostSpec.systemd): their blocks may use it. world:
    whether the stand-ins run with the lab's world stand-in (host_systems.running_systems does; a cluster's
    nodes do not), whose URLs and registry are then inside the lab."""
    domain = data.infrastructure.dns.domain
    # (a URL the lab's world stand-in answers is inside the lab: lab.world_standin)
    outside = sorted({m[1] for m in URL.finditer(block.code)
                      if not _in_lab(m[1], domain) and not (world and world_standin.serves(m[0], data))})
    if outside:
        return f"reaches outside the lab ({', '.join(outside)})"
    if nfs_standin.needs_kernel_nfs(block.code, data):
        return nfs_standin.KERNEL_NFS_REASON
    host = block.on or block.needs
    system = data.systems.get(host) if host else None
    image = data.images[system.image].ref if system and system.image in data.images else None
    return next((why for pattern, why in NEEDS if pattern.search(block.code)
                 and not (why == SYSTEMD_REASON and host and host in systemd)
                 and not (why == PULL_REASON and world and world_standin.pull_in_lab(block.code, image, data))), None)


def refusal(block: fences.Block, data: LabData) -> Refusal | None:
    """How a check for a GPU, the NVIDIA runtime or the mounted share must fail on a stand-in; None for a
    block that is no such check (an action that needs a GPU or the share stays static: static_reason)."""
    if GPU_CHECK.search(block.code):
        return Refusal("no GPU (no `nvidia-smi`)", 127, "nvidia-smi: command not found")
    if RUNTIME_CHECK.search(block.code):        # grep finds no nvidia among the runtimes
        return Refusal("no NVIDIA container runtime", 1)
    if nfs_standin.checks_kernel_nfs(block.code, data):     # findmnt -t nfs4 finds no such mount
        return Refusal(f"no {data.infrastructure.nfs.fstype} mount at {data.infrastructure.nfs.mount_point}", 1)
    return None


def section(markdown: str, page: str, heading: str) -> list[fences.Block]:
    """The runnable blocks (shell and console) under `## heading`, in page order."""
    lines = markdown.split("\n")
    start = lines.index(f"## {heading}") + 1
    end = next((i for i in range(start, len(lines)) if lines[i].startswith("## ")), len(lines))
    return [b for b in fences.blocks(page, markdown) if start < b.line <= end and b.lang in fences.RUNNABLE]


@dataclass
class HostTarget:
    """Where blocks run: `local` on the workstation, `on_host` over ssh. wrap(argv) gives the argv the
    lab's names and ssh config (the identity against the real hosts)."""

    wrap: Callable[[list[str]], list[str]]
    checkout: Path
    name: str = "hosts"

    def local(self, code: str, timeout: float) -> Outcome:
        return execute(self.wrap([*SHELL, code]), timeout, cwd=self.checkout)

    def on_host(self, alias: str, code: str, timeout: float) -> Outcome:
        return execute(self.wrap(["ssh", alias, *REMOTE]), timeout, stdin=code, cwd=self.checkout)

    def send(self, alias: str | None, code: str, timeout: float) -> Outcome:
        """On the host by its ssh alias, or on the workstation when alias is None."""
        return self.on_host(alias, code, timeout) if alias else self.local(code, timeout)

    def logs(self, systems: list[str], lines: int = 30) -> str:
        return ""       # a host's logs are read on the host, by the page's own `docker logs` step


@dataclass
class Result:
    block: fences.Block
    outcomes: list[Outcome] = field(default_factory=list)
    problem: str | None = None      # None: the block did what the page says

    @property
    def ok(self) -> bool:
        return self.problem is None

    @property
    def seconds(self) -> float:
        return sum(o.seconds for o in self.outcomes)

    def message(self, hosts: set[str] = frozenset()) -> str:
        """page:line, what went wrong, why it could not reach a host if that explains it, and the output."""
        last = self.outcomes[-1] if self.outcomes else None
        why = why_unreachable(self.block.code, last, hosts) if last else None
        return (f"{self.block.id}: {self.problem}\n" + (f"{why}\n" if why else "")
                + f"--- block\n{self.block.code}"
                + (f"--- stdout\n{last.stdout[-3000:]}--- stderr\n{last.stderr[-3000:]}" if last else ""))


def run(block: fences.Block, target: HostTarget, alias: str | None, refused: Refusal | None = None) -> Result:
    """Run a block as printed (a console block command by command, its output compared with the page's);
    alias: the ssh alias for a block marked on=, else None; refused: how the block must fail there instead."""
    result = Result(block)
    if refused:
        outcome = target.send(alias, block.code, block.timeout)
        result.outcomes.append(outcome)
        result.problem = refused.problem(outcome)
        return result
    steps = console.parse(block.code) if block.lang == "console" else [None]
    for step in steps:
        code = step.command if step else block.code
        outcome = target.send(alias, code, block.timeout)
        result.outcomes.append(outcome)
        expected = 0 if step else block.exit
        if outcome.timed_out:
            result.problem = f"killed after the {block.timeout:g} s timeout"
        elif outcome.returncode != expected:
            result.problem = f"exit status {outcome.returncode}, expected {expected}"
        elif step and not console.matches(step.expected, outcome.stdout):
            result.problem = (f"`{step.command}` printed other output than the page shows\n--- shown\n"
                              + "\n".join(step.expected))
        if result.problem:
            break
    return result


def run_in_order(blocks: list[fences.Block], target: HostTarget, alias: Callable[[fences.Block], str | None],
                 static: Callable[[fences.Block], str | None], report: PageReport | None = None,
                 refusal_of: Callable[[fences.Block], Refusal | None] | None = None) -> Result | None:
    """The blocks in order, as the operator runs them: a host block `refusal_of` gives a Refusal for runs and
    must be refused (counted refused); a block `static` gives a reason for is passed over (counted static);
    every other one runs (`alias(block)`: its ssh alias, None on the workstation). Stops at the first failure
    and returns its Result; None when every block did what the page says."""
    for block in blocks:
        refused = refusal_of(block) if refusal_of and block.on else None
        why = None if refused else static(block)
        if why:
            if report:
                report.static[block.id] = why
            continue
        result = run(block, target, alias(block), refused)
        if not result.ok:
            return result
        if report and refused:
            report.refused[block.id] = refused.reason()
        elif report:
            report.ran[block.id] = "host" if block.on else "workstation"
    return None


@dataclass
class PageReport:
    """Per page: which runnable blocks ran on a host stand-in or the workstation, which stayed static (why)."""

    page: str
    runnable: int = 0
    ran: dict[str, str] = field(default_factory=dict)        # block id -> "host" | "workstation"
    static: dict[str, str] = field(default_factory=dict)     # block id -> reason
    refused: dict[str, str] = field(default_factory=dict)    # block id -> the refusal it gave (Refusal.reason)
    skipped: dict[str, str] = field(default_factory=dict)    # block id -> the page's skip= reason
    not_in_procedure: list[str] = field(default_factory=list)

    @property
    def counted(self) -> set[str]:
        """The blocks this report accounts for (ran, refused, static or skip=)."""
        return {*self.ran, *self.refused, *self.static, *self.skipped}

    def lines(self) -> list[str]:
        hosts = sum(1 for w in self.ran.values() if w == "host")
        out = [f"{self.page}: {self.runnable} runnable, {len(self.ran)} ran ({hosts} on a host, "
               f"{len(self.ran) - hosts} from the workstation), "
               + (f"{len(self.refused)} refused (checks for what a stand-in is not), " if self.refused else "")
               + f"{len(self.static)} static, " + (f"{len(self.skipped)} skip=, " if self.skipped else "")
               + f"{len(self.not_in_procedure)} not in the procedure"]
        out += [f"  refused {bid}: {why}" for bid, why in sorted(self.refused.items(), key=lambda x: _line(x[0]))]
        out += [f"  static {bid}: {why}" for bid, why in sorted(self.static.items(), key=lambda x: _line(x[0]))]
        out += [f"  skip= {bid}: {why}" for bid, why in self.skipped.items()]
        out += [f"  not in the procedure: {bid}" for bid in self.not_in_procedure]
        return out


def _line(block_id: str) -> int:
    return int(block_id.rsplit(":", 1)[1])
