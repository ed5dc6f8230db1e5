"""vLLM tool-call parser plugin: `toolcalls` as the server's parser, registered as ``toolcalls``.

    vllm serve MODEL --enable-auto-tool-choice \\
        --tool-parser-plugin /opt/toolcalls/toolcalls/vllm_plugin.py --tool-call-parser toolcalls

vLLM imports this file by path, so it loads the package that holds it (the directory must be the
whole ``toolcalls/`` package) and registers one ``ToolParser`` subclass. The engine is the
unchanged normalizer: Hermes JSON and Qwen3-Coder XML calls inside ``<tool_call>``, typed by the
request's ``tools``, ids ``call_<24 hex>`` derived from the request id and the call's text.

Streaming: text outside calls is passed through as it arrives (only a trailing piece that could
still become ``<tool_call>`` waits); a call is sent in one delta (id, name and the complete
arguments JSON) when its ``</tool_call>`` arrives, so every argument delta is valid JSON. The
stream's end is seen from an end-of-sequence token id or ``max_tokens``; there the normalizer
settles an unterminated call as it does for a whole message.

Checked against the ``ToolParser`` base class and the server's call convention of vLLM 0.11.1,
0.13.0, 0.14.0 and 0.32.0 (see docs/toolcalls-plugin.md): the import paths moved in 0.13
(``vllm.tool_parsers``) and again for the protocol classes (``vllm.entrypoints.generate``), the
constructor gained ``tools`` in the 0.2x line.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

try:  # vLLM >= 0.13
    from vllm.tool_parsers import ToolParser, ToolParserManager
except ImportError:  # vLLM 0.11, 0.12
    from vllm.entrypoints.openai.tool_parsers import ToolParser, ToolParserManager
try:  # vLLM 0.2x and later
    from vllm.entrypoints.generate.base import protocol
except ImportError:  # vLLM 0.11 - 0.14
    from vllm.entrypoints.openai import protocol

NAME = "toolcalls"


def _load_engine():
    """The toolcalls package: relative import when imported as toolcalls.vllm_plugin, else from
    this file's directory (vLLM loads plugins by path, as a top-level module)."""
    if __package__:
        return importlib.import_module(__package__)
    here = Path(__file__).resolve().parent
    spec = importlib.util.spec_from_file_location(
        "toolcalls", here / "__init__.py", submodule_search_locations=[str(here)])
    module = importlib.util.module_from_spec(spec)
    sys.modules["toolcalls"] = module
    spec.loader.exec_module(module)
    return module


_engine = _load_engine()
StreamNormalizer, normalize_message = _engine.StreamNormalizer, _engine.normalize_message
TextEvent, ToolCallEvent = _engine.TextEvent, _engine.ToolCallEvent


def _request_tools(request: Any, fallback: Any) -> list:
    return list(getattr(request, "tools", None) or fallback or [])


def _id_seed(request: Any) -> str:
    return str(getattr(request, "request_id", "") or "")


