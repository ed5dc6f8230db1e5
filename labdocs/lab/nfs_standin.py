"""The model share's server as a host stand-in, from the data: `infrastructure.nfs.server` (flashstore) exporting
`infrastructure.nfs.export` read-only to the lab's network, holding the lab's model tree in the layout the docs
use (the Hugging Face cache of labdocs/hf_cache.py, from `.lab/models`; the share's extra folders from `.lab/share`).

It runs with the other host stand-ins (lab.standin_hosts: nfs-ganesha and an rpcbind of its own in its
namespaces). What cannot run here is the mount: this machine's kernel has no NFS client, so blocks that
mount the share or look it up in the mount table (`mount -t nfs4`, `findmnt -t nfs4 /mnt/models`) stay
static, with KERNEL_NFS_REASON.
"""

from __future__ import annotations

import re
from pathlib import Path

from labdocs.lab.standin_hosts import HostSpec
from labdocs.paths import ROOT

KERNEL_NFS_REASON = "no kernel NFS client on the lab machine: the share cannot be mounted there"


def model_tree(root: Path = ROOT) -> list[Path]:
    """The folders whose entries the export holds: the lab's tiny models (hub cache layout, built by
    lab.servers.build_models) and the share's extra folders (model_families.*.offline_files)."""
    return [root / ".lab" / "models", root / ".lab" / "share"]


def server_spec(data, root: Path = ROOT) -> HostSpec:
    """The NFS server's stand-in: no docker, no sshd (the docs never log in to it), only the export."""
    nfs = data.infrastructure.nfs
    return HostSpec(name=nfs.server.split(".")[0], hostname=nfs.server, sshd=False, docker=False, sudo=False,
                    nfs_exports={nfs.export: [str(p) for p in model_tree(root)]})


def kernel_nfs_client(filesystems: Path = Path("/proc/filesystems")) -> bool:
    """Whether this machine's kernel can mount NFS (an `nfs` or `nfs4` line in /proc/filesystems)."""
    return any(line.split()[-1] in ("nfs", "nfs4") for line in filesystems.read_text().splitlines() if line.strip())


def needs_kernel_nfs(code: str, data) -> bool:
    """Whether a block mounts the share or checks it in the mount table (what only a kernel NFS client can do)."""
    nfs = data.infrastructure.nfs
    point = re.escape(nfs.mount_point)
    return bool(re.search(rf"\bmount\b[^\n;&|]*(-t\s+{nfs.fstype}\b|{re.escape(nfs.server)}:|\s{point}(\s|$))"
                          rf"|\bfindmnt\b[^\n;&|]*(-t\s+{nfs.fstype}\b|\s{point}(\s|$))", code, re.M))


def checks_kernel_nfs(code: str, data) -> bool:
    """Whether a block's first command checks the mount table for the share by its type (`findmnt -t nfs4`):
    on a stand-in, whose /mnt/models is a local folder, it must find nothing (host_blocks.refusal)."""
    nfs = data.infrastructure.nfs
    return bool(re.match(rf"\s*findmnt\b[^\n;&|]*-t\s+{nfs.fstype}\b", code))
