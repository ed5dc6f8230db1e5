"""The decode ceiling: memory bandwidth over the bytes each generated token reads.

Decode on these machines is memory-bound: each generated token reads every active weight once, so
    ceiling tok/s = memory bandwidth (B/s) / (active parameters x bits per weight / 8)
The measured (and the documented) speed is reported as a percentage of that ceiling. Pure functions,
no network imports: the site's pages use them on every build.
"""

from __future__ import annotations


def bandwidth_ceiling(data, system) -> dict | None:
    """The decode ceiling for a system from its platform and model, or None if the data lacks a piece."""
    platform = data.platforms.get(system.hardware.platform)
    quant = data.quantizations.get(system.model.quantization)
    if platform is None or quant is None:
        return None
    bytes_per_token = system.model.active_params_b * 1e9 * quant.bits_per_weight / 8
    ceiling = platform.memory_bandwidth_gbs * 1e9 / bytes_per_token
    return {
        "tokens_per_s": round(ceiling, 1),
        "memory_bandwidth_gbs": platform.memory_bandwidth_gbs,
        "active_params_b": system.model.active_params_b,
        "bits_per_weight": quant.bits_per_weight,
        "gb_read_per_token": round(bytes_per_token / 1e9, 3),
    }


def pct_of(value: float | None, ceiling: dict | None) -> float | None:
    if value is None or not ceiling or not ceiling.get("tokens_per_s"):
        return None
    return round(100.0 * value / ceiling["tokens_per_s"], 1)


def describe_speed(tokens_per_s: float | None, pct: float | None, ceiling_tokens_per_s: float | None = None
                   ) -> str | None:
    """'34 tok/s, 34% of the bandwidth ceiling', or with the ceiling given: '..., 34% of the 100.8 tok/s
    ceiling'."""
    if tokens_per_s is None:
        return None
    text = f"{tokens_per_s:.3g} tok/s" if tokens_per_s < 10 else f"{tokens_per_s:.0f} tok/s"
    if pct is not None:
        ceiling = f"{ceiling_tokens_per_s:g} tok/s" if ceiling_tokens_per_s else "bandwidth"
        text += f", {pct:.0f}% of the {ceiling} ceiling"
    return text
