"""Run the plugin's conformance cases inside a real vLLM's parser interface (a lab-venv script).

    .lab/venv/bin/python tests/toolcalls/vllm_conformance.py --plugin toolcalls/vllm_plugin.py \\
        --tokenizer MODEL_DIR [--convention 0.32 --convention 0.14 --convention 0.11]

The plugin is loaded the way the server loads it (``ToolParserManager.import_tool_parser``) and
looked up by name. Each case runs whole and streamed (1, 5 and 16 characters per delta, per
token; the end seen from an EOS token id or from ``max_tokens``; the last text coalesced with
the EOS token) in each server call convention:

* ``0.32``: the installed vLLM's own serving layer, ``ParserManager.get_parser(...)`` then
  ``Parser.parse`` / ``Parser.parse_delta(..., finished=...)``, as ``chat_completion/serving.py``
  calls them.
* ``0.14`` / ``0.11``: what ``serving_chat.py`` of those versions does with a ``ToolParser``:
  built with the tokenizer alone, ``extract_tool_calls(text, request)``, the seven-argument
  ``extract_tool_calls_streaming``, and at the last chunk their rewrite of a delta whose first
  tool call carries arguments (0.14 keeps id/type/name of that index; 0.11 keeps only arguments).

Prints one JSON line per (case, convention, chunking) with the calls and content a client
assembles and any error; the pytest side (test_vllm_plugin.py) decides pass or fail.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _load_cases():
    spec = importlib.util.spec_from_file_location("plugin_cases", HERE / "plugin_cases.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.CASES, mod.TOOLS


def _vllm():
    try:
        from vllm.tool_parsers import ToolParserManager
    except ImportError:
        from vllm.entrypoints.openai.tool_parsers import ToolParserManager
    try:
        from vllm.entrypoints.generate.base.protocol import DeltaFunctionCall, DeltaMessage, DeltaToolCall
    except ImportError:
        from vllm.entrypoints.openai.protocol import DeltaFunctionCall, DeltaMessage, DeltaToolCall
    try:
        from vllm.entrypoints.openai.chat_completion.protocol import ChatCompletionRequest
    except ImportError:
        from vllm.entrypoints.openai.protocol import ChatCompletionRequest
    return ToolParserManager, ChatCompletionRequest, (DeltaMessage, DeltaToolCall, DeltaFunctionCall)


def _request(Request, tools, max_tokens=None):
    body = {"model": "m", "messages": [{"role": "user", "content": "go"}], "stream": True,
            "request_id": "conformance-1"}
    if tools:
        body["tools"] = tools
        body["tool_choice"] = "auto"
    if max_tokens:
        body["max_tokens"] = max_tokens
    return Request(**body)


class Client:
    """What an OpenAI client assembles from the deltas, checking each argument delta."""

    def __init__(self):
        self.content, self.calls, self.notes = [], {}, []

    def add(self, delta):
        if delta is None:
            return
        if delta.content:
            self.content.append(delta.content)
        for tc in delta.tool_calls or []:
            call = self.calls.setdefault(tc.index, {"id": None, "name": None, "arguments": "", "prefixes": []})
            call["id"] = call["id"] or tc.id
            fn = tc.function
            if fn is not None:
                name = fn.get("name") if isinstance(fn, dict) else fn.name
                args = fn.get("arguments") if isinstance(fn, dict) else fn.arguments
                call["name"] = call["name"] or name
                if args:
                    call["arguments"] += args
                    call["prefixes"].append(call["arguments"])

    def result(self):
        calls = []
        for index in sorted(self.calls):
            c = self.calls[index]
            try:
                args = json.loads(c["arguments"])
            except ValueError:
                args = {"<not JSON>": c["arguments"]}
            prefix_ok = all(c["arguments"].startswith(p) for p in c["prefixes"])
            calls.append({"index": index, "id": c["id"], "name": c["name"], "arguments": args,
                          "prefix_ok": prefix_ok})
        return calls, "".join(self.content)


def chunkings(text, tokenizer):
    """(label, [(delta_text, delta_token_ids), ...], how it ends) for each way the server may hand the
    text over. Character deltas carry a placeholder id (the plugin reads ids only for the end); token
    deltas carry the real ids, decoded incrementally as vLLM's detokenizer does."""
    def chars(n):
        return [(text[i:i + n], [1]) for i in range(0, len(text), n)]

    return [("1-char", chars(1), "eos"), ("5-char", chars(5), "eos"), ("16-char", chars(16), "eos"),
            ("token", token_steps(text, tokenizer), "eos"),
            ("16-char+eos-coalesced", chars(16), "coalesced"), ("16-char+max_tokens", chars(16), "max_tokens")]


