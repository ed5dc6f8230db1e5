"""A system served by several GB10 machines: what every node's container is told about the interconnect,
and the values every node must share. Both follow NVIDIA's DGX Spark playbook for vLLM on two Sparks
("Run on two Sparks", steps 4 and 5: the same `-e` list on the head and on the worker) and the community
build's `run-cluster-node.sh` (eugr/spark-vllm-docker), which sets the same list plus NCCL_IB_HCA.
"""

from __future__ import annotations

from labdocs.model.schema import LabData, System

# (variable, what it steers). Every one of them gets the interconnect's interface on every node.
INTERFACE_VARS = (
    ("NCCL_SOCKET_IFNAME", "NCCL's bootstrap and socket transport"),
    ("GLOO_SOCKET_IFNAME", "torch.distributed's Gloo groups (vLLM's CPU-side groups)"),
    ("TP_SOCKET_IFNAME", "TensorPipe (torch RPC)"),
    ("UCX_NET_DEVICES", "UCX"),
    ("OMPI_MCA_btl_tcp_if_include", "Open MPI's TCP transport"),
)

# What a worker may restate and the head's value it must equal: (worker field, the head's key path, getter).
SHARED = (
    ("ray_port", ("cluster", "ray_port"), lambda s: s.cluster.ray_port),
    ("interface", ("cluster", "interface"), lambda s: s.cluster.interface),
    ("tensor_parallel_size", ("cluster", "tensor_parallel_size"), lambda s: s.cluster.tensor_parallel_size),
    ("pipeline_parallel_size", ("cluster", "pipeline_parallel_size"), lambda s: s.cluster.pipeline_parallel_size),
    ("model_snapshot", ("model", "snapshot"), lambda s: s.model.snapshot),
    ("image", ("image",), lambda s: s.image),
)


def port_of(data: LabData, system: System):
    """The platform's interconnect port the cluster's interface belongs to (by either twin name), or None."""
    platform = data.platforms.get(system.hardware.platform)
    ports = platform.interconnect.ports if platform and platform.interconnect else []
    return next((p for p in ports if system.cluster.interface in (p.interface, p.twin)), None)


def node_env(data: LabData, system: System, address: str) -> list[tuple[str, str, str]]:
    """(variable, value, comment) for one node's container, in the playbook's order of concerns: this node,
    the head, the interface of every transport, RDMA devices, Ray's memory monitor."""
    c = system.cluster
    env = [("VLLM_HOST_IP", address, "this node on the interconnect"),
           ("MASTER_ADDR", c.head_address, "the head, on every node")]
    env += [(name, c.interface, what) for name, what in INTERFACE_VARS]
    port = port_of(data, system)
    if port:
        env.append(("NCCL_IB_HCA", ",".join(port.rdma_devices), "RoCE devices of that port, both twins"))
    env.append(("RAY_memory_monitor_refresh_ms", "0",
                "unified memory: Ray would count GPU weights as host memory and kill workers"))
    return env


def declared_gpus(system: System) -> list[int]:
    """The GPUs each node declares, head first (None where the head does not declare them)."""
    return [system.gpus, *(w.gpus for w in system.cluster.workers)]
