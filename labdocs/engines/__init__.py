"""Serving engines: one module per engine (vllm.py, llamacpp.py). Nothing else in labdocs knows an engine's flags,
parsers, endpoints or response shapes: it asks `engine_of(system)` and uses the names of `base.Engine`.

Adding an engine (llama.cpp's llama-server, issue 18): a module defining every name of base.INTERFACE, an
entry in ENGINES, and a data field naming a system's engine (`engine_of` reads `system.engine` when the
schema has one). tests/test_engines.py checks each registered module against the interface.
"""

from __future__ import annotations

from labdocs.engines import llamacpp, vllm
from labdocs.engines.base import INTERFACE, Endpoints, Engine, Problem

ENGINES: dict[str, Engine] = {vllm.NAME: vllm, llamacpp.NAME: llamacpp}
DEFAULT = vllm.NAME

__all__ = ["DEFAULT", "ENGINES", "INTERFACE", "Endpoints", "Engine", "Problem", "engine_of"]


def engine_of(system) -> Engine:
    """The engine that serves a system: the one its data names, else vLLM."""
    return ENGINES[getattr(system, "engine", None) or DEFAULT]
