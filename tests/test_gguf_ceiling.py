"""read_per_token from a GGUF file's own tensor types (labdocs/model/ceiling.py, issue 18 point 5).

Real GGUF files, written here with the `gguf` package's GGUFWriter (a dense model and a fake MoE with expert
tensors), read back by the command; the expected bytes are computed independently from each ggml type's
block (gguf.GGML_QUANT_SIZES: elements per block, bytes per block), not from the reader's n_bytes.
"""

from __future__ import annotations

import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from gguf import GGML_QUANT_SIZES, GGMLQuantizationType, GGUFWriter
from ruamel.yaml import YAML

from labdocs.model import ceiling
from labdocs.model.loader import load
from labdocs.paths import ROOT

T = GGMLQuantizationType
EMBD, FF, VOCAB, LAYERS, EXPERTS, USED = 256, 512, 1000, 2, 8, 2


def nbytes(qtype: T, shape: tuple[int, ...]) -> int:
    """Bytes of a tensor of ggml shape (ne0 first) from its type's block size, independently of gguf's reader."""
    block, size = GGML_QUANT_SIZES[qtype]
    n = 1
    for d in shape:
        n *= d
    assert shape[0] % block == 0, "rows must hold whole blocks"
    return n // block * size


def add(writer: GGUFWriter, name: str, qtype: T, shape: tuple[int, ...]) -> None:
    """A zero tensor of ggml shape `shape` (ne0 first) stored as qtype: raw bytes for quantized types."""
    numpy_shape = tuple(reversed(shape))
    if qtype == T.F32:
        writer.add_tensor(name, np.zeros(numpy_shape, dtype=np.float32))
    elif qtype == T.F16:
        writer.add_tensor(name, np.zeros(numpy_shape, dtype=np.float16))
    else:
        block, size = GGML_QUANT_SIZES[qtype]
        byte_shape = (*numpy_shape[:-1], numpy_shape[-1] // block * size)
        writer.add_tensor(name, np.zeros(byte_shape, dtype=np.uint8), raw_dtype=qtype)


def write(path: Path, tensors: list[tuple[str, T, tuple[int, ...]]], moe: bool) -> None:
    writer = GGUFWriter(path, "llama")
    writer.add_block_count(LAYERS)
    if moe:
        writer.add_expert_count(EXPERTS)
        writer.add_expert_used_count(USED)
    for name, qtype, shape in tensors:
        add(writer, name, qtype, shape)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def layer(i: int, moe: bool) -> list[tuple[str, T, tuple[int, ...]]]:
    out = [(f"blk.{i}.attn_norm.weight", T.F32, (EMBD,)),
           (f"blk.{i}.attn_q.weight", T.Q8_0, (EMBD, EMBD)),
           (f"blk.{i}.attn_k.weight", T.Q8_0, (EMBD, EMBD)),
           (f"blk.{i}.attn_v.weight", T.Q8_0, (EMBD, EMBD)),
           (f"blk.{i}.attn_output.weight", T.Q8_0, (EMBD, EMBD)),
           (f"blk.{i}.ffn_norm.weight", T.F32, (EMBD,))]
    if moe:
        out += [(f"blk.{i}.ffn_gate_inp.weight", T.F32, (EMBD, EXPERTS)),
                (f"blk.{i}.ffn_gate_exps.weight", T.MXFP4, (EMBD, FF, EXPERTS)),
                (f"blk.{i}.ffn_up_exps.weight", T.MXFP4, (EMBD, FF, EXPERTS)),
                (f"blk.{i}.ffn_down_exps.weight", T.MXFP4, (FF, EMBD, EXPERTS))]
    else:
        out += [(f"blk.{i}.ffn_gate.weight", T.Q4_K, (EMBD, FF)),
                (f"blk.{i}.ffn_up.weight", T.Q4_K, (EMBD, FF)),
                (f"blk.{i}.ffn_down.weight", T.Q4_K, (FF, EMBD))]
    return out


def model(moe: bool) -> list[tuple[str, T, tuple[int, ...]]]:
    return [("token_embd.weight", T.Q8_0, (EMBD, VOCAB)),
            *(t for i in range(LAYERS) for t in layer(i, moe)),
            ("output_norm.weight", T.F32, (EMBD,)),
            ("output.weight", T.F16, (EMBD, VOCAB))]


def by_name(groups: list[dict]) -> dict[tuple[str, str], dict]:
    return {(g["name"], g["type"]): g for g in groups}


def test_dense_gguf_groups_exact_bytes(tmp_path):
    path = tmp_path / "dense.gguf"
    write(path, model(moe=False), moe=False)
    tensors, meta = ceiling.read_gguf([path])
    assert meta["expert_count"] is None and meta["arch"] == "llama"
    groups = by_name(ceiling.gguf_read_groups(tensors))
    attn = LAYERS * 4 * nbytes(T.Q8_0, (EMBD, EMBD))
    ffn = LAYERS * 3 * nbytes(T.Q4_K, (EMBD, FF))
    norms = (2 * LAYERS + 1) * nbytes(T.F32, (EMBD,))
    embd_row = nbytes(T.Q8_0, (EMBD,))                    # one row of the table, not VOCAB rows
    output = nbytes(T.F16, (EMBD, VOCAB))
    assert groups[("attention", "Q8_0")]["bytes"] == attn
    assert groups[("dense FFN (and shared experts)", "Q4_K")]["bytes"] == ffn
    assert groups[("norms and other", "F32")]["bytes"] == norms
    assert groups[("embedding (one row per token)", "Q8_0")]["bytes"] == embd_row
    assert groups[("unembedding (output)", "F16")]["bytes"] == output
    assert groups[("unembedding (output)", "F16")]["quantization"] == "FP16"
    assert len(groups) == 5
    # params x bits per weight / 8 gives the bytes back: what the data's groups compute the ceiling from
    for g in groups.values():
        block, size = GGML_QUANT_SIZES[T[g["type"]]]
        assert g["bits_per_weight"] == pytest.approx(size * 8 / block)
        assert g["params"] * ceiling.quant_bits(g["type"]) / 8 == pytest.approx(g["bytes"], rel=1e-12)
    assert groups[("dense FFN (and shared experts)", "Q4_K")]["bits_per_weight"] == 4.5


def test_moe_gguf_counts_only_the_active_experts(tmp_path):
    path = tmp_path / "moe.gguf"
    write(path, model(moe=True), moe=True)
    tensors, meta = ceiling.read_gguf([path])
    assert (meta["expert_used"], meta["expert_count"]) == (USED, EXPERTS)
    groups = by_name(ceiling.gguf_read_groups(tensors, meta["expert_used"], meta["expert_count"]))
    all_experts = LAYERS * (2 * nbytes(T.MXFP4, (EMBD, FF, EXPERTS)) + nbytes(T.MXFP4, (FF, EMBD, EXPERTS)))
    experts = groups[(f"MoE experts ({USED} of {EXPERTS} per layer)", "MXFP4")]
    assert Fraction(experts["bytes"]).limit_denominator(EXPERTS) == Fraction(all_experts * USED, EXPERTS)
    assert experts["params"] == LAYERS * 3 * EMBD * FF * USED
    assert experts["bits_per_weight"] == 4.25          # MXFP4: 32 4-bit values + one 8-bit scale
    assert groups[("router", "F32")]["bytes"] == LAYERS * nbytes(T.F32, (EMBD, EXPERTS))
    total = sum(g["bytes"] for g in groups.values())
    expected = (all_experts * USED / EXPERTS + LAYERS * nbytes(T.F32, (EMBD, EXPERTS))
                + LAYERS * 4 * nbytes(T.Q8_0, (EMBD, EMBD)) + (2 * LAYERS + 1) * nbytes(T.F32, (EMBD,))
                + nbytes(T.Q8_0, (EMBD,)) + nbytes(T.F16, (EMBD, VOCAB)))
    assert total == expected
    # an expert tensor without the counts is an error naming the tensor, not a silent whole-table read
    with pytest.raises(ValueError, match="blk.0.ffn_gate_exps.weight"):
        ceiling.gguf_read_groups(tensors)


def test_tied_output_reads_the_whole_embedding_table(tmp_path):
    path = tmp_path / "tied.gguf"
    write(path, [t for t in model(moe=False) if t[0] != "output.weight"], moe=False)
    groups = by_name(ceiling.gguf_read_groups(ceiling.read_gguf([path])[0]))
    assert groups[("unembedding (tied to token_embd)", "Q8_0")]["bytes"] == nbytes(T.Q8_0, (EMBD, VOCAB))


def test_command_prints_groups_the_data_accepts(tmp_path):
    """Split into two shards (as llama-server's split GGUFs are): the command reads both and prints YAML whose
    groups add up, and quantizations: entries for the ggml types the data lacks."""
    tensors = model(moe=True)
    first, second = tmp_path / "moe-00001-of-00002.gguf", tmp_path / "moe-00002-of-00002.gguf"
    write(first, tensors[:8], moe=True)
    write(second, tensors[8:], moe=False)              # the metadata is in the first shard only
    run = subprocess.run([sys.executable, "-m", "labdocs.model.ceiling", "--gguf", str(first), str(second)],
                         capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert run.returncode == 0, run.stderr
    print(run.stdout)
    text = run.stdout
    assert text.startswith("# from the GGUF's tensor types: moe-00001-of-00002.gguf (")
    assert f"{USED} of {EXPERTS} experts per token" in text
    assert "# decode ceiling on gb10 (" in text
    assert "  Q8_0: {bits_per_weight: 8.5}" in text and "  F32: {bits_per_weight: 32}" in text
    assert "  MXFP4:" not in text                       # the data has it
    pasted = YAML(typ="safe").load(text)
    bits = {**{k: q.bits_per_weight for k, q in load().quantizations.items()}, **{k: v["bits_per_weight"] for k, v in pasted["quantizations"].items()}}
    read = sum(g["params_b"] * 1e9 * bits[g["quantization"]] / 8 for g in pasted["read_per_token"])
    groups = ceiling.gguf_read_groups(ceiling.read_gguf([first, second])[0], USED, EXPERTS)
    assert read == pytest.approx(sum(g["bytes"] for g in groups), rel=1e-5)   # params_b printed to 6 digits
    whole = tmp_path / "moe.gguf"
    write(whole, tensors, moe=True)
    assert groups == ceiling.gguf_read_groups(ceiling.read_gguf([whole])[0], USED, EXPERTS)


def test_command_without_expert_counts_fails_with_the_tensor(tmp_path):
    path = tmp_path / "moe-no-meta.gguf"
    write(path, model(moe=True), moe=False)
    run = subprocess.run([sys.executable, "-m", "labdocs.model.ceiling", "--gguf", str(path)],
                         capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert run.returncode == 2 and "blk.0.ffn_gate_exps.weight" in run.stderr and "--experts" in run.stderr
    run = subprocess.run([sys.executable, "-m", "labdocs.model.ceiling", "--gguf", str(path), "--experts", "2/8"],
                         capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert run.returncode == 0 and "MoE experts (2 of 8 per layer) MXFP4" in run.stdout
