"""The loopback lab: real vLLM (CPU) servers and host stand-ins for the documented systems.

Stdlib only at import time; torch/vLLM live in the lab venv (.lab/venv).
See labdocs/lab/README.md.
"""
from labdocs.lab.hosts import wrap, write_hosts_file
from labdocs.lab.servers import Lab, LabError, ServerSpec, active_labs, build_models, load_specs, running_lab
from labdocs.lab.venv import ensure_venv

__all__ = [
    "Lab", "LabError", "ServerSpec", "active_labs", "build_models", "ensure_venv", "load_specs",
    "running_lab", "wrap", "write_hosts_file",
]
