"""A lab of real vLLM (CPU) servers standing in for the documented systems.

Stdlib only at import time; torch/vLLM live in the lab venv (.lab/venv).
See lab/README.md.
"""
from .hosts import wrap, write_hosts_file
from .servers import Lab, LabError, ServerSpec, active_labs, build_models, load_specs, running_lab
from .venv import ensure_venv

__all__ = [
    "Lab", "LabError", "ServerSpec", "active_labs", "build_models", "ensure_venv", "load_specs",
    "running_lab", "wrap", "write_hosts_file",
]
