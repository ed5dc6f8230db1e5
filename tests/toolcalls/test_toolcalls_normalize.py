"""Behaviour of normalize_message, one case per situation, plus streaming round-trips.

Every case is also replayed through StreamNormalizer split at every position (and in
1-character chunks, and at every pair of positions for short inputs): the streamed
events and the final message must equal the whole-message result.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pytest

from toolcalls import StreamNormalizer, TextEvent, ToolCallEvent, normalize_message

START = "<tool_call>"

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {
                "type": "object",
                "properties": {
                    "city": {"type": "string"},
                    "days": {"type": "integer"},
                    "metric": {"type": "boolean"},
                    "ratio": {"type": "number"},
                    "opts": {"type": "object"},
                    "tags": {"type": "array"},
                    "note": {"type": ["string", "null"]},
                    "zip": {"type": "string"},
                },
            },
        },
    },
    {"type": "function", "function": {"name": "write", "parameters": {
        "type": "object", "properties": {"path": {"type": "string"}, "text": {"type": "string"}}}}},
    {"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {}}}},
    {"type": "function", "function": {"name": "g", "parameters": {"type": "object", "properties": {}}}},
]


@dataclass
class Case:
    id: str
    content: str
    calls: list  # [(name, args_dict)]
    text: str | None  # expected message["content"]
    problems: list = field(default_factory=list)  # expected problem codes, in order
    tools: list | None = None


def hermes(name, args, pad="\n"):
    return f"{START}{pad}{json.dumps({'name': name, 'arguments': args}, ensure_ascii=False)}{pad}</tool_call>"


XML_WEATHER = (
    "<tool_call>\n<function=get_weather>\n"
    "<parameter=city>\nSan Francisco\n</parameter>\n"
    "<parameter=days>\n3\n</parameter>\n"
    "<parameter=metric>\nTrue\n</parameter>\n"
    "<parameter=ratio>\n0.5\n</parameter>\n"
    '<parameter=opts>\n{"unit": "C", "hours": [6, 18]}\n</parameter>\n'
    '<parameter=tags>\n["a", 1]\n</parameter>\n'
    "<parameter=note>\nnull\n</parameter>\n"
    "<parameter=zip>\n02139\n</parameter>\n"
    "</function>\n</tool_call>"
)
XML_WEATHER_ARGS = {"city": "San Francisco", "days": 3, "metric": True, "ratio": 0.5,
                    "opts": {"unit": "C", "hours": [6, 18]}, "tags": ["a", 1], "note": None,
                    "zip": "02139"}

MALFORMED = '<tool_call>{"name": "f", "arguments": {"a": 1,}}</tool_call>'

CASES = [
    Case("hermes_single", "I will check.\n" + hermes("get_weather", {"city": "Paris"}),
         [("get_weather", {"city": "Paris"})], "I will check."),
    Case("xml_typed_with_schema", "Checking.\n" + XML_WEATHER,
         [("get_weather", XML_WEATHER_ARGS)], "Checking.", tools=TOOLS),
    Case("xml_untyped_without_schema", XML_WEATHER,
         [("get_weather", {"city": "San Francisco", "days": "3", "metric": "True", "ratio": "0.5",
                           "opts": '{"unit": "C", "hours": [6, 18]}', "tags": '["a", 1]',
                           "note": "null", "zip": "02139"})], None),
    Case("several_hermes_calls",
         hermes("f", {"x": 1}) + "\n" + hermes("g", {"y": [1, 2]}) + "\n" + hermes("f", {"x": 1}),
         [("f", {"x": 1}), ("g", {"y": [1, 2]}), ("f", {"x": 1})], None),
    Case("several_mixed_formats",
         hermes("f", {}) + "<tool_call>\n<function=g>\n<parameter=k>\nv\n</parameter>\n</function>\n</tool_call>",
         [("f", {}), ("g", {"k": "v"})], None),
    Case("text_before_between_after",
         "Before the calls.\n\n" + hermes("f", {"a": 1}) + "\n  Between them.  \n"
         + hermes("g", {"b": 2}) + "\n\nAfter: done.\n",
         [("f", {"a": 1}), ("g", {"b": 2})], "Before the calls.\nBetween them.\nAfter: done."),
    Case("whitespace_inside_json_tags",
         '<tool_call>\n\n  {\n    "name" : "f",\n\t"arguments" : { "a" : 1 }\n  }  \n\t</tool_call>',
         [("f", {"a": 1})], None),
    Case("whitespace_inside_xml_tags",
         "<tool_call>\n\n<function= write >\n\n<parameter= path >\n  /tmp/x y  \n</parameter>\n\n"
         "<parameter=text>\nline 1\n\nline 3\n\n</parameter>\n\n</function>\n\n</tool_call>",
         [("write", {"path": "  /tmp/x y  ", "text": "line 1\n\nline 3\n"})], None),
    Case("arguments_as_object", '<tool_call>{"name": "f", "arguments": {"q": "a b", "n": 2}}</tool_call>',
         [("f", {"q": "a b", "n": 2})], None),
    Case("arguments_as_json_string",
         '<tool_call>{"name": "f", "arguments": "{\\"q\\": \\"a b\\", \\"n\\": 2}"}</tool_call>',
         [("f", {"q": "a b", "n": 2})], None),
    Case("arguments_string_not_json",
         'x <tool_call>{"name": "f", "arguments": "q=a b"}</tool_call>', [],
         'x <tool_call>{"name": "f", "arguments": "q=a b"}</tool_call>', ["invalid_tool_call"]),
    Case("unterminated_final_incomplete",
         'Let me call it.\n<tool_call>\n{"name": "f", "argu', [],
         'Let me call it.\n<tool_call>\n{"name": "f", "argu', ["unterminated_tool_call"]),
    Case("unterminated_final_xml_incomplete",
         "Go.\n<tool_call>\n<function=write>\n<parameter=path>\n/tmp/a", [],
         "Go.\n<tool_call>\n<function=write>\n<parameter=path>\n/tmp/a", ["unterminated_tool_call"]),
    Case("unterminated_final_json_complete",
         'Text\n<tool_call>\n{"name": "f", "arguments": {"a": 1}}\n',
         [("f", {"a": 1})], "Text", ["missing_end_tag"]),
    Case("unterminated_final_xml_complete",
         "<tool_call>\n<function=write>\n<parameter=path>\n/p\n</parameter>\n</function>\n</tool",
         [("write", {"path": "/p"})], None, ["missing_end_tag"]),
    Case("malformed_json_kept_in_content",
         "A " + MALFORMED + " B " + hermes("g", {"ok": True}),
         [("g", {"ok": True})], "A " + MALFORMED + " B", ["malformed_json"]),
    Case("malformed_json_unterminated_string",
         '<tool_call>{"name": "f", "arguments": {"a": "oops}}</tool_call>\nThen:\n'
         "<tool_call>\n<function=g>\n</function>\n</tool_call>",
         [("g", {})], '<tool_call>{"name": "f", "arguments": {"a": "oops}}</tool_call>\nThen:',
         ["malformed_json"]),
    Case("nested_braces_and_end_tag_in_json_strings",
         '<tool_call>{"name": "write", "arguments": {"text": "if (x) { return \\"</tool_call>\\"; } }}",'
         ' "path": "{a}/{b}", "deep": {"a": {"b": [{"c": "}}{{"}]}}}}</tool_call>after',
         [("write", {"text": 'if (x) { return "</tool_call>"; } }}', "path": "{a}/{b}",
                     "deep": {"a": {"b": [{"c": "}}{{"}]}}})], "after"),
    Case("escaped_backslash_before_quote",
         '<tool_call>{"name": "write", "arguments": {"path": "C:\\\\dir\\\\", "text": "\\\\\\""}}</tool_call>',
         [("write", {"path": "C:\\dir\\", "text": '\\"'})], None),
    Case("unicode",
         "Voilà 🙂\n" + hermes("traduire", {"texte": "東京 – naïve ☃", "emoji": "👩‍💻"})
         + "\n<tool_call>\n<function=write>\n<parameter=text>\nГрüße 🌍\n</parameter>\n</function>\n</tool_call>"
         + "\nfin ✓",
         [("traduire", {"texte": "東京 – naïve ☃", "emoji": "👩‍💻"}), ("write", {"text": "Грüße 🌍"})],
         "Voilà 🙂\nfin ✓"),
    Case("xml_value_containing_end_tag",
         "<tool_call>\n<function=write>\n<parameter=text>\nclose with </tool_call> or </function>\n"
         "</parameter>\n</function>\n</tool_call>",
         [("write", {"text": "close with </tool_call> or </function>"})], None),
    Case("xml_missing_parameter_end",
         "<tool_call>\n<function=f>\n<parameter=a>\n1\n<parameter=b>\n2\n</function>\n</tool_call>\nok",
         [("f", {"a": "1", "b": "2"})], "ok", ["missing_parameter_end", "missing_parameter_end"]),
    Case("xml_missing_function_end",
         "<tool_call>\n<function=f>\n<parameter=a>\n1\n</parameter>\n</tool_call>",
         [("f", {"a": "1"})], None, ["missing_function_end"]),
    Case("malformed_xml_kept",
         "<tool_call>\n<function=f>\nnot a parameter\n</function>\n</tool_call>", [],
         "<tool_call>\n<function=f>\nnot a parameter\n</function>\n</tool_call>", ["malformed_xml"]),
    Case("unknown_body_format", "<tool_call>get_weather(city='Paris')</tool_call>", [],
         "<tool_call>get_weather(city='Paris')</tool_call>", ["unknown_format"]),
    Case("missing_name", '<tool_call>{"arguments": {}}</tool_call>', [],
         '<tool_call>{"arguments": {}}</tool_call>', ["invalid_tool_call"]),
    Case("unterminated_then_new_call",
         '<tool_call>{"name": "f", ' + hermes("g", {}),
         [("g", {})], '<tool_call>{"name": "f",', ["unterminated_tool_call"]),
    Case("unknown_tool_with_schema", hermes("launch_rockets", {"n": 1}),
         [("launch_rockets", {"n": 1})], None, ["unknown_tool"], tools=TOOLS),
    Case("type_mismatch_kept_as_string",
         "<tool_call>\n<function=get_weather>\n<parameter=days>\nthree\n</parameter>\n</function>\n</tool_call>",
         [("get_weather", {"days": "three"})], None, ["type_mismatch"], tools=TOOLS),
    Case("no_tool_call_untouched", "  Plain <b>html</b>, {json} and a < sign.  \n", [],
         "  Plain <b>html</b>, {json} and a < sign.  \n"),
    Case("tag_lookalikes_untouched", "<tool_call <tool_calls> </tool_call> <tool_", [],
         "<tool_call <tool_calls> </tool_call> <tool_"),
]


def _check(case: Case, result) -> None:
    msg = result.message
    got_calls = [(c["function"]["name"], json.loads(c["function"]["arguments"]))
                 for c in msg.get("tool_calls") or []]
    assert got_calls == case.calls
    assert msg["content"] == case.text
    assert [p.code for p in result.problems] == case.problems
    for call in msg.get("tool_calls") or []:
        assert set(call) == {"id", "type", "function"}
        assert call["type"] == "function"
        assert isinstance(call["function"]["arguments"], str)
        assert call["id"].startswith("call_") and len(call["id"]) == 29
    ids = [c["id"] for c in msg.get("tool_calls") or []]
    assert len(set(ids)) == len(ids)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_normalize_case(case: Case) -> None:
    original = {"role": "assistant", "content": case.content, "tool_calls": [],
                "reasoning_content": "thinking"}
    snapshot = json.dumps(original)
    result = normalize_message(original, case.tools)
    _check(case, result)
    assert result.message["role"] == "assistant"
    assert result.message["reasoning_content"] == "thinking"
    assert json.dumps(original) == snapshot  # input not mutated
    if not case.calls:
        assert result.message["tool_calls"] == []


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_problem_offsets_point_at_blocks(case: Case) -> None:
    result = normalize_message({"role": "assistant", "content": case.content}, case.tools)
    for p in result.problems:
        assert 0 <= p.start < p.end <= len(case.content)
        assert case.content.startswith(START, p.start)


def _stream(case: Case, chunks: list[str]):
    s = StreamNormalizer(case.tools)
    events = []
    for chunk in chunks:
        events.extend(s.feed(chunk))
    events.extend(s.finish())
    return events, s.result({"role": "assistant", "content": None, "tool_calls": []})


def _assert_same(case: Case, chunks: list[str], reference) -> None:
    events, result = _stream(case, chunks)
    assert result.message == reference.message, chunks
    assert result.problems == reference.problems, chunks
    calls = [e for e in events if isinstance(e, ToolCallEvent)]
    assert [e.index for e in calls] == list(range(len(calls)))
    assert [e.tool_call for e in calls] == (reference.message.get("tool_calls") or [])
    text = "".join(e.text for e in events if isinstance(e, TextEvent))
    whole_events, _ = _stream(case, [case.content])
    assert text == "".join(e.text for e in whole_events if isinstance(e, TextEvent))


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_stream_roundtrip_every_split(case: Case) -> None:
    reference = normalize_message({"role": "assistant", "content": case.content, "tool_calls": []},
                                  case.tools)
    _check(case, reference)
    c = case.content
    for i in range(len(c) + 1):
        _assert_same(case, [c[:i], c[i:]], reference)
    _assert_same(case, list(c), reference)
    if len(c) <= 120:
        for i in range(1, len(c)):
            for j in range(i + 1, len(c)):
                _assert_same(case, [c[:i], c[i:j], c[j:]], reference)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_stream_holds_back_only_tag_prefixes(case: Case) -> None:
    """Before the first block, text is released except a pending '<tool_call>' prefix."""
    c = case.content
    k = c.find(START)
    limit = len(c) if k < 0 else k + len(START) - 1
    for i in range(limit + 1):
        s = StreamNormalizer(case.tools)
        released = "".join(e.text for e in s.feed(c[:i]) if isinstance(e, TextEvent))
        head = c[:i]
        held = 0
        for n in range(min(len(head), len(START) - 1), 0, -1):
            if START.startswith(head[-n:]):
                held = n
                break
        assert released == head[:len(head) - held], (i, released)


@pytest.mark.parametrize("field", ["reasoning_content", "reasoning"])
def test_reasoning_under_either_name_passes_through_and_is_read(field):
    from toolcalls import StreamNormalizer, reasoning_of

    message = {"role": "assistant", field: "thinking", "content": XML_CALL_FOR_REASONING}
    result = normalize_message(message, TOOLS_FOR_REASONING)
    assert result.message[field] == "thinking" and reasoning_of(result.message) == "thinking"
    assert result.message["tool_calls"][0]["function"]["name"] == "get_weather"
    stream = StreamNormalizer(TOOLS_FOR_REASONING)
    stream.feed(XML_CALL_FOR_REASONING)
    stream.finish()
    assert reasoning_of(stream.result({"role": "assistant", field: "thinking"}).message) == "thinking"


def test_reasoning_of_is_none_without_reasoning():
    from toolcalls import reasoning_of

    assert reasoning_of({"role": "assistant", "content": "hi"}) is None
    assert reasoning_of({"reasoning": None, "reasoning_content": None}) is None


XML_CALL_FOR_REASONING = "<tool_call>\n<function=get_weather>\n<parameter=city>\nParis\n</parameter>\n</function>\n</tool_call>"
TOOLS_FOR_REASONING = [{"type": "function", "function": {"name": "get_weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}}}}]
