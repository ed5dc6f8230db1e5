"""The decode ceiling: memory bandwidth over the bytes each generated token reads.

Decode on these machines is memory-bound: each generated token reads every active weight once, so
    ceiling tok/s = memory bandwidth (B/s) / sum over tensor groups (parameters x bits per weight / 8)
A quantized checkpoint is rarely one precision (gpt-oss: MXFP4 experts, BF16 attention and lm_head), so
the groups come from the data's read_per_token when declared.
The measured (and the documented) speed is reported as a percentage of that ceiling. Pure functions,
no network imports: the site's pages use them on every build.

For a GGUF model the groups come from the file's own tensor types: on a machine that sees the share,
    python -m labdocs.model.ceiling --gguf FILE [FILE...]      # every shard of a split GGUF
prints the read_per_token groups (and any quantizations: entries the data lacks) to paste into data.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path


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


# --- read_per_token from a GGUF file's tensor types -------------------------------------------------------

@dataclass(frozen=True)
class GgufTensor:
    """One tensor as a GGUF file's header describes it: shape in GGUF order (ne[0], the row length, first)."""
    name: str
    type: str            # the ggml type's name: F32, F16, BF16, Q8_0, Q4_K, MXFP4, ...
    shape: tuple[int, ...]
    n_bytes: int

    @property
    def n_elements(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n


# ggml type names that the data spells differently (quantizations: keys); every other name is kept.
DATA_QUANT_NAMES = {"F16": "FP16"}
_EXPERTS = re.compile(r"\.ffn_[a-z_]+_exps\.")     # blk.N.ffn_{gate,up,down,gate_up}_exps.{weight,bias}


def _role(name: str, tied_output: bool) -> tuple[str, str]:
    """(group key, what is read per token) for a tensor name of llama.cpp's GGUF naming."""
    if name.startswith("token_embd."):
        return ("unembedding (tied to token_embd)", "all") if tied_output else ("embedding (one row per token)", "row")
    if name.startswith("output."):
        return "unembedding (output)", "all"
    if _EXPERTS.search(name):
        return "MoE experts", "experts"
    if "_norm." in name:                             # blk.N.attn_norm, ffn_norm, output_norm: per-channel
        return "norms and other", "all"
    if ".ffn_gate_inp." in name:
        return "router", "all"
    if ".attn_" in name:
        return "attention", "all"
    if ".ffn_" in name:
        return "dense FFN (and shared experts)", "all"
    return "norms and other", "all"


def gguf_read_groups(tensors: Iterable[GgufTensor], expert_used: int | None = None,
                     expert_count: int | None = None) -> list[dict]:
    """The tensors one generated token reads, grouped by role and ggml type, with exact bytes.

    Assumptions (decode, one sequence, every weight read from memory once per token):
    - every tensor is read whole, except:
    - MoE expert tensors (`*_exps.*`, shape [.., .., n_expert]): only expert_used of expert_count experts,
      so their bytes times expert_used/expert_count (the GGUF's `{arch}.expert_used_count` /
      `{arch}.expert_count`); shared experts (`*_shexp.*`) are dense and read whole;
    - the embedding table `token_embd` is a lookup: one row (n_bytes / rows) per token, not the whole table,
      unless the file has no `output.weight`: then the output projection is tied to it and reads it whole;
    - KV cache and activations are not weights and are left out (they grow with the context).
    Each group: name, type, quantization (the data's key), params (elements read, may be fractional),
    bytes (exact, fractional for the active expert share), bits_per_weight (bytes*8/params).
    """
    tensors = list(tensors)
    tied = not any(t.name.startswith("output.") for t in tensors)
    fraction = None
    if expert_used and expert_count:
        fraction = expert_used / expert_count
    groups: dict[tuple[str, str], dict] = {}
    for t in tensors:
        role, read = _role(t.name, tied)
        params, nbytes = float(t.n_elements), float(t.n_bytes)
        if read == "row":
            rows = t.n_elements // t.shape[0]
            params, nbytes = params / rows, nbytes / rows
        elif read == "experts":
            if fraction is None:
                raise ValueError(f"{t.name}: an expert tensor, but the GGUF names no expert_used_count/"
                                 "expert_count: give both (--experts USED/COUNT)")
            params, nbytes = params * fraction, nbytes * fraction
            role = f"MoE experts ({expert_used} of {expert_count} per layer)"
        g = groups.setdefault((role, t.type), {"name": role, "type": t.type,
                                               "quantization": DATA_QUANT_NAMES.get(t.type, t.type),
                                               "tensors": 0, "params": 0.0, "bytes": 0.0})
        g["tensors"] += 1
        g["params"] += params
        g["bytes"] += nbytes
    out = sorted(groups.values(), key=lambda g: -g["bytes"])
    for g in out:
        g["bits_per_weight"] = g["bytes"] * 8 / g["params"]
    return out


def read_gguf(paths: Iterable[Path]) -> tuple[list[GgufTensor], dict]:
    """Tensor infos and the expert counts of a GGUF model (all shards of a split file). Imports the `gguf`
    package here, not at module level: the site imports this module on every build."""
    from gguf import GGUFReader   # here: only the command line reads files

    tensors: list[GgufTensor] = []
    meta: dict = {"arch": None, "expert_used": None, "expert_count": None, "files": []}
    for path in paths:
        reader = GGUFReader(path)
        fields = {name: f.contents() for name, f in reader.fields.items() if not name.startswith("tokenizer.")}
        meta["arch"] = meta["arch"] or fields.get("general.architecture")
        for key, name in (("expert_used", "expert_used_count"), ("expert_count", "expert_count")):
            if meta["arch"] and fields.get(f"{meta['arch']}.{name}") is not None:
                meta[key] = int(fields[f"{meta['arch']}.{name}"])
        for t in reader.tensors:
            tensors.append(GgufTensor(t.name, t.tensor_type.name, tuple(int(d) for d in t.shape), int(t.n_bytes)))
        meta["files"].append((Path(path).name, Path(path).stat().st_size))
    return tensors, meta


def quant_bits(type_name: str) -> float:
    """bits per weight of a ggml type from its block: block bytes * 8 / block elements (gguf's table)."""
    from gguf import GGML_QUANT_SIZES, GGMLQuantizationType

    block, size = GGML_QUANT_SIZES[GGMLQuantizationType[type_name]]
    return size * 8 / block


def format_groups(groups: list[dict], meta: dict, known_quants: Iterable[str] = (),
                  bandwidths_gbs: dict[str, float] | None = None) -> str:
    """YAML to paste under the system's model: (read_per_token) and, for the types known_quants lacks,
    under quantizations:; with each platform's ceiling (bandwidths_gbs: platform -> GB/s) as a comment."""
    files = ", ".join(f"{name} ({size:,} bytes)" for name, size in meta["files"])
    experts = (f"; {meta['expert_used']} of {meta['expert_count']} experts per token"
               if meta.get("expert_count") else "")
    total = sum(g["bytes"] for g in groups)
    lines = [f"# from the GGUF's tensor types: {files}{experts}; arch {meta.get('arch')}",
             "# by `python -m labdocs.model.ceiling --gguf` (labdocs/model/ceiling.py: what a token reads);"
             f" {total / 1e9:.6g} GB per token",
             ]
    for platform, gbs in (bandwidths_gbs or {}).items():
        lines.append(f"# decode ceiling on {platform} ({gbs:g} GB/s): {gbs * 1e9 / total:.1f} tok/s")
    lines.append("read_per_token:")
    for g in groups:
        lines.append(f"  - {{name: {g['name']} {g['type']}, params_b: {g['params'] / 1e9:.6g}, "
                     f"quantization: {g['quantization']}}}   # {g['tensors']} tensor{'s' if g['tensors'] != 1 else ''}, "
                     f"{g['bytes']:,.0f} bytes")
    missing = sorted({g["quantization"] for g in groups} - set(known_quants))
    if missing:
        lines.append("quantizations:   # add the ones data/systems.yaml lacks (ggml block bytes * 8 / block size)")
        by_quant = {g["quantization"]: g["type"] for g in groups}
        for q in missing:
            lines.append(f"  {q}: {{bits_per_weight: {quant_bits(by_quant[q]):g}}}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    import argparse

    from labdocs.model.loader import load
    from labdocs.paths import DEFAULT_DATA

    ap = argparse.ArgumentParser(prog="python -m labdocs.model.ceiling",
                                 description="Print a GGUF model's read_per_token groups for the data file.")
    ap.add_argument("--gguf", nargs="+", type=Path, required=True, metavar="FILE",
                    help="the model's GGUF file, or every shard of a split one")
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA,
                    help="the data file whose quantizations: and platforms: to use (default: %(default)s)")
    ap.add_argument("--experts", metavar="USED/COUNT",
                    help="experts per token / experts, if the GGUF's metadata does not say")
    args = ap.parse_args(argv)
    for path in args.gguf:
        if not path.is_file():
            ap.error(f"{path}: no such file")
    tensors, meta = read_gguf(args.gguf)
    if args.experts:
        used, _, count = args.experts.partition("/")
        meta["expert_used"], meta["expert_count"] = int(used), int(count)
    try:
        groups = gguf_read_groups(tensors, meta["expert_used"], meta["expert_count"])
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    data = load(args.data)
    print(format_groups(groups, meta, data.quantizations,
                        {k: p.memory_bandwidth_gbs for k, p in data.platforms.items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
