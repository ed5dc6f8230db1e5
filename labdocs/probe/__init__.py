"""Observed status: probe the documented vLLM systems (or the loopback lab) and record what they answer.

    python -m labdocs.probe [--target lab|live] [--system ID ...] [--out data/status.json]
                    [--history data/status-history.jsonl] [--data data/systems.yaml]

Public API
----------
probe_system(key, system, base_url, settings, progress=None) -> SystemRecord   (async) one system's record
probe_all(data, base_urls, settings=None, progress=None, only=None) -> list[SystemRecord]
probe_all_async(...)                                                    same, awaitable
Settings.from_data(data, target="live"|"lab", **overrides)              timeouts, prompt, tolerances
live_urls(data) -> {key: "http://HOST:PORT"}
status_document(records, target, run_url=None) -> Status               what data/status.json holds
write_status(path, doc) / load_status(path)                             data/status.json, atomic
append_history(path, doc, keep=500) / load_history(path, target=None)   data/status-history.jsonl
(the records, Status and HistoryLine: labdocs/observed/records.py)
svg_history(history, metric) -> str                                    metric: decode_tokens_per_s, ttft_s, ...
bandwidth_ceiling(data, system) -> dict | None                          decode ceiling from bandwidth
exit_code(records) -> 0 | 1
"""

# Submodules load on first use: the site imports probe.ceiling and probe.store on every build, and
# needs neither httpx nor the probe's network code for that.
_HOME = {"svg_history": "labdocs.observed.chart", "Settings": "labdocs.probe.run",
         "live_urls": "labdocs.probe.run", "probe_all": "labdocs.probe.run", "probe_all_async": "labdocs.probe.run",
         "probe_system": "labdocs.probe.run", "status_document": "labdocs.probe.run",
         "bandwidth_ceiling": "labdocs.model.ceiling", "describe_speed": "labdocs.model.ceiling",
         "append_history": "labdocs.observed.store", "load_history": "labdocs.observed.store",
         "load_status": "labdocs.observed.store", "write_status": "labdocs.observed.store",
         "DRIFT_KINDS": "labdocs.probe.verdict", "exit_code": "labdocs.probe.verdict"}
__all__ = sorted(_HOME)


def __getattr__(name: str):
    if name not in _HOME:
        raise AttributeError(f"module 'labdocs.probe' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(_HOME[name]), name)
