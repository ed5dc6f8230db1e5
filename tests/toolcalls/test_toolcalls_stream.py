"""StreamNormalizer specifics: hold-back, flushing, events, API misuse."""

from __future__ import annotations

import json
import random

import pytest

from toolcalls import (
    StreamNormalizer,
    TextEvent,
    ToolCallEvent,
    iter_events,
    normalize_message,
)

CALL = '<tool_call>{"name": "f", "arguments": {"a": 1}}</tool_call>'


def texts(events):
    return [e.text for e in events if isinstance(e, TextEvent)]


def test_tag_split_across_chunks() -> None:
    s = StreamNormalizer()
    assert s.feed("Hello <tool_") == [TextEvent("Hello ")]
    assert s.feed("call>") == []
    assert s.feed('{"name": "f", "arguments": {"a": 1}}</tool') == []
    ev = s.feed("_call> bye")
    assert [type(e) for e in ev] == [ToolCallEvent, TextEvent]
    assert ev[0].index == 0
    assert ev[0].tool_call["function"] == {"name": "f", "arguments": '{"a": 1}'}
    assert ev[1] == TextEvent(" bye")
    assert s.finish() == []
    assert s.result().message["content"] == "Hello\nbye"


def test_text_that_cannot_start_a_tag_is_released_immediately() -> None:
    s = StreamNormalizer()
    assert s.feed("1 < 2 and <tool>") == [TextEvent("1 < 2 and <tool>")]
    assert s.feed("a <") == [TextEvent("a ")]
    assert s.feed("b") == [TextEvent("<b")]
    assert s.feed("<tool_c") == []
    assert s.feed("ar") == [TextEvent("<tool_car")]


def test_finish_flushes_held_prefix() -> None:
    s = StreamNormalizer()
    assert s.feed("end <tool_") == [TextEvent("end ")]
    assert s.finish() == [TextEvent("<tool_")]
    r = s.result()
    assert r.message["content"] == "end <tool_"
    assert r.problems == [] and "tool_calls" not in r.message


def test_finish_reports_unterminated_block_and_keeps_raw() -> None:
    s = StreamNormalizer()
    assert s.feed('ok <tool_call>{"name": "f", "arguments": {"a": ') == [TextEvent("ok ")]
    ev = s.finish()
    assert ev == [TextEvent('<tool_call>{"name": "f", "arguments": {"a": ')]
    assert [p.code for p in s.problems] == ["unterminated_tool_call"]
    assert s.problems[0].start == 3


def test_finish_parses_block_missing_only_end_tag() -> None:
    s = StreamNormalizer()
    assert s.feed('<tool_call>{"name": "f", "arguments": {}}\n') == []
    ev = s.finish()
    assert len(ev) == 1 and isinstance(ev[0], ToolCallEvent)
    assert [p.code for p in s.problems] == ["missing_end_tag"]


def test_block_text_is_held_until_block_ends() -> None:
    s = StreamNormalizer()
    out = []
    for ch in "x" + CALL + "y":
        out.append(s.feed(ch))
    flat = [e for evs in out for e in evs]
    assert flat[0] == TextEvent("x")
    assert isinstance(flat[1], ToolCallEvent)
    # the call event arrives exactly with the last '>' of </tool_call>
    assert out[len("x" + CALL) - 1] == [flat[1]]
    assert flat[2] == TextEvent("y")


def test_none_and_empty_chunks_are_ignored() -> None:
    s = StreamNormalizer()
    assert s.feed(None) == []
    assert s.feed("") == []
    assert texts(s.feed("hi")) == ["hi"]


def test_non_string_chunk_rejected() -> None:
    with pytest.raises(TypeError):
        StreamNormalizer().feed(b"bytes")  # type: ignore[arg-type]


def test_feed_after_finish_raises_and_finish_is_idempotent() -> None:
    s = StreamNormalizer()
    s.feed("a")
    assert s.finish() == []
    assert s.finish() == []
    with pytest.raises(RuntimeError):
        s.feed("b")


def test_result_before_finish_raises() -> None:
    s = StreamNormalizer()
    s.feed(CALL)
    with pytest.raises(RuntimeError):
        s.result()


def test_result_keeps_other_message_keys() -> None:
    s = StreamNormalizer()
    s.feed("Sure. " + CALL)
    s.finish()
    r = s.result({"role": "assistant", "reasoning_content": "why", "content": None})
    assert r.message["reasoning_content"] == "why"
    assert r.message["content"] == "Sure."
    assert r.tool_calls[0]["function"]["name"] == "f"


def test_iter_events_matches_feed() -> None:
    chunks = ["pre <tool", "_call>", '{"name": "f", "arguments": {"a": 1}}', "</tool_call> post"]
    ev = list(iter_events(chunks))
    assert texts(ev) == ["pre ", " post"]
    assert [e.tool_call["function"]["name"] for e in ev if isinstance(e, ToolCallEvent)] == ["f"]


def test_stream_ids_equal_whole_message_ids() -> None:
    content = "a " + CALL + " b " + CALL
    whole = normalize_message({"role": "assistant", "content": content})
    ev = list(iter_events(content[i:i + 3] for i in range(0, len(content), 3)))
    assert [e.tool_call["id"] for e in ev if isinstance(e, ToolCallEvent)] == \
        [c["id"] for c in whole.tool_calls]


def test_random_chunkings_of_a_long_mixed_message() -> None:
    rnd = random.Random(1234)
    parts = []
    for i in range(60):
        parts.append(f"Paragraph {i} with <angle>, {{braces}}, ünïcödé 🙂 and <tool_ prefix.\n")
        if i % 3 == 0:
            parts.append(json.dumps({"name": "f", "arguments": {"i": i, "s": "}</tool_call>{"}})
                         .join(["<tool_call>\n", "\n</tool_call>\n"]))
        elif i % 3 == 1:
            parts.append(f"<tool_call>\n<function=g>\n<parameter=i>\n{i}\n</parameter>\n</function>\n</tool_call>\n")
        elif i % 7 == 2:
            parts.append('<tool_call>{"name": broken}</tool_call>\n')
    content = "".join(parts)
    ref = normalize_message({"role": "assistant", "content": content})
    assert len(ref.tool_calls) == 40
    assert [p.code for p in ref.problems] == ["malformed_json"] * 3
    for _ in range(30):
        s = StreamNormalizer()
        pos = 0
        while pos < len(content):
            n = rnd.choice([1, 2, 3, 7, 11, 12, 13, 64, 500])
            s.feed(content[pos:pos + n])
            pos += n
        s.finish()
        got = s.result({"role": "assistant", "content": content})
        assert got.message == ref.message
        assert got.problems == ref.problems
