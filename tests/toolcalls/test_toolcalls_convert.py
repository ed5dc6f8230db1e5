"""Schema typing of XML values, message-level rules, call ids, pathological inputs."""

from __future__ import annotations

import json
import re

import pytest

from toolcalls import StreamNormalizer, make_call_id, normalize_message
from toolcalls.convert import coerce_literal, convert_value, schema_types, tool_parameters


@pytest.mark.parametrize(
    ("raw", "schema", "expected"),
    [
        ("42", {"type": "integer"}, 42),
        (" -7 ", {"type": "integer"}, -7),
        ("4.0", {"type": "integer"}, 4),
        ("3.5", {"type": "number"}, 3.5),
        ("1e3", {"type": "number"}, 1000.0),
        (".5", {"type": "number"}, 0.5),
        ("7", {"type": "number"}, 7),
        ("True", {"type": "boolean"}, True),
        ("false", {"type": "boolean"}, False),
        ("null", {"type": "null"}, None),
        ("null", {"type": ["string", "null"]}, None),
        ("Null value", {"type": ["string", "null"]}, "Null value"),
        ('{"a": [1, {"b": null}]}', {"type": "object"}, {"a": [1, {"b": None}]}),
        ("[1, \"two\"]", {"type": "array"}, [1, "two"]),
        ("  keep  spaces ", {"type": "string"}, "  keep  spaces "),
        ("0042", {"type": "string"}, "0042"),
        ("12", {"type": ["integer", "string"]}, 12),
        ("twelve", {"type": ["integer", "string"]}, "twelve"),
        ("5", {"anyOf": [{"type": "integer"}, {"type": "null"}]}, 5),
        ("2", {"enum": [1, 2, 3]}, 2),
        ("x", {"enum": ["x", "y"]}, "x"),
        ('{"k": 1}', {"properties": {"k": {"type": "integer"}}}, {"k": 1}),
        ("5", {"description": "no type"}, "5"),
        ("5", None, "5"),
    ],
)
def test_convert_value_with_schema(raw, schema, expected) -> None:
    value, err = convert_value(raw, schema)
    assert err is None
    assert value == expected and type(value) is type(expected)


@pytest.mark.parametrize(
    ("raw", "schema"),
    [
        ("three", {"type": "integer"}),
        ("4.5", {"type": "integer"}),
        ("NaN", {"type": "number"}),
        ("inf", {"type": "number"}),
        ("yes", {"type": "boolean"}),
        ("{bad json}", {"type": "object"}),
        ("[1, 2]", {"type": "object"}),
        ("{}", {"type": "array"}),
        ("nil", {"type": "null"}),
    ],
)
def test_convert_value_mismatch_keeps_string(raw, schema) -> None:
    value, err = convert_value(raw, schema)
    assert value == raw
    assert err and "declared type" in err


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("12", 12), ("-1.5", -1.5), ("true", True), ("null", None), ("[1]", [1]),
     ('{"a": 1}', {"a": 1}), ('"quoted"', '"quoted"'), ("12 apples", "12 apples"),
     ("NaN", "NaN"), (" 7 ", 7)],
)
def test_coerce_untyped_literals(raw, expected) -> None:
    assert coerce_literal(raw) == expected
    assert convert_value(raw, None, coerce_untyped=True) == (expected, None)
    assert convert_value(raw, None) == (raw, None)  # default: strings stay strings


def test_schema_types_variants() -> None:
    assert schema_types({"type": "int"}) == ["integer"]
    assert schema_types({"type": ["number", "null"]}) == ["number", "null"]
    assert schema_types({"oneOf": [{"type": "string"}, {"type": "array"}]}) == ["string", "array"]
    assert schema_types({"enum": [True, None]}) == ["boolean", "null"]
    assert schema_types({}) == []


class _Obj:
    def __init__(self, data):
        self._data = data

    def model_dump(self):
        return self._data


def test_tool_parameters_shapes() -> None:
    params = {"type": "object", "properties": {"n": {"type": "integer"}}}
    assert tool_parameters([{"type": "function", "function": {"name": "a", "parameters": params}}], "a") == params
    assert tool_parameters([{"name": "a", "parameters": params}], "a") == params
    assert tool_parameters([_Obj({"type": "function", "function": {"name": "a", "parameters": params}})], "a") == params
    assert tool_parameters([{"type": "function", "function": {"name": "a"}}], "a") == {}
    assert tool_parameters([{"type": "function", "function": {"name": "a"}}], "b") is None
    assert tool_parameters(None, "a") is None


def test_xml_without_schema_and_coerce_untyped() -> None:
    content = ("<tool_call>\n<function=f>\n<parameter=n>\n12\n</parameter>\n"
               "<parameter=s>\n\"hi\"\n</parameter>\n<parameter=b>\nfalse\n</parameter>\n</function>\n</tool_call>")
    plain = normalize_message({"role": "assistant", "content": content})
    assert json.loads(plain.tool_calls[0]["function"]["arguments"]) == {"n": "12", "s": '"hi"', "b": "false"}
    coerced = normalize_message({"role": "assistant", "content": content}, coerce_untyped=True)
    assert json.loads(coerced.tool_calls[0]["function"]["arguments"]) == {"n": 12, "s": '"hi"', "b": False}


