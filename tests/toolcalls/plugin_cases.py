"""Conformance cases for the vLLM tool-parser plugin (toolcalls/vllm_plugin.py).

Each case: the model's raw output, the request's tools, the calls a client must get (name and
decoded arguments, in order) and the text it must get as content (whitespace-normalized; None when
nothing is left). Read by vllm_conformance.py inside the lab venv and by the benchmark; plain data,
standard library only.
"""

from __future__ import annotations

WEATHER = [{"type": "function", "function": {
    "name": "get_weather", "description": "Weather forecast for a city",
    "parameters": {"type": "object", "properties": {
        "city": {"type": "string"}, "days": {"type": "integer"}}, "required": ["city"]}}}]
WRITE = [{"type": "function", "function": {
    "name": "write_file", "description": "Write a file",
    "parameters": {"type": "object", "properties": {
        "path": {"type": "string"}, "content": {"type": "string"}}, "required": ["path", "content"]}}}]
TYPED = [{"type": "function", "function": {
    "name": "configure", "parameters": {"type": "object", "properties": {
        "count": {"type": "integer"}, "ratio": {"type": "number"}, "enabled": {"type": "boolean"},
        "options": {"type": "object"}, "tags": {"type": "array", "items": {"type": "string"}},
        "note": {"type": ["string", "null"]}, "mode": {"enum": ["fast", "slow"]},
        "limit": {"anyOf": [{"type": "integer"}, {"type": "null"}]}, "zip": {"type": "string"}}}}}]
UNTYPED = [{"type": "function", "function": {"name": "get_weather"}}]  # no parameters schema
TOOLS = {"weather": WEATHER, "write": WRITE, "typed": TYPED, "untyped": UNTYPED}

X = "<tool_call>\n<function={name}>\n{params}</function>\n</tool_call>"


def xml(name: str, **params: str) -> str:
    body = "".join(f"<parameter={k}>\n{v}\n</parameter>\n" for k, v in params.items())
    return X.format(name=name, params=body)


def hermes(obj: str) -> str:
    return f"<tool_call>\n{obj}\n</tool_call>"


PY_FILE = "\n".join(
    [f"def f{i}(x):  # <tag> {{braces}} \"quotes\" \\ backslash" for i in range(30)]
    + ["print('</tool_call> is just text here')", "s = '<parameter=x>'", "t = '</parameter'"])

