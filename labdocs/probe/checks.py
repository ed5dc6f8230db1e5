"""The plain GET checks: /health, /version (llama.cpp: /props), /v1/models, /props (llama.cpp), /metrics, as the
system's engine answers them.

Each returns its record (labdocs/observed/records.py) with ok, status, latency_ms, error, summary and its
own fields, plus `evidence`: a list of (kind, message) with kind "not_vllm" (the answer is well-formed but
not what vLLM sends: 404, an HTML page, another shape) or "garbage" (a body that is not what it claims to be).
"""

from __future__ import annotations

import hashlib

import httpx

from labdocs.engines import DEFAULT, ENGINES
from labdocs import hf_cache
from labdocs.observed.records import Evidence, HealthCheck, MetricsCheck, ModelsCheck, PropsCheck, VersionCheck
from labdocs.probe import metrics as metrics_mod
from labdocs.probe.transport import Reply, fetch


VLLM = ENGINES[DEFAULT]   # each check takes the system's engine (its endpoints, fields and series); vLLM unless told


def _ev(kind: str, message: str) -> Evidence:
    return Evidence(kind=kind, message=message)


def _base(cls, reply: Reply):
    return cls(ok=False, status=reply.status, latency_ms=reply.latency_ms, error=reply.error, evidence=[])


def _shape_problem(name: str, reply: Reply, rec) -> bool:
    """Record evidence for a non-200 or non-JSON answer. True if there was a problem."""
    if reply.error_kind == "protocol":
        rec.evidence.append(_ev("garbage", f"{name}: {reply.error}"))
        return True
    if not reply.transport_ok:
        return True
    kind = reply.body_kind()
    if reply.status != 200:
        rec.error = f"HTTP {reply.status}" + (" (an HTML page)" if kind == "html" else "")
        rec.evidence.append(_ev("not_vllm", f"{name} answers HTTP {reply.status}"))
        return True
    if kind == "html":
        rec.error = "an HTML page"
        rec.evidence.append(_ev("not_vllm", f"{name} answers an HTML page"))
        return True
    if kind != "json":
        rec.error = f"not JSON: {reply.excerpt(60)!r}" if kind == "text" else "empty body"
        rec.evidence.append(_ev("garbage", f"{name} answers {'non-JSON text' if kind == 'text' else 'an empty body'}"
                                f" ({reply.excerpt(40)!r})"))
        return True
    return False


async def health(client: httpx.AsyncClient, timeout: float, engine=VLLM) -> HealthCheck:
    reply = await fetch(client, "GET", engine.ENDPOINTS.health, timeout=timeout)
    rec = _base(HealthCheck, reply)
    rec.down = reply.down
    if reply.down:
        rec.summary = reply.error
        return rec
    if reply.error_kind == "protocol":
        rec.evidence.append(_ev("garbage", f"/health: {reply.error}"))
        rec.summary = "garbage on the wire"
        return rec
    kind = reply.body_kind()
    if reply.status == 200 and kind != "html":
        rec.ok = True
        rec.summary = f"200 in {reply.latency_ms:.0f} ms"
    elif reply.status is not None and reply.status >= 500:
        # vLLM answers 5xx on /health when its engine is dead: the service is down.
        rec.down = True
        rec.error = f"unhealthy: HTTP {reply.status}"
        rec.summary = rec.error
    else:
        what = "an HTML page" if kind == "html" else f"HTTP {reply.status}"
        rec.error = what
        rec.evidence.append(_ev("not_vllm", f"/health answers {what}"))
        rec.summary = what
    return rec


async def version(client: httpx.AsyncClient, timeout: float, engine=VLLM) -> VersionCheck:
    path, field = engine.ENDPOINTS.version, engine.VERSION_FIELD
    reply = await fetch(client, "GET", path, timeout=timeout)
    rec = _base(VersionCheck, reply)
    rec.version = None
    if not _shape_problem(path, reply, rec):
        body = reply.json()
        if isinstance(body, dict) and isinstance(body.get(field), str):
            rec.ok, rec.version = True, body[field]
        else:
            rec.error = "no version field"
            rec.evidence.append(_ev("not_vllm", f"{path} is not {engine.NAME}'s {{\"{field}\": ...}} ({reply.excerpt(40)!r})"))
    rec.summary = rec.version or rec.error
    return rec


async def props(client: httpx.AsyncClient, timeout: float, path: str, expected_file: str | None,
                expected_context: int) -> PropsCheck:
    """llama-server's /props: the GGUF file it opened, its context (default_generation_settings.n_ctx) and
    the chat template it applies (with --jinja, the model's own; its size and hash, so a change shows)."""
    reply = await fetch(client, "GET", path, timeout=timeout)
    rec = _base(PropsCheck, reply)
    if not _shape_problem(path, reply, rec):
        body = reply.json()
        if not isinstance(body, dict) or not isinstance(body.get("model_path"), str):
            rec.error = "no model_path"
            rec.evidence.append(_ev("not_vllm", f"{path} is not llama-server's settings ({reply.excerpt(40)!r})"))
        else:
            settings = body.get("default_generation_settings")
            template = body.get("chat_template")
            caps = body.get("chat_template_caps")
            rec.build = body.get("build_info") if isinstance(body.get("build_info"), str) else None
            rec.model_file = body["model_path"].replace("\\", "/").rsplit("/", 1)[-1]
            rec.expected_model_file = expected_file
            rec.model_file_match = rec.model_file == expected_file if expected_file else None
            rec.n_ctx = _context(settings, ("n_ctx",)) if isinstance(settings, dict) else None
            rec.expected_context = expected_context
            rec.context_match = rec.n_ctx == expected_context if rec.n_ctx else None
            if isinstance(template, str) and template:
                rec.chat_template_chars = len(template)
                rec.chat_template_sha256 = hashlib.sha256(template.encode()).hexdigest()[:12]
            if isinstance(caps, dict) and isinstance(caps.get("supports_tool_calls"), bool):
                rec.supports_tool_calls = caps["supports_tool_calls"]
            rec.ok = rec.model_file_match is not False and rec.context_match is not False
    if rec.model_file:
        parts = [rec.model_file + ("" if rec.model_file_match is not False else f" (expected {rec.expected_model_file})"),
                 f"n_ctx {rec.n_ctx}" if rec.n_ctx else "n_ctx not reported"]
        parts.append(f"chat template {rec.chat_template_chars} chars (sha256 {rec.chat_template_sha256})"
                     if rec.chat_template_chars else "no chat template")
        if rec.supports_tool_calls is not None:
            parts.append("tool calls " + ("supported" if rec.supports_tool_calls else "NOT supported") + " by it")
        rec.summary = ", ".join(parts)
    else:
        rec.summary = rec.error
    return rec


