"""The decode ceiling: memory bandwidth over the bytes each generated token reads.

Decode on these machines is memory-bound: each generated token reads every active weight once, so
    ceiling tok/s = memory bandwidth (B/s) / sum over tensor groups (parameters x bits per weight / 8)
A quantized checkpoint is rarely one precision (gpt-oss: MXFP4 experts, BF16 attention and lm_head), so
the groups come from the data's read_per_token when declared.
The measured (and the documented) speed is reported as a percentage of that ceiling. Pure functions,
no network imports: the site's pages use them on every build.
"""

from __future__ import annotations


def read_groups(data, system) -> list[dict] | None:
    """The tensors one generated token reads, by precision: the model's read_per_token groups when the
    data declares them (e.g. gpt-oss: MXFP4 experts, BF16 attention and lm_head), else every active
    parameter at the model's quantization. None if a quantization is unknown."""
    model = system.model
    groups = model.read_per_token or [
        type("Group", (), {"name": "active parameters", "params_b": model.active_params_b,
                           "quantization": model.quantization})]
    out = []
    for g in groups:
        quant = data.quantizations.get(g.quantization)
        if quant is None:
            return None
        gb = g.params_b * quant.bits_per_weight / 8
        out.append({"name": g.name, "params_b": g.params_b, "quantization": g.quantization,
                    "bits_per_weight": quant.bits_per_weight, "gb_read": round(gb, 3)})
    return out


def bandwidth_ceiling(data, system) -> dict | None:
    """The decode ceiling for a system from its platform and model, or None if the data lacks a piece."""
    platform = data.platforms.get(system.hardware.platform)
    groups = read_groups(data, system)
    if platform is None or groups is None:
        return None
    bytes_per_token = sum(g["params_b"] * 1e9 * g["bits_per_weight"] / 8 for g in groups)
    ceiling = platform.memory_bandwidth_gbs * 1e9 / bytes_per_token
    return {
        "tokens_per_s": round(ceiling, 1),
        "memory_bandwidth_gbs": platform.memory_bandwidth_gbs,
        "active_params_b": system.model.active_params_b,
        "bits_per_weight": round(bytes_per_token * 8 / (sum(g["params_b"] for g in groups) * 1e9), 2),
        "gb_read_per_token": round(bytes_per_token / 1e9, 3),
        "groups": groups,
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
