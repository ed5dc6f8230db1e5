"""vLLM's Prometheus /metrics, parsed with prometheus_client's text parser and reduced to a few numbers.

Metric names moved across vLLM versions; each value below is read from the first name in its list that
the server exports (all label sets summed, or the max for fractions), and the record says which name it
came from.
"""

from __future__ import annotations

from collections import defaultdict

from prometheus_client.parser import text_string_to_metric_families

# llama.cpp's llama-server names (with --metrics) follow vLLM's in each list.
RUNNING = ["vllm:num_requests_running", "llamacpp:requests_processing"]
WAITING = ["vllm:num_requests_waiting", "llamacpp:requests_deferred"]
# Fractions 0..1. kv_cache_usage_perc since the V1 engine (~0.10); gpu_/cpu_ before that.
KV_USAGE = ["vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc", "vllm:cpu_cache_usage_perc"]
GENERATION_TOKENS = ["vllm:generation_tokens_total", "vllm:generation_tokens", "llamacpp:tokens_predicted_total"]
PROMPT_TOKENS = ["vllm:prompt_tokens_total", "vllm:prompt_tokens", "llamacpp:prompt_tokens_total"]
# Prefix cache: hits/queries counters (V1: prefix_cache_*, early V1: gpu_prefix_cache_*), or the
# V0 engine's ready-made hit-rate gauge.
PREFIX_HITS = ["vllm:prefix_cache_hits_total", "vllm:gpu_prefix_cache_hits_total",
               "vllm:prefix_cache_hits", "vllm:gpu_prefix_cache_hits"]
PREFIX_QUERIES = ["vllm:prefix_cache_queries_total", "vllm:gpu_prefix_cache_queries_total",
                  "vllm:prefix_cache_queries", "vllm:gpu_prefix_cache_queries"]
PREFIX_HIT_RATE = ["vllm:gpu_prefix_cache_hit_rate", "vllm:cpu_prefix_cache_hit_rate"]


class MetricsGarbage(ValueError):
    """The body is not Prometheus text."""


def parse(text: str) -> dict[str, list[float]]:
    """sample name -> values (one per label set). Raises MetricsGarbage."""
    samples: dict[str, list[float]] = defaultdict(list)
    try:
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                samples[sample.name].append(float(sample.value))
    except Exception as exc:  # the parser raises ValueError, IndexError, ... on junk
        raise MetricsGarbage(f"not Prometheus text: {exc}") from exc
    return dict(samples)


def _first(samples: dict[str, list[float]], names: list[str], how=sum) -> tuple[float | None, str | None]:
    for name in names:
        if name in samples and samples[name]:
            return how(samples[name]), name
    return None, None


def summarize(text: str, prefix: str = "vllm:") -> dict:
    """The numbers the status page shows. Raises MetricsGarbage for a body that is not Prometheus text.
    vllm_series counts the engine's own series (prefix: its METRIC_PREFIX)."""
    samples = parse(text)
    vllm_names = sorted(n for n in samples if n.startswith(prefix))
    out: dict = {"vllm_series": len(vllm_names), "sources": {}}

    def take(key: str, names: list[str], how=sum, scale: float = 1.0, digits: int = 3) -> None:
        value, name = _first(samples, names, how)
        out[key] = None if value is None else round(value * scale, digits)
        if name:
            out["sources"][key] = name

    take("requests_running", RUNNING)
    take("requests_waiting", WAITING)
    take("kv_cache_usage_pct", KV_USAGE, how=max, scale=100.0, digits=2)
    take("generation_tokens_total", GENERATION_TOKENS)
    take("prompt_tokens_total", PROMPT_TOKENS)

    hits, hits_name = _first(samples, PREFIX_HITS)
    queries, queries_name = _first(samples, PREFIX_QUERIES)
    rate = None
    if hits is not None and queries:
        rate = 100.0 * hits / queries
        out["sources"]["prefix_cache_hit_rate_pct"] = f"{hits_name} / {queries_name}"
    elif (gauge := _first(samples, PREFIX_HIT_RATE, max))[0] is not None:
        rate = 100.0 * gauge[0]
        out["sources"]["prefix_cache_hit_rate_pct"] = gauge[1]
    out["prefix_cache_hit_rate_pct"] = None if rate is None else round(rate, 2)
    return out