def token_steps(text, tokenizer):
    ids = tokenizer.encode(text, add_special_tokens=False)
    steps, prev, start = [], "", 0
    for k in range(1, len(ids) + 1):
        cur = tokenizer.decode(ids[:k])
        if cur.endswith("\ufffd") and k < len(ids):
            continue  # a split multi-byte character: vLLM's detokenizer waits too
        if not cur.startswith(prev):
            raise AssertionError("incremental decode is not a prefix")
        steps.append((cur[len(prev):], ids[start:k]))
        prev, start = cur, k
    return steps


def _ended(steps, ends, eos):
    """The steps as the server hands them over, the last one carrying the end."""
    steps = list(steps)
    if ends == "eos":
        steps.append(("", [eos]))
    elif ends == "coalesced" and steps:
        steps[-1] = (steps[-1][0], [*steps[-1][1], eos])
    return steps


def run_legacy(cls, convention, tokenizer, Request, proto, text, tools, pieces, ends):
    DeltaMessage, DeltaToolCall, DeltaFunctionCall = proto
    eos = tokenizer.eos_token_id
    request = _request(Request, tools, max_tokens=len(pieces) if ends == "max_tokens" else None)
    parser = cls(tokenizer)
    request = parser.adjust_request(request)
    client = Client()
    steps = _ended(pieces, ends, eos)
    prev_text, prev_ids = "", []
    for i, (delta_text, delta_ids) in enumerate(steps):
        cur_text, cur_ids = prev_text + delta_text, prev_ids + delta_ids
        delta = parser.extract_tool_calls_streaming(
            previous_text=prev_text, current_text=cur_text, delta_text=delta_text,
            previous_token_ids=prev_ids, current_token_ids=cur_ids, delta_token_ids=delta_ids,
            request=request)
        last = i == len(steps) - 1
        if last and delta is not None and delta.tool_calls and delta.tool_calls[0].function is not None \
                and _args(delta.tool_calls[0].function) is not None:
            delta = _legacy_rewrite(convention, parser, delta, proto)
        prev_text, prev_ids = cur_text, cur_ids
        client.add(delta)
    return client.result()


def _args(fn):
    return fn.get("arguments") if isinstance(fn, dict) else fn.arguments


def _legacy_rewrite(convention, parser, delta, proto):
    """serving_chat.py of 0.11.1 (lines ~1125-1172) and 0.14.0 (~1195-1230, _create_remaining_args_delta):
    at the finishing chunk, re-send what the parser says was not streamed yet."""
    DeltaMessage, DeltaToolCall, DeltaFunctionCall = proto
    index = len(parser.prev_tool_call_arr) - 1 if parser.prev_tool_call_arr else 0
    latest = _args(delta.tool_calls[0].function)
    expected = json.dumps(parser.prev_tool_call_arr[index].get("arguments", {}), ensure_ascii=False)
    actual = parser.streamed_args_for_tool[index]
    if latest:
        actual = actual[:-len(latest)]
    remaining = expected.replace(actual, "", 1)
    if convention == "0.11":
        return DeltaMessage(tool_calls=[DeltaToolCall(index=index, function=DeltaFunctionCall(
            arguments=remaining).model_dump(exclude_none=True))])
    orig = next((tc for tc in delta.tool_calls if tc.index == index), None)
    fn = orig.function if orig else None
    return DeltaMessage(tool_calls=[DeltaToolCall(
        index=index, id=orig.id if orig else None, type=orig.type if orig else None,
        function=DeltaFunctionCall(name=fn.name if fn else None, arguments=remaining))])