def test_hermes_values_are_not_retyped_by_schema() -> None:
    tools = [{"type": "function", "function": {"name": "f", "parameters": {
        "type": "object", "properties": {"n": {"type": "integer"}}}}}]
    r = normalize_message({"role": "assistant",
                           "content": '<tool_call>{"name": "f", "arguments": {"n": "5"}}</tool_call>'}, tools)
    assert json.loads(r.tool_calls[0]["function"]["arguments"]) == {"n": "5"}
    assert r.problems == []


def test_arguments_are_json_with_unicode_unescaped() -> None:
    r = normalize_message({"role": "assistant",
                           "content": '<tool_call>{"name": "f", "arguments": {"t": "\\u6771 🙂"}}</tool_call>'})
    assert r.tool_calls[0]["function"]["arguments"] == '{"t": "東 🙂"}'


# ---------------------------------------------------------------- message-level rules

def test_message_with_tool_calls_is_returned_unchanged() -> None:
    msg = {"role": "assistant", "content": '<tool_call>{"name": "g", "arguments": {}}</tool_call>',
           "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}
    r = normalize_message(msg)
    assert r.message == msg and r.message is not msg
    assert r.problems == []


@pytest.mark.parametrize("empty", [None, []])
def test_empty_tool_calls_field_is_not_treated_as_calls(empty) -> None:
    r = normalize_message({"role": "assistant", "content": '<tool_call>{"name": "g"}</tool_call>',
                           "tool_calls": empty})
    assert [c["function"]["name"] for c in r.tool_calls] == ["g"]
    assert r.content is None


@pytest.mark.parametrize("content", [None, "", "no calls here  \n"])
def test_messages_without_calls_unchanged(content) -> None:
    msg = {"role": "assistant", "content": content}
    r = normalize_message(msg)
    assert r.message == msg and r.problems == []


def test_non_string_content_reported() -> None:
    msg = {"role": "assistant", "content": [{"type": "text", "text": "<tool_call>"}]}
    r = normalize_message(msg)
    assert r.message == msg
    assert [p.code for p in r.problems] == ["unsupported_content"]


def test_accepts_object_with_model_dump() -> None:
    obj = _Obj({"role": "assistant", "content": '<tool_call>{"name": "g", "arguments": {}}</tool_call>',
                "tool_calls": None})
    assert normalize_message(obj).tool_calls[0]["function"]["name"] == "g"


def test_rejects_non_mapping() -> None:
    with pytest.raises(TypeError):
        normalize_message("just a string")  # type: ignore[arg-type]


# ---------------------------------------------------------------- ids

CALL = '<tool_call>{"name": "f", "arguments": {"a": 1}}</tool_call>'


def test_ids_stable_unique_and_well_formed() -> None:
    msg = {"role": "assistant", "content": CALL + CALL + "\n" + CALL}
    a = [c["id"] for c in normalize_message(msg).tool_calls]
    b = [c["id"] for c in normalize_message(dict(msg)).tool_calls]
    assert a == b
    assert len(set(a)) == 3
    assert all(re.fullmatch(r"call_[0-9a-f]{24}", i) for i in a)


def test_ids_depend_on_content_and_seed() -> None:
    one = normalize_message({"role": "assistant", "content": CALL}).tool_calls[0]["id"]
    other = normalize_message({"role": "assistant", "content": "x" + CALL}).tool_calls[0]["id"]
    seeded = normalize_message({"role": "assistant", "content": CALL}, id_seed="chatcmpl-1").tool_calls[0]["id"]
    assert len({one, other, seeded}) == 3
    assert one == make_call_id("", 0, 0, CALL)


# ---------------------------------------------------------------- pathological inputs (behaviour only)

def test_many_unclosed_open_tags_kept_verbatim() -> None:
    content = "<tool_call>" * 2000
    r = normalize_message({"role": "assistant", "content": content})
    assert r.content == content and r.tool_calls == []
    assert len(r.problems) == 2000
    assert {p.code for p in r.problems} == {"unterminated_tool_call"}


def test_open_tag_prefixes_without_gt_are_plain_text() -> None:
    content = "<tool_call" * 3000
    r = normalize_message({"role": "assistant", "content": content})
    assert r.content == content and r.problems == []


def test_deeply_nested_json_is_reported_not_raised() -> None:
    depth = 50_000
    content = '<tool_call>{"name": "f", "arguments": ' + '{"a": ' * depth + "1" + "}" * depth + "}</tool_call>"
    r = normalize_message({"role": "assistant", "content": content})
    assert r.content == content
    assert [p.code for p in r.problems] == ["malformed_json"]


def test_long_backslash_runs_in_strings() -> None:
    for n in (0, 1, 2, 3, 1000, 1001):
        inner = "\\" * (2 * n) + "\\\""  # 2n escaped backslashes then an escaped quote
        content = '<tool_call>{"name": "f", "arguments": {"s": "' + inner + '"}}</tool_call>'
        s = StreamNormalizer()
        for ch in content:
            s.feed(ch)
        s.finish()
        args = json.loads(s.result().tool_calls[0]["function"]["arguments"])
        assert args == {"s": "\\" * n + '"'}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("\nabc\n", "abc"), ("\r\nabc\r\n", "abc"), ("\n\nabc\n\n", "\nabc\n"), ("abc", "abc"),
     (" abc ", " abc "), ("\n", "")],
)
def test_xml_value_loses_one_newline_each_side(raw, expected) -> None:
    from toolcalls.qwen_xml import strip_value

    assert strip_value(raw) == expected