class ToolcallsToolParser(ToolParser):
    """Hermes JSON and Qwen3-Coder XML tool calls, by the `toolcalls` normalizer."""

    def __init__(self, tokenizer: Any, tools: list | None = None, *args: Any, **kwargs: Any):
        # vLLM 0.2x passes the request's tools; 0.11-0.14 pass the tokenizer alone.
        try:
            super().__init__(tokenizer, tools, *args, **kwargs)
        except TypeError:
            super().__init__(tokenizer)
        self._init_tools = tools
        self._stream = None
        self._ended = False
        eos = getattr(tokenizer, "eos_token_id", None)
        self._eos_ids = set(eos if isinstance(eos, (list, tuple)) else [eos]) - {None}

    def adjust_request(self, request: Any) -> Any:
        request = super().adjust_request(request)
        if getattr(request, "tools", None) and getattr(request, "tool_choice", None) != "none":
            # As vLLM's hermes parser does: some tokenizers mark <tool_call> special, and the
            # server would strip it before the parser sees it.
            request.skip_special_tokens = False
        return request

    # ---------------------------------------------------------------- whole message
    def extract_tool_calls(self, model_output: str, request: Any) -> Any:
        result = normalize_message({"role": "assistant", "content": model_output},
                                   _request_tools(request, self._init_tools), id_seed=_id_seed(request))
        calls = []
        for c in result.tool_calls:
            self._remember(c)
            fn = c["function"]
            calls.append(protocol.ToolCall(id=c["id"], type="function", function=protocol.FunctionCall(
                name=fn["name"], arguments=fn["arguments"])))
        return protocol.ExtractedToolCallInformation(
            tools_called=bool(calls), tool_calls=calls, content=result.content if calls else model_output)

    # ---------------------------------------------------------------- streaming
    def extract_tool_calls_streaming(
        self,
        previous_text: str,
        current_text: str,
        delta_text: str,
        previous_token_ids: Sequence[int],
        current_token_ids: Sequence[int],
        delta_token_ids: Sequence[int],
        request: Any,
    ) -> Any:
        if self._stream is None:
            self._stream = StreamNormalizer(_request_tools(request, self._init_tools),
                                            id_seed=_id_seed(request))
        events = self._stream.feed(delta_text) if delta_text else []
        if self._at_end(delta_token_ids, current_token_ids, request):
            self._ended = True
            events += self._stream.finish()
        text = "".join(e.text for e in events if isinstance(e, TextEvent))
        deltas = [d for e in events if isinstance(e, ToolCallEvent) for d in self._call_deltas(e)]
        if not text and not deltas:
            return None
        return protocol.DeltaMessage(content=text or None, tool_calls=deltas)

    def _call_deltas(self, event: Any) -> list:
        """One complete call: id, name and the whole arguments JSON in one delta."""
        self._remember(event.tool_call)
        call_id, fn = event.tool_call["id"], event.tool_call["function"]
        if not self._ended:
            return [protocol.DeltaToolCall(index=event.index, id=call_id, type="function",
                                           function=protocol.DeltaFunctionCall(**fn))]
        # In the last delta vLLM 0.11-0.14 rewrite a first tool call that carries arguments (0.11
        # keeps only the arguments, 0.14 drops the content): a head without arguments, then the
        # arguments under the same index, pass unchanged.
        return [protocol.DeltaToolCall(index=event.index, id=call_id, type="function",
                                       function=protocol.DeltaFunctionCall(name=fn["name"])),
                protocol.DeltaToolCall(index=event.index,
                                       function=protocol.DeltaFunctionCall(arguments=fn["arguments"]))]

    def _remember(self, call: dict) -> None:
        """The base class's bookkeeping, which the server reads at the end of a stream to send
        arguments a parser had not streamed yet: here everything is always sent."""
        fn = call["function"]
        self.prev_tool_call_arr.append({"name": fn["name"], "arguments": json.loads(fn["arguments"])})
        self.streamed_args_for_tool.append(fn["arguments"])
        self.current_tool_id = len(self.prev_tool_call_arr) - 1
        self.current_tool_name_sent = True

    def _at_end(self, delta_token_ids: Sequence[int], current_token_ids: Sequence[int],
                request: Any) -> bool:
        """The legacy interface has no end-of-stream call: the last delta carries the
        end-of-sequence token (or a request stop token), or the token budget is used up."""
        if self._ended:
            return False
        stop = self._eos_ids | set(getattr(request, "stop_token_ids", None) or ())
        if stop and any(t in stop for t in delta_token_ids or ()):
            return True
        limit = getattr(request, "max_completion_tokens", None) or getattr(request, "max_tokens", None)
        return bool(limit) and len(current_token_ids or ()) >= limit


ToolParserManager.register_module(NAME, module=ToolcallsToolParser)
