"""The engine interface: the names every engine module (labdocs/engines/<name>.py) defines.

Engines read systems duck-typed (system.port, .tool_calling, ...) and import nothing from labdocs.model:
this is the layer below it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import NamedTuple, Protocol

Problem = tuple[tuple, str, "str | None"]   # (key path, message, hint), as labdocs.model.rules yields them


class Endpoints(NamedTuple):
    """Paths a server answers: liveness, version, the served models, Prometheus metrics, chat."""
    health: str
    version: str | None
    models: str
    metrics: str | None
    chat: str


class Engine(Protocol):
    """What an engine module defines (module-level names)."""

    NAME: str
    ENDPOINTS: Endpoints
    REASONING_FIELDS: tuple[str, ...]       # where a chat message or delta carries reasoning text
    GPU_ONLY_FLAGS: Mapping[str, str]       # flag -> why the CPU lab drops it
    LAB_SET_FLAGS: set[str]                 # flags the lab sets itself
    VERSION_FIELD: str                      # the field of ENDPOINTS.version's JSON that names the build
    CONTEXT_KEY: tuple[str, ...]            # where a /v1/models entry says the served context
    METRIC_PREFIX: str                      # the prefix of the server's own Prometheus series

    def serve_argv(self, system, models_root: str | None = None) -> list[str]: ...  # the command that starts the server
    def serve_flags(self, system) -> list[str]: ...         # its flags
    def flag_names(self, system) -> list[str]: ...
    def problems(self, data, key: str, system) -> Iterator[Problem]: ...   # engine rules on the data
    def reads(self, parser: str, families: Mapping) -> tuple[str, ...]: ...  # formats a parser parses
    def client_format(self, parser: str, family) -> str: ...  # what a client sees for a family's calls
    def reasoning_text(self, message: Mapping) -> str: ...
    def gpu_memory_utilization(self, system) -> float: ...
    def version_of(self, data, system): ...   # the data's row for the engine version a system runs, or None
    def model_id(self, system, served_path: str) -> str: ...  # the id the server reports (vLLM: the served path)
    def metrics_enabled(self, system) -> bool: ...  # whether ENDPOINTS.metrics answers for this system


INTERFACE = tuple(name for name in (*Engine.__annotations__, *vars(Engine)) if not name.startswith("_"))
