#!/usr/bin/env python3
"""Timing of toolcalls on ~1 MB messages (normal and pathological).

Usage:  python bench/toolcalls_1mb.py [--size BYTES] [--chunks 1,16,256,4096] [--quick]

For every case it prints the time of ``normalize_message`` and of ``StreamNormalizer``
fed in fixed-size chunks (sizes are in characters; the inputs are ASCII except for a
little Unicode in the mixed case, so characters ~= bytes).  ``normalize`` is also run
on a quarter-size input: a ratio near 4 means linear scaling, 16 would be quadratic.
Not a test: it asserts only that every path finishes and the calls come out right.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from toolcalls import StreamNormalizer, normalize_message

TOOLS = [{"type": "function", "function": {"name": "write_file", "parameters": {
    "type": "object", "properties": {"path": {"type": "string"}, "content": {"type": "string"},
                                     "mode": {"type": "integer"}}}}}]


def _fill(unit: str, size: int) -> str:
    return unit * max(1, size // len(unit))


def case_mixed(size: int) -> tuple[str, int]:
    """Long prose with Hermes and XML calls interleaved (the realistic case)."""
    para = ("Here is some reasoning about the repository layout, with {braces}, <angle> "
            "brackets, a stray <tool_ prefix and Unicode: Grüße, 東京, 🙂.\n") * 8
    hermes = '<tool_call>\n{"name": "write_file", "arguments": {"path": "a/b.py", ' \
             '"content": "def f():\\n    return {\\"x\\": \\"</tool_call>\\"}\\n", "mode": 420}}\n</tool_call>\n'
    xml = ("<tool_call>\n<function=write_file>\n<parameter=path>\nsrc/x.c\n</parameter>\n"
           "<parameter=content>\nint main(void) { return 0; } /* </tool_call> inside */\n"
           "</parameter>\n<parameter=mode>\n420\n</parameter>\n</function>\n</tool_call>\n")
    unit = para + hermes + para + xml
    n = max(1, size // len(unit))
    return unit * n, 2 * n


def case_huge_json_string(size: int) -> tuple[str, int]:
    body = _fill('line with \\"quotes\\", {braces} and </tool_call> \\\\ \\n', size)
    return ('<tool_call>{"name": "write_file", "arguments": {"path": "big.txt", "content": "'
            + body + '"}}</tool_call>'), 1


def case_huge_xml_value(size: int) -> tuple[str, int]:
    body = _fill("if (a < b && c > d) { x = \"</tool_call>\"; }\n", size)
    return ("<tool_call>\n<function=write_file>\n<parameter=path>\nbig.c\n</parameter>\n"
            "<parameter=content>\n" + body + "</parameter>\n</function>\n</tool_call>"), 1


def case_open_no_gt(size: int) -> tuple[str, int]:
    return _fill("<tool_call", size), 0


def case_open_unclosed(size: int) -> tuple[str, int]:
    return _fill("<tool_call>", size), 0


def case_open_brace(size: int) -> tuple[str, int]:
    return _fill("<tool_call>{", size), 0


def case_unterminated_string(size: int) -> tuple[str, int]:
    return ('<tool_call>{"name": "write_file", "arguments": {"content": "'
            + _fill("x</tool_call>", size)), 0


def case_deep_nesting(size: int) -> tuple[str, int]:
    depth = size // 6
    return ('<tool_call>{"name": "f", "arguments": ' + '{"a": ' * depth + "1" + "}" * depth
            + "}</tool_call>"), 0


def case_backslashes(size: int) -> tuple[str, int]:
    return ('<tool_call>{"name": "write_file", "arguments": {"content": "'
            + "\\\\" * (size // 2) + '"}}</tool_call>'), 1


def case_tag_prefixes_in_text(size: int) -> tuple[str, int]:
    return _fill("a <tool_ b <tool_call c </tool_call> d <", size), 0


def case_xml_missing_param_ends(size: int) -> tuple[str, int]:
    unit = "<parameter=path>\nx\n"
    return ("<tool_call>\n<function=write_file>\n" + _fill(unit, size)
            + "</function>\n</tool_call>"), 1


CASES = [
    ("mixed text + hermes/xml calls", case_mixed),
    ("one 1 MB JSON string argument", case_huge_json_string),
    ("one 1 MB XML parameter value", case_huge_xml_value),
    ("'<tool_call' x N, no '>'", case_open_no_gt),
    ("'<tool_call>' x N, never closed", case_open_unclosed),
    ("'<tool_call>{' x N", case_open_brace),
    ("unterminated JSON string", case_unterminated_string),
    ("deeply nested JSON objects", case_deep_nesting),
    ("1 MB of backslash escapes", case_backslashes),
    ("text full of tag prefixes", case_tag_prefixes_in_text),
    ("XML params without </parameter>", case_xml_missing_param_ends),
]


def stream(content: str, size: int) -> tuple[int, str | None]:
    s = StreamNormalizer(TOOLS)
    feed = s.feed
    for i in range(0, len(content), size):
        feed(content[i:i + size])
    s.finish()
    r = s.result()
    return len(r.tool_calls), r.content


def timed(fn, *args):
    t0 = time.perf_counter()
    out = fn(*args)
    return time.perf_counter() - t0, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=1_000_000)
    ap.add_argument("--chunks", default="1,16,256,4096")
    ap.add_argument("--quick", action="store_true", help="skip 1-character chunks")
    opts = ap.parse_args()
    chunk_sizes = [int(x) for x in opts.chunks.split(",")]
    if opts.quick:
        chunk_sizes = [c for c in chunk_sizes if c > 1]
    print(f"python {sys.version.split()[0]}; times in seconds; chunk sizes in characters")
    header = f"{'case':34} {'chars':>9} {'calls':>6} {'norm':>7} {'norm/4':>7} {'ratio':>5}"
    header += "".join(f" {'s@' + str(c):>7}" for c in chunk_sizes)
    print(header)
    for label, make in CASES:
        content, expected_calls = make(opts.size)
        quarter, _ = make(opts.size // 4)
        t_norm, res = timed(normalize_message, {"role": "assistant", "content": content}, TOOLS)
        t_quarter, _ = timed(normalize_message, {"role": "assistant", "content": quarter}, TOOLS)
        got = len(res.tool_calls)
        assert got == expected_calls, (label, got, expected_calls)
        for call in res.tool_calls:
            json.loads(call["function"]["arguments"])
        row = (f"{label:34} {len(content):>9} {got:>6} {t_norm:>7.3f} {t_quarter:>7.3f} "
               f"{t_norm / max(t_quarter, 1e-9):>5.1f}")
        for c in chunk_sizes:
            t_stream, (n_calls, text) = timed(stream, content, c)
            assert n_calls == got and text == res.content, (label, c)
            row += f" {t_stream:>7.3f}"
        print(row, flush=True)


if __name__ == "__main__":
    main()