# id: (tools key, model output, expected calls [(name, arguments)], expected content)
CASES: dict[str, tuple[str, str, list[tuple[str, dict]], str | None]] = {
    # ---- Hermes JSON (what --tool-call-parser hermes reads)
    "hermes_one_call": ("weather", hermes('{"name": "get_weather", "arguments": {"city": "Paris"}}'),
                        [("get_weather", {"city": "Paris"})], None),
    "hermes_text_after_call_kept": (
        "weather", "Checking.\n" + hermes('{"name": "get_weather", "arguments": {"city": "Paris"}}')
        + "\nI will report back.", [("get_weather", {"city": "Paris"})], "Checking. I will report back."),
    "hermes_arguments_as_json_string": (
        "weather", hermes('{"name": "get_weather", "arguments": "{\\"city\\": \\"Paris\\", \\"days\\": 2}"}'),
        [("get_weather", {"city": "Paris", "days": 2})], None),
    "hermes_two_calls_text_between": (
        "weather", hermes('{"name": "get_weather", "arguments": {"city": "Paris"}}') + "\nand\n"
        + hermes('{"name": "get_weather", "arguments": {"city": "Rome", "days": 1}}'),
        [("get_weather", {"city": "Paris"}), ("get_weather", {"city": "Rome", "days": 1})], "and"),
    "hermes_bad_block_does_not_hide_next": (
        "weather", hermes('{"name": "get_weather", "arguments": {"city": }}') + "\n"
        + hermes('{"name": "get_weather", "arguments": {"city": "Oslo"}}'),
        [("get_weather", {"city": "Oslo"})],
        '<tool_call> {"name": "get_weather", "arguments": {"city": }} </tool_call>'),
    "hermes_end_tag_inside_string": (
        "write", hermes('{"name": "write_file", "arguments": {"path": "a.md", "content": "use </tool_call> here"}}'),
        [("write_file", {"path": "a.md", "content": "use </tool_call> here"})], None),
    "hermes_braces_and_escapes_in_string": (
        "write", hermes('{"name": "write_file", "arguments": {"path": "x.c", "content": "int main() { return \\"}\\\\\\"; }"}}'),
        [("write_file", {"path": "x.c", "content": 'int main() { return "}\\"; }'})], None),
    "hermes_non_ascii": ("weather", hermes('{"name": "get_weather", "arguments": {"city": "Zürich ☀"}}'),
                         [("get_weather", {"city": "Zürich ☀"})], None),
    "hermes_nested_arguments": (
        "typed", hermes('{"name": "configure", "arguments": {"options": {"a": [1, {"b": null}]}, "tags": []}}'),
        [("configure", {"options": {"a": [1, {"b": None}]}, "tags": []})], None),
    "hermes_parameters_alias": ("weather", hermes('{"name": "get_weather", "parameters": {"city": "Lima"}}'),
                                [("get_weather", {"city": "Lima"})], None),
    "hermes_no_arguments": ("weather", hermes('{"name": "get_weather"}'), [("get_weather", {})], None),
    "hermes_raw_newline_in_string": (
        "write", hermes('{"name": "write_file", "arguments": {"path": "n.txt", "content": "line1\nline2"}}'),
        [("write_file", {"path": "n.txt", "content": "line1\nline2"})], None),
    "hermes_missing_end_tag_at_end": (
        "weather", '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Kyiv"}}',
        [("get_weather", {"city": "Kyiv"})], None),
    "hermes_cut_off_inside_json": (
        "weather", 'Sure.\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Ky',
        [], 'Sure. <tool_call> {"name": "get_weather", "arguments": {"city": "Ky'),
    "hermes_unknown_tool_still_a_call": ("weather", hermes('{"name": "search", "arguments": {"q": "x"}}'),
                                         [("search", {"q": "x"})], None),
    # ---- Qwen3-Coder XML (what qwen3_coder / qwen3_xml read)
    "xml_stella_recorded": ("weather", "<tool_call>\n<function=get_weather>\n<parameter=location>\nParis\n"
                            "</parameter>\n</function>\n</tool_call>",
                            [("get_weather", {"location": "Paris"})], None),
    "xml_typed_by_schema": ("weather", "I'll look it up.\n" + xml("get_weather", city="Paris", days="3"),
                            [("get_weather", {"city": "Paris", "days": 3})], "I'll look it up."),
    "xml_text_after_call_kept": ("weather", xml("get_weather", city="Paris") + "\nDone.",
                                 [("get_weather", {"city": "Paris"})], "Done."),
    "xml_parameter_tag_inside_value": (
        "write", xml("write_file", path="t.txt", content="write <parameter=x> literally"),
        [("write_file", {"path": "t.txt", "content": "write <parameter=x> literally"})], None),
    "xml_function_end_inside_value": (
        "write", xml("write_file", path="t.html", content="a </function> b"),
        [("write_file", {"path": "t.html", "content": "a </function> b"})], None),
    "xml_tool_call_end_inside_value": (
        "write", xml("write_file", path="t.md", content="a </tool_call> b"),
        [("write_file", {"path": "t.md", "content": "a </tool_call> b"})], None),
    "xml_missing_parameter_end": (
        "weather", "<tool_call>\n<function=get_weather>\n<parameter=city>\nParis\n</function>\n</tool_call>",
        [("get_weather", {"city": "Paris"})], None),
    "xml_missing_function_end": (
        "weather", "<tool_call>\n<function=get_weather>\n<parameter=city>\nParis\n</parameter>\n</tool_call>",
        [("get_weather", {"city": "Paris"})], None),
    "xml_crlf": ("weather", xml("get_weather", city="Paris", days="2").replace("\n", "\r\n"),
                 [("get_weather", {"city": "Paris", "days": 2})], None),
    "xml_spaces_in_names": ("weather", "<tool_call>\n<function= get_weather >\n<parameter= city >\nParis\n"
                            "</parameter>\n</function>\n</tool_call>", [("get_weather", {"city": "Paris"})], None),
    "xml_cut_off_inside_value": ("weather", "Sure.\n<tool_call>\n<function=get_weather>\n<parameter=city>\nPar",
                                 [], "Sure. <tool_call> <function=get_weather> <parameter=city> Par"),
    "xml_types_from_schema": (
        "typed", xml("configure", count="5", ratio="0.25", enabled="True", options='{"a": 1}',
                     tags='["x", "y"]', note="null", mode="fast", limit="null", zip="01234"),
        [("configure", {"count": 5, "ratio": 0.25, "enabled": True, "options": {"a": 1}, "tags": ["x", "y"],
                        "note": None, "mode": "fast", "limit": None, "zip": "01234"})], None),
    "xml_type_mismatch_stays_string": ("weather", xml("get_weather", city="Paris", days="three"),
                                       [("get_weather", {"city": "Paris", "days": "three"})], None),
    "xml_undeclared_parameter_stays_string": ("weather", xml("get_weather", city="Paris", code="75001"),
                                              [("get_weather", {"city": "Paris", "code": "75001"})], None),
    "xml_tool_without_schema_strings": ("untyped", xml("get_weather", city="Paris", days="3"),
                                        [("get_weather", {"city": "Paris", "days": "3"})], None),
    "xml_multiline_file": ("write", xml("write_file", path="gen.py", content=PY_FILE),
                           [("write_file", {"path": "gen.py", "content": PY_FILE})], None),
    "xml_json_text_in_string_parameter": ("write", xml("write_file", path="c.json", content='{"k": [1, 2]}'),
                                          [("write_file", {"path": "c.json", "content": '{"k": [1, 2]}'})], None),
    "xml_value_whitespace_kept": ("write", xml("write_file", path="s.txt", content="  indented\n\ttab\n"),
                                  [("write_file", {"path": "s.txt", "content": "  indented\n\ttab\n"})], None),
    "xml_non_ascii": ("weather", xml("get_weather", city="東京"), [("get_weather", {"city": "東京"})], None),
    "xml_two_calls": ("weather", xml("get_weather", city="Paris") + "\n" + xml("get_weather", city="Rome"),
                      [("get_weather", {"city": "Paris"}), ("get_weather", {"city": "Rome"})], None),
    "xml_repeated_parameter_last_wins": ("weather", xml("get_weather", city="Paris").replace(
        "</function>", "<parameter=city>\nRome\n</parameter>\n</function>"), [("get_weather", {"city": "Rome"})], None),
    "xml_no_parameters": ("weather", "<tool_call>\n<function=get_weather>\n</function>\n</tool_call>",
                          [("get_weather", {})], None),
    # ---- mixed, and text that only looks like a call
    "mixed_json_and_xml": ("weather", hermes('{"name": "get_weather", "arguments": {"city": "Paris"}}') + "\n"
                           + xml("get_weather", city="Rome", days="4"),
                           [("get_weather", {"city": "Paris"}), ("get_weather", {"city": "Rome", "days": 4})], None),
    "bare_function_kept_as_text": ("weather", "<function=get_weather>\n<parameter=city>\nParis\n</parameter>\n"
                                   "</function>", [],
                                   "<function=get_weather> <parameter=city> Paris </parameter> </function>"),
    "text_with_angle_brackets": ("weather", "if a < b and c <tool_ d: print('<tool')", [],
                                 "if a < b and c <tool_ d: print('<tool')"),
    "text_mentions_the_tag": ("weather", "Wrap calls in <tool_call> tags, like this.", [],
                              "Wrap calls in <tool_call> tags, like this."),
    "plain_text_no_call": ("weather", "The weather in Paris is mild.", [], "The weather in Paris is mild."),
    "trailing_tag_prefix_flushed": ("weather", "Almost a call <tool_ca", [], "Almost a call <tool_ca"),
}