def _context(entry: dict, key: tuple[str, ...]):
    for name in key:
        entry = entry.get(name) if isinstance(entry, dict) else None
    return entry if isinstance(entry, int) and not isinstance(entry, bool) else None


async def models(client: httpx.AsyncClient, timeout: float, expected_id: str, expected_context: int,
                 engine=VLLM) -> ModelsCheck:
    reply = await fetch(client, "GET", engine.ENDPOINTS.models, timeout=timeout)
    rec = _base(ModelsCheck, reply)
    for name, value in dict(served=[], expected_id=expected_id, id_match=False, max_model_len=None,
                            expected_context=expected_context, context_match=None, owned_by=None).items():
        setattr(rec, name, value)   # all of them set, so the record always holds them
    if not _shape_problem("/v1/models", reply, rec):
        body = reply.json()
        data = body.get("data") if isinstance(body, dict) else None
        entries = [m for m in data if isinstance(m, dict) and isinstance(m.get("id"), str)] if isinstance(data, list) else None
        if entries is None:
            rec.error = "not an OpenAI model list"
            rec.evidence.append(_ev("not_vllm", f"/v1/models is not an OpenAI model list ({reply.excerpt(40)!r})"))
        else:
            rec.served = [m["id"] for m in entries]
            mine = next((m for m in entries if m["id"] == expected_id), None)
            rec.id_match = mine is not None
            shown = mine or (entries[0] if entries else None)
            if shown is not None:
                rec.owned_by = shown.get("owned_by")
                rec.max_model_len = _context(shown, engine.CONTEXT_KEY)
            if mine is not None:
                rec.context_match = rec.max_model_len == expected_context if rec.max_model_len else None
            rec.ok = rec.id_match and rec.context_match is not False
            if not entries:
                rec.error = "the server lists no model"
    if rec.served:
        ids = ", ".join(_short(s) for s in rec.served)
        rec.summary = (f"{ids}" + (f", max_model_len {rec.max_model_len}" if rec.max_model_len else "")
                       + ("" if rec.id_match else f" (expected {_short(expected_id)})"))
    else:
        rec.summary = rec.error
    return rec


async def metrics(client: httpx.AsyncClient, timeout: float, engine=VLLM) -> MetricsCheck:
    reply = await fetch(client, "GET", engine.ENDPOINTS.metrics, timeout=timeout)
    rec = _base(MetricsCheck, reply)
    if not reply.transport_ok:
        if reply.error_kind == "protocol":
            rec.evidence.append(_ev("garbage", f"/metrics: {reply.error}"))
        rec.summary = reply.error
        return rec
    kind = reply.body_kind()
    if reply.status != 200 or kind == "html":
        rec.error = f"HTTP {reply.status}" if reply.status != 200 else "an HTML page"
        rec.evidence.append(_ev("not_vllm", f"/metrics answers {rec.error}"))
        rec.summary = rec.error
        return rec
    try:
        for name, value in metrics_mod.summarize(reply.body.decode("utf-8", "replace"), engine.METRIC_PREFIX).items():
            setattr(rec, name, value)
    except metrics_mod.MetricsGarbage as exc:
        rec.error = str(exc)[:160]
        rec.evidence.append(_ev("garbage", f"/metrics is not Prometheus text ({reply.excerpt(40)!r})"))
        rec.summary = "not Prometheus text"
        return rec
    if not rec.vllm_series:
        rec.error = f"no {engine.METRIC_PREFIX} series"
        rec.evidence.append(_ev("not_vllm", f"/metrics has no {engine.METRIC_PREFIX} series"))
        rec.summary = rec.error
        return rec
    rec.ok = True
    parts = [f"running {_n(rec.requests_running)}", f"waiting {_n(rec.requests_waiting)}"]
    if rec.kv_cache_usage_pct is not None:
        parts.append(f"KV cache {rec.kv_cache_usage_pct:.1f}%")
    if rec.prefix_cache_hit_rate_pct is not None:
        parts.append(f"prefix hits {rec.prefix_cache_hit_rate_pct:.0f}%")
    rec.summary = ", ".join(parts)
    return rec


def _n(value) -> str:
    return "?" if value is None else f"{value:g}"


def _short(model_id: str) -> str:
    """A served snapshot path (labdocs/hf_cache.py) -> ORG/NAME@SHA[:7]; any other id as it is."""
    parsed = hf_cache.parse(model_id)
    return f"{parsed[0]}@{parsed[1][:7]}" if parsed and len(parsed[1]) >= 7 else model_id
