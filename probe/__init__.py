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
status_document(records, target, run_url=None) -> {"checked_at", "target", ["run_url",] "systems": {...}}
write_status(path, doc) / load_status(path)                             data/status.json, atomic
append_history(path, doc, keep=500) / load_history(path, target=None)   data/status-history.jsonl
svg_history(history, metric) -> str                                    metric: decode_tokens_per_s, ttft_s, ...
bandwidth_ceiling(data, system) -> dict | None                          decode ceiling from bandwidth
exit_code(records) -> 0 | 1
"""

# Submodules load on first use: the site imports probe.ceiling and probe.store on every build, and
# needs neither httpx nor the probe's network code for that.
_HOME = {"svg_history": "chart", "Settings": "run", "live_urls": "run", "probe_all": "run",
         "probe_all_async": "run", "probe_system": "run", "status_document": "run",
         "bandwidth_ceiling": "ceiling", "describe_speed": "ceiling", "append_history": "store",
         "load_history": "store", "load_status": "store", "write_status": "store", "DRIFT_KINDS": "verdict",
         "exit_code": "verdict"}
__all__ = sorted(_HOME)


def __getattr__(name: str):
    if name not in _HOME:
        raise AttributeError(f"module 'probe' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f".{_HOME[name]}", __name__), name)
