"""Observed status: probe the documented vLLM systems (or the loopback lab) and record what they answer.

    python -m probe [--target lab|live] [--system ID ...] [--out data/status.json]
                    [--history data/status-history.jsonl] [--data data/systems.yaml]

Public API
----------
probe_system(key, system, base_url, settings, progress=None) -> dict    (async) one system's record
probe_all(data, base_urls, settings=None, progress=None, only=None) -> list[dict]
probe_all_async(...)                                                    same, awaitable
Settings.from_data(data, target="live"|"lab", **overrides)              timeouts, prompt, tolerances
live_urls(data) -> {key: "http://HOST:PORT"}
status_document(records, target) -> {"checked_at", "target", "systems": {key: record}}
write_status(path, doc) / load_status(path)                             data/status.json, atomic
append_history(path, doc, keep=500) / load_history(path, target=None)   data/status-history.jsonl
svg_history(history, metric) -> str                                    metric: decode_tokens_per_s, ttft_s, ...
bandwidth_ceiling(data, system) -> dict | None                          decode ceiling from bandwidth
exit_code(records) -> 0 | 1
"""

from .chart import svg_history
from .run import Settings, live_urls, probe_all, probe_all_async, probe_system, status_document
from .speed import bandwidth_ceiling, describe_speed
from .store import append_history, load_history, load_status, write_status
from .verdict import DRIFT_KINDS, exit_code

__all__ = [
    "DRIFT_KINDS", "Settings", "append_history", "bandwidth_ceiling", "describe_speed", "exit_code",
    "live_urls", "load_history", "load_status", "probe_all", "probe_all_async", "probe_system",
    "status_document", "svg_history", "write_status",
]
