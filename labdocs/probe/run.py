"""Probe systems: every system concurrently, the checks of one system in order.

Order per system: /health (a host that does not answer is `down` and costs one timeout), then
/version and /v1/models together, /props (llama.cpp), /metrics (when the system exports it) (before the probe's own requests load the server), the
streamed chat for speed, and the tool-format check.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable, Mapping

import httpx

from labdocs.engines import engine_of, llamacpp
from labdocs.probe import checks, toolformat
from labdocs.model.ceiling import bandwidth_ceiling, describe_speed, pct_of
from labdocs.observed.records import (Checks, HealthCheck, InternalCheck, MetricsCheck, ModelsCheck, SpeedCheck,
                                      Status, SystemRecord, ToolFormatCheck, VersionCheck)
from labdocs.probe.speed import stream_chat
from labdocs.probe.verdict import decide

# progress(system key, check name, check record) after each check finishes
Progress = Callable[[str, str, object], None]


@dataclass(frozen=True)
class Settings:
    """How to probe, from the data's `probe:` block (Settings.from_data) plus the target.

    compare_speed: compare decode speed and TTFT with the documented figures and read them against
    the bandwidth ceiling; off for the lab, whose tiny CPU models say nothing about the hardware.
    lab_parsers: key -> (parser the lab really runs, why), for systems whose declared parser the lab
    had to replace; the tool-format check then cannot conclude.
    """

    # from the data's probe: block (no defaults here: the data file is where they are written)
    timeout_s: float
    prompt: str
    max_tokens: int
    decode_speed_drop_pct: float
    ttft_s: float
    target: str = "live"
    compare_speed: bool = True
    check_tools: bool = True
    data: object = None
    lab_parsers: Mapping[str, tuple[str | None, str]] = field(default_factory=dict)

    @classmethod
    def from_data(cls, data, **overrides) -> "Settings":
        p = data.probe
        base = dict(timeout_s=p.timeout_s, prompt=p.prompt, max_tokens=p.max_tokens,
                    decode_speed_drop_pct=p.tolerances.decode_speed_drop_pct, ttft_s=p.tolerances.ttft_s,
                    data=data)
        if overrides.get("target") == "lab" and "compare_speed" not in overrides:
            overrides["compare_speed"] = False
        base.update(overrides)
        return cls(**base)


def now_iso() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


SKIPPED_WHEN_DOWN = {"version": VersionCheck, "models": ModelsCheck, "metrics": MetricsCheck,
                     "speed": SpeedCheck, "tool_format": ToolFormatCheck}


def _skipped(check: type, why: str):
    """A check that did not run: its record holds only ok (None), why, and the summary."""
    return check(ok=None, skipped=why, summary=f"skipped: {why}")


def _speed_record(result: SpeedCheck, system, settings: Settings, ceiling: dict | None,
                  model_is_documented: bool) -> SpeedCheck:
    """The measurement read against the documented speed, its tolerances and the bandwidth ceiling."""
    documented = system.speed.decode_tokens_per_s
    rec = result.model_copy(deep=True)
    for name, value in dict(
            documented_tokens_per_s=documented, ceiling=ceiling, documented_pct_of_ceiling=pct_of(documented, ceiling),
            documented_summary=describe_speed(documented, pct_of(documented, ceiling)),
            ttft_limit_s=settings.ttft_s, drop_tolerance_pct=settings.decode_speed_drop_pct,
            min_allowed_tokens_per_s=(round(documented * (1 - settings.decode_speed_drop_pct / 100), 2)
                                      if documented else None),
            compared=False, below_tolerance=None, ttft_above_tolerance=None, not_compared_why=None).items():
        setattr(rec, name, value)
    measured = result.decode_tokens_per_s
    rec.measured_pct_of_ceiling = pct_of(measured, ceiling) if settings.compare_speed else None
    why = None
    if not settings.compare_speed:
        why = (f"target {settings.target}: the measured speed is not the documented hardware's, so it is "
               "neither compared with the documented speed nor read against the bandwidth ceiling")
    elif not model_is_documented:
        why = "the server does not serve the documented model"
    elif not result.ok:
        why = "no measurement"
    if why:
        rec.not_compared_why = why
    else:
        rec.compared = True
        rec.ttft_above_tolerance = result.ttft_s > settings.ttft_s
        if documented:
            rec.below_tolerance = measured < rec.min_allowed_tokens_per_s
    if result.ok:
        rec.summary = (describe_speed(measured, rec.measured_pct_of_ceiling)
                       + f", TTFT {result.ttft_s * 1000:.0f} ms"
                       + (f" (documented {rec.documented_summary})" if documented and settings.compare_speed else ""))
    else:
        rec.summary = result.error
    return rec


async def probe_system(key: str, system, base_url: str, settings: Settings,
                       progress: Progress | None = None) -> SystemRecord:
    """Probe one system at base_url (which may differ from the documented host, e.g. in the lab).
    Never raises for anything the server does; returns the system's record with its verdict."""
    t0 = time.perf_counter()
    rec = SystemRecord(system=key, name=system.name, host=system.host, port=system.port,
                       url=f"http://{system.host}:{system.port}", probed_url=base_url, model_id=system.model.id,
                       engine=engine_of(system).NAME, started_at=now_iso(), verdict=None, drift=[], down_reason=None, checks=Checks())

    def done(name: str, value) -> None:
        setattr(rec.checks, name, value)
        if progress:
            progress(key, name, value)

    try:
        await _run_checks(system, base_url, settings, key, done, rec.checks)
    except Exception as exc:  # a bug in one system's probe must not stop the others
        if rec.checks.health is None:
            rec.checks.health = HealthCheck(ok=False, down=False, error=None, evidence=[])
        rec.probe_error = f"{type(exc).__name__}: {exc}"
        if rec.checks.internal is None:
            rec.checks.internal = InternalCheck(ok=False, error=rec.probe_error,
                                                summary=f"probe error: {rec.probe_error}")
    rec.duration_s = round(time.perf_counter() - t0, 3)
    return decide(rec)


