"""Observed status: probe the documented systems (vLLM or llama.cpp's llama-server; or the loopback lab) and record what they answer.

    python -m labdocs.probe [--target lab|live] [--system ID ...] [--out data/status.json]
                    [--history data/status-history.jsonl] [--data data/systems.yaml]

Where things are (import them from their modules; this package re-exports nothing, so that the site, which
needs only probe.toolformat, does not load httpx and the network code):
run.py       probe_system (async), probe_all, probe_all_async, Settings.from_data, live_urls, status_document
verdict.py   DRIFT_KINDS, exit_code(records) -> 0 | 1
labdocs.observed.store   write_status / load_status, append_history / load_history (data/status*.json*)
labdocs.observed.chart   svg_history(history, metric)
labdocs.observed.records the records the probe writes and STATUS reads: SystemRecord, Status, HistoryLine
labdocs.model.ceiling    bandwidth_ceiling(data, system), describe_speed
"""
