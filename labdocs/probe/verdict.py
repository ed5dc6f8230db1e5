"""From a system's checks to its verdict: up, down or drift, with the list of drift items.

down   the host does not answer /health (refused, timed out, unreachable) or says it is unhealthy (5xx)
drift  it answers, but not as the data declares; each item is {"kind", "message"} with kind one of
       DRIFT_KINDS
up     everything that was checked is as declared (checks that could not conclude are not drift)
"""

from __future__ import annotations

DRIFT_KINDS = {
    "not_vllm": "not a vLLM server",
    "garbage": "garbage response",
    "model_id": "model id mismatch",
    "context_length": "context length mismatch",
    "speed": "decode speed below tolerance",
    "ttft": "time to first token above tolerance",
    "tool_format": "tool-call format mismatch",
    "check_failed": "a check failed",
}


def decide(record: dict) -> dict:
    """Fill record['verdict'], ['drift'], ['down_reason'] from record['checks']; returns the record."""
    checks = record["checks"]
    health = checks.get("health") or {}
    record["drift"] = []
    record["down_reason"] = None
    if health.get("down"):
        record["verdict"] = "down"
        record["down_reason"] = health.get("error") or "no answer"
        return record

    items: list[dict] = []
    evidence: dict[str, list[str]] = {}
    for name in ("health", "version", "models", "metrics"):
        for ev in (checks.get(name) or {}).get("evidence", []):
            evidence.setdefault(ev["kind"], []).append(ev["message"])
    speed = checks.get("speed") or {}
    if speed.get("error_kind") == "garbage":
        evidence.setdefault("garbage", []).append(f"chat stream: {speed.get('error')}")
    for kind in ("not_vllm", "garbage"):
        if kind in evidence:
            items.append({"kind": kind, "message": f"{DRIFT_KINDS[kind]}: " + "; ".join(evidence[kind])})

    models = checks.get("models") or {}
    if models.get("served") and not models.get("id_match"):
        items.append({"kind": "model_id", "message": (
            f"serves {', '.join(models['served'])}, not the documented {models.get('expected_id')}")})
    if models.get("context_match") is False:
        items.append({"kind": "context_length", "message": (
            f"max_model_len {models.get('max_model_len')}, documented context_length {models.get('expected_context')}")})

    if speed.get("compared"):
        if speed.get("below_tolerance"):
            items.append({"kind": "speed", "message": (
                f"decode {speed['decode_tokens_per_s']:.1f} tok/s, below {speed['min_allowed_tokens_per_s']:.1f} "
                f"(documented {speed['documented_tokens_per_s']:g} tok/s less {speed['drop_tolerance_pct']:g}%)")})
        if speed.get("ttft_above_tolerance"):
            items.append({"kind": "ttft", "message": (
                f"time to first token {speed['ttft_s']:.2f} s, above the {speed['ttft_limit_s']:g} s tolerance")})

    tool = checks.get("tool_format") or {}
    if tool.get("status") == "mismatch":
        items.append({"kind": "tool_format", "message": "; ".join(tool.get("mismatches") or ["mismatch"])})

    if not any(i["kind"] in ("not_vllm", "garbage") for i in items):
        failed = [f"{name}: {checks[name].get('error')}" for name in ("version", "models", "metrics", "speed")
                  if (checks.get(name) or {}).get("ok") is False and checks[name].get("error")
                  and not (name == "models" and models.get("served"))]
        if failed:
            items.append({"kind": "check_failed", "message": "; ".join(failed)})

    record["drift"] = items
    record["verdict"] = "drift" if items else "up"
    return record


def exit_code(records: list[dict]) -> int:
    """0 when every system is up and as declared, 1 otherwise."""
    return 0 if records and all(r.get("verdict") == "up" for r in records) else 1