def run_parser_layer(parser_cls, tokenizer, Request, text, tools, pieces, ends):
    request = _request(Request, tools, max_tokens=len(pieces) if ends == "max_tokens" else None)
    parser = parser_cls(tokenizer, request.tools)
    request = parser.adjust_request(request) if hasattr(parser, "adjust_request") else request
    client = Client()
    steps = _ended(pieces, ends, tokenizer.eos_token_id)
    for i, (delta_text, delta_ids) in enumerate(steps):
        client.add(parser.parse_delta(delta_text=delta_text, delta_token_ids=delta_ids, request=request,
                                      prompt_token_ids=[1, 2, 3], finished=i == len(steps) - 1))
    return client.result()


def whole(kind, cls, tokenizer, Request, text, tools):
    request = _request(Request, tools)
    if kind == "0.32":
        parser = cls(tokenizer, request.tools)
        _, content, calls = parser.parse(text, request, enable_auto_tools=True)
        calls = [{"index": i, "id": c.id, "name": c.name, "arguments": json.loads(c.arguments),
                  "prefix_ok": True} for i, c in enumerate(calls or [])]
        return calls, content
    info = cls(tokenizer).extract_tool_calls(text, request)
    calls = [{"index": i, "id": c.id, "name": c.function.name, "arguments": json.loads(c.function.arguments),
              "prefix_ok": True} for i, c in enumerate(info.tool_calls)] if info.tools_called else []
    return calls, info.content


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--plugin", required=True)
    ap.add_argument("--tokenizer", required=True)
    ap.add_argument("--convention", action="append", choices=["0.32", "0.14", "0.11"])
    ap.add_argument("--name", default="toolcalls")
    args = ap.parse_args(argv)
    from transformers import AutoTokenizer

    import vllm

    ToolParserManager, Request, proto = _vllm()
    ToolParserManager.import_tool_parser(str(Path(args.plugin).resolve()))
    tool_cls = ToolParserManager.get_tool_parser(args.name)
    tokenizer = AutoTokenizer.from_pretrained(args.tokenizer)
    print(json.dumps({"vllm": getattr(vllm, "__version__", "?"), "vllm_file": vllm.__file__,
                      "base": [f"{c.__module__}.{c.__qualname__}" for c in tool_cls.__mro__[1:-1]]}), flush=True)
    conventions = args.convention or ["0.32", "0.14", "0.11"]
    parser_cls = None
    if "0.32" in conventions:
        from vllm.parser.parser_manager import ParserManager

        parser_cls = ParserManager.get_parser(tool_parser_name=args.name, enable_auto_tools=True)
    cases, tools_by_key = _load_cases()
    for case_id, (tools_key, text, _calls, _content) in cases.items():
        tools = tools_by_key[tools_key]
        for conv in conventions:
            runs = [("whole", None, None)] + chunkings(text, tokenizer)
            for label, pieces, ends in runs:
                rec = {"case": case_id, "convention": conv, "chunking": label}
                try:
                    if label == "whole":
                        calls, content = whole(conv, parser_cls if conv == "0.32" else tool_cls,
                                               tokenizer, Request, text, tools)
                    elif conv == "0.32":
                        calls, content = run_parser_layer(parser_cls, tokenizer, Request, text, tools, pieces, ends)
                    else:
                        calls, content = run_legacy(tool_cls, conv, tokenizer, Request, proto, text, tools,
                                                    pieces, ends)
                    rec.update(calls=calls, content=content)
                except Exception:  # reported, and failed, by the test
                    rec["error"] = traceback.format_exc(limit=6)
                print(json.dumps(rec, ensure_ascii=False), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