async def _run_checks(system, base_url: str, settings: Settings, key: str, done: Callable,
                      record_checks: Checks) -> None:
    """The checks of one system, in order; each result goes to done(name, record)."""
    timeout = settings.timeout_s
    limits = httpx.Limits(max_connections=4, max_keepalive_connections=2)
    async with httpx.AsyncClient(base_url=base_url, timeout=httpx.Timeout(timeout), limits=limits,
                                 trust_env=False, headers={"User-Agent": "labdocs-probe"}) as client:
        engine = engine_of(system)
        health = await checks.health(client, timeout, engine)
        done("health", health)
        if health.down:
            for name, check in SKIPPED_WHEN_DOWN.items():   # recorded, not reported as progress
                setattr(record_checks, name, _skipped(check, "host down"))
            return
        version, models = await asyncio.gather(
            checks.version(client, timeout, engine),
            checks.models(client, timeout, system.model.id, system.context_length, engine))
        done("version", version)
        done("models", models)
        if engine is llamacpp:      # the model file, context and chat template llama-server runs with
            done("props", await checks.props(client, timeout, llamacpp.PROPS, (system.model.gguf or [None])[0],
                                             system.context_length))
        if engine.metrics_enabled(system):
            done("metrics", await checks.metrics(client, timeout, engine))
        else:
            done("metrics", _skipped(MetricsCheck, f"not enabled: {engine.NAME} exports /metrics only with "
                                                   "--metrics (llamacpp.args: metrics: true)"))

        if not models.served:
            done("speed", _skipped(SpeedCheck, "no model listed by /v1/models"))
            done("tool_format", _skipped(ToolFormatCheck, "no model listed by /v1/models"))
            return
        model = system.model.id if models.id_match else models.served[0]
        ceiling = bandwidth_ceiling(settings.data, system) if settings.data is not None else None
        result = await stream_chat(client, model, settings.prompt, settings.max_tokens, timeout)
        done("speed", _speed_record(result, system, settings, ceiling, models.id_match))

        if not settings.check_tools:
            done("tool_format", _skipped(ToolFormatCheck, "tool checks turned off"))
        elif not models.id_match:
            done("tool_format", _skipped(ToolFormatCheck, "the documented model is not served"))
        elif not result.ok and result.error_kind in ("garbage", "refused", "unreachable", "protocol"):
            done("tool_format", _skipped(ToolFormatCheck, f"chat completions do not work ({result.error})"))
        else:
            done("tool_format", await toolformat.check_tool_format(
                client, model, settings.data, system, timeout,
                lab_parser=settings.lab_parsers.get(key),
                weights_are_real=settings.target != "lab"))


async def probe_all_async(data, base_urls: Mapping[str, str], settings: Settings | None = None,
                          progress: Progress | None = None, only: list[str] | None = None) -> list[SystemRecord]:
    """Probe every system of `data` that has a base URL (and is in `only`, if given), concurrently.
    Records come back in the data's order."""
    settings = settings or Settings.from_data(data)
    keys = [k for k in data.systems if k in base_urls and (not only or k in only)]
    tasks = [probe_system(k, data.systems[k], base_urls[k], settings, progress) for k in keys]
    return list(await asyncio.gather(*tasks))


def probe_all(data, base_urls: Mapping[str, str], settings: Settings | None = None,
              progress: Progress | None = None, only: list[str] | None = None) -> list[SystemRecord]:
    """Synchronous probe_all_async (runs its own event loop)."""
    return asyncio.run(probe_all_async(data, base_urls, settings, progress, only))


def lab_parser_overrides(lab, data) -> dict[str, tuple[str | None, str]]:
    """Systems whose declared tool-call parser a running lab (lab.servers.Lab) had to replace:
    key -> (parser the lab runs, the lab's reason)."""
    out = {}
    for name, parser in getattr(lab, "parsers", {}).items():
        system = data.systems.get(name)
        if system is None:
            continue
        declared = system.tool_calling.parser if system.tool_calling.auto_tool_choice else None
        if parser != declared:
            why = "; ".join(n.split(": ", 1)[-1] for n in getattr(lab, "notes", []) if n.startswith(f"{name}:"))
            out[name] = (parser, why or "lab fallback")
    return out


def live_urls(data) -> dict[str, str]:
    """The documented address of every system: http://HOST:PORT."""
    return {k: f"http://{s.host}:{s.port}" for k, s in data.systems.items()}


def status_document(records: list[SystemRecord], target: str, checked_at: str | None = None,
                    run_url: str | None = None) -> Status:
    """What data/status.json holds; run_url: the CI run that probed (the status page links it)."""
    return Status.of(records, target, checked_at or now_iso(), run_url)
