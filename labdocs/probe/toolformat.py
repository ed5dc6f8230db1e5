"""Is the server's tool-call parser set up to give clients the declared tool-call format?

What a client sees for a tool call depends on two things: the text the model writes (its family's
native format: Harmony for gpt-oss, Qwen3-XML for Qwen3-Coder, Hermes JSON for Qwen3) and whether
the server's `--tool-call-parser` reads that text (then the client gets OpenAI `tool_calls`) or not
(then the text stays in `content`). Loading the data derives the result, `tool_calling.format`.

What can be observed on a real request, and what each observation is worth:

* A named `tool_choice` gets `tool_calls` whatever the parser (vLLM constrains and builds the call
  itself): says nothing about the parser, so it is not used.
* `tool_choice: "auto"` is the path clients take, and the only one where the parser decides. With
  random (lab) weights the model almost never writes a call by itself, so the probe forces the text:
  structured outputs (a regex) make the model write exactly one call in a given format, and the
  parser's verdict on that text is what a client would get if the real model wrote it. Done for the
  model's native format (the client-visible answer) and for the formats the declared parser should
  and should not read (a fingerprint of the parser actually configured).
* Harmony (gpt-oss) calls are made of special tokens that a regex cannot produce. For them the probe
  uses `tool_choice: "required"`: vLLM 0.1x builds such calls itself from JSON (parser not involved,
  so nothing is concluded), newer vLLM constrains the model to the parser's own syntax and runs the
  parser. A copy cut at a few tokens shows which syntax the server constrained to.
* One unforced `auto` request: with real weights the model may call the tool by itself, which is
  direct evidence; with random weights it rarely does (recorded as such).

Only a contradiction observed on the server is a mismatch; when the observations cannot decide,
the status is "inconclusive" and `not_concluded` says why.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import httpx

from labdocs.engines import DEFAULT, ENGINES, engine_of
from labdocs.observed.records import (ForcedCall, RequiredCall, RequiredCut, ToolCall, ToolFormatCheck,
                                      ToolObservations, UnforcedCall)

from labdocs.probe.transport import fetch

TOOL_NAME = "get_weather"
TOOL = {
    "type": "function",
    "function": {
        "name": TOOL_NAME,
        "description": "Current weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
# For "required": strict pins the arguments to the schema, so a random model closes the call.
STRICT_TOOL = {**TOOL, "function": {**TOOL["function"], "strict": True,
                                    "parameters": {**TOOL["function"]["parameters"], "additionalProperties": False}}}
PROMPT = "What is the weather in Paris? Call the get_weather tool."

# The exact call text forced per text format.
CALL_TEXT = {
    "hermes": '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>',
    "qwen3-xml": "<tool_call>\n<function=get_weather>\n<parameter=city>\nParis\n</parameter>\n</function>\n</tool_call>",
}
FORMAT_NAMES = {"hermes": "Hermes JSON", "qwen3-xml": "Qwen3-XML", "openai": "Harmony"}
# The requests below speak the OpenAI-compatible API; paths and reasoning fields are the engine's.
ENGINE = ENGINES[DEFAULT]
AUTO_OFF = "enable-auto-tool-choice"


def regex_for(text: str) -> str:
    """A regex matching exactly `text` (escapes written the way xgrammar reads them)."""
    out = []
    for ch in text:
        if ch == "\n":
            out.append("\\n")
        elif ch in "\\.^$*+?()[]{}|/":
            out.append("\\" + ch)
        else:
            out.append(ch)
    return "".join(out)


def native_format(data, system) -> tuple[str | None, str]:
    family = data.model_families.get(system.model.family)
    if family is not None:
        return family.tool_format, f"model_families.{system.model.family}.tool_format"
    return None, "unknown model family"


def syntax_of(text: str) -> str:
    """Which call syntax a (possibly cut) text starts: harmony, qwen3-xml, hermes, tool_call_tag,
    json (vLLM's own JSON for required calls), none or other."""
    t = text.strip()
    if not t:
        return "none"
    if "<|channel|>" in t or "to=functions." in t or "<|call|>" in t:
        return "harmony"
    if "<function=" in t:
        return "qwen3-xml"
    if re.search(r"<tool_call>\s*\{", t):
        return "hermes"
    if "<tool_call>" in t:
        return "tool_call_tag"
    if t[:1] in "[{":
        return "json"
    return "other"


def _message(reply) -> tuple[dict | None, str | None]:
    """(assistant message, error) from a chat completion reply."""
    if not reply.transport_ok:
        return None, reply.error
    if reply.status != 200:
        text = reply.excerpt(200)
        try:
            text = reply.json().get("error", {}).get("message", text)
        except (ValueError, AttributeError):
            pass
        return None, f"HTTP {reply.status}: {str(text)[:200]}"
    try:
        body = reply.json()
        return body["choices"][0]["message"], None
    except (ValueError, KeyError, IndexError, TypeError):
        return None, f"not a chat completion: {reply.excerpt()!r}"


def _calls(message: dict) -> list[ToolCall]:
    calls = message.get("tool_calls") or []
    out = []
    for call in calls if isinstance(calls, list) else []:
        fn = (call or {}).get("function") or {}
        out.append(ToolCall(name=fn.get("name"), arguments=fn.get("arguments")))
    return out


async def _chat(client, model: str, timeout: float, **extra):
    body = {"model": model, "messages": [{"role": "user", "content": PROMPT}], "temperature": 0, **extra}
    return await fetch(client, "POST", ENGINE.ENDPOINTS.chat, json_body=body, timeout=timeout)


async def forced(client, model: str, fmt: str, timeout: float) -> ForcedCall:
    """tool_choice=auto with the output forced to one `fmt` call. outcome: parsed | content |
    not_honored (the server ignored the constraint) | auto_rejected | error."""
    expected = CALL_TEXT[fmt]
    result = ForcedCall(format=fmt, outcome="error")
    # structured_outputs: vLLM >= 0.11; guided_regex: the older spelling (ignored by newer servers).
    for param, value in (("structured_outputs", {"regex": regex_for(expected)}),
                         ("guided_regex", regex_for(expected))):
        reply = await _chat(client, model, timeout, tools=[TOOL], tool_choice="auto", max_tokens=128,
                            **{param: value})
        message, error = _message(reply)
        result.param = param
        if error:
            result.outcome, result.error = ("auto_rejected" if AUTO_OFF in error else "error"), error
            return result
        calls = _calls(message)
        content = message.get("content") or ""
        result.tool_calls, result.content = calls, content[:300]
        if calls:
            result.outcome = "parsed"
            return result
        if content.strip() == expected.strip():
            result.outcome = "content"
            return result
        result.outcome = "not_honored"
    return result


async def required_cut(client, model: str, timeout: float, max_tokens: int = 12) -> RequiredCut:
    reply = await _chat(client, model, timeout, tools=[TOOL], tool_choice="required", max_tokens=max_tokens)
    message, error = _message(reply)
    if error:
        return RequiredCut(outcome="error", error=error)
    text = (message.get("content") or "") + ENGINE.reasoning_text(message)
    calls = _calls(message)
    return RequiredCut(outcome="parsed" if calls else "cut", syntax=syntax_of(text) if not calls else None,
                       text=text[:120], tool_calls=calls, max_tokens=max_tokens)


async def required_full(client, model: str, timeout: float) -> RequiredCall:
    reply = await _chat(client, model, timeout, tools=[STRICT_TOOL], tool_choice="required", max_tokens=128)
    message, error = _message(reply)
    if error:
        return RequiredCall(outcome="error", error=error)
    calls = _calls(message)
    content = message.get("content") or ""
    return RequiredCall(outcome="tool_calls" if calls else ("content" if content.strip() else "empty"),
                        tool_calls=calls, content=content[:200], syntax=syntax_of(content))


async def unforced(client, model: str, timeout: float) -> UnforcedCall:
    reply = await _chat(client, model, timeout, tools=[TOOL], tool_choice="auto", max_tokens=64)
    message, error = _message(reply)
    if error:
        return UnforcedCall(outcome="auto_rejected" if AUTO_OFF in error else "error", error=error)
    calls = _calls(message)
    content = message.get("content") or ""
    syntax = syntax_of(content)
    if calls:
        outcome = "tool_calls"
    elif syntax in ("harmony", "qwen3-xml", "hermes", "tool_call_tag"):
        outcome = "text_call"
    else:
        outcome = "no_call"
    return UnforcedCall(outcome=outcome, tool_calls=calls, syntax=syntax, content=content[:200])


def _fmt(name: str | None) -> str:
    return FORMAT_NAMES.get(name or "", name or "?")


# --- the check: observe, then conclude ----------------------------------------------------------------

TEXT_FORMATS = ("hermes", "qwen3-xml")     # the call formats a regex can force


@dataclass
class _Probe:
    """One tool-format check under way: where it asks, what the data declares, and its record, whose
    lists (checked, not_concluded, mismatches) each step below adds to."""

    client: httpx.AsyncClient
    model: str
    timeout: float
    system: object
    reads: frozenset[str] | set[str]      # the formats the declared parser turns into tool_calls
    rec: ToolFormatCheck
    rejected: bool = False                 # tool_choice=auto refused (no --enable-auto-tool-choice)

    @property
    def parser(self) -> str:
        return self.rec.declared_parser

    @property
    def native(self) -> str | None:
        return self.rec.native_format


async def check_tool_format(client: httpx.AsyncClient, model: str, data, system, timeout: float,
                            lab_parser: tuple[str | None, str] | None = None,
                            weights_are_real: bool = True) -> ToolFormatCheck:
    """Run the observations and conclude. lab_parser: (parser the lab really runs, why) when the lab
    could not run the declared one; weights_are_real: False in the lab (random tiny weights)."""
    native, native_source = native_format(data, system)
    rec = ToolFormatCheck(
        ok=False, status="inconclusive", declared_format=system.tool_calling.format,
        declared_parser=system.tool_calling.parser, auto_tool_choice_declared=system.tool_calling.auto_tool_choice,
        native_format=native, native_format_source=native_source, observed_format=None,
        checked=[], not_concluded=[], mismatches=[], observations=ToolObservations())
    p = _Probe(client, model, timeout, system, engine_of(system).reads(rec.declared_parser, data.model_families), rec)
    await _force_text_calls(p)                      # 1. forced text calls under "auto": the parser decides
    if p.native == "openai" or "openai" in p.reads:
        await _observe_harmony(p)                   # 2. Harmony: what "required" is forced into
    else:
        _client_view_of_text(p)
    _say_what_clients_get(p)
    await _observe_unforced(p, weights_are_real)    # 3. direct evidence, when the model calls by itself
    rec.not_concluded.append("streamed responses: tool-call parsing was checked on non-streamed responses only")
    _conclude(rec, lab_parser)
    return rec


async def _force_text_calls(p: _Probe) -> None:
    """tool_choice=auto with the output forced to a Hermes, then a Qwen3-XML call: what the parser does
    with each (stops at the first refusal of auto)."""
    obs = p.rec.observations
    for fmt in TEXT_FORMATS:
        obs.set_forced(fmt, await forced(p.client, p.model, fmt, p.timeout))
        if obs.forced(fmt).outcome == "auto_rejected":
            break
    p.rejected = any(o.outcome == "auto_rejected" for o in obs.requests())
    if p.rejected:
        msg = "tool_choice=auto is refused (HTTP 400: needs --enable-auto-tool-choice and --tool-call-parser)"
        p.rec.checked.append(msg)
        if p.system.tool_calling.auto_tool_choice:
            p.rec.mismatches.append(f"{msg}, but the data declares auto tool choice with parser {p.parser!r}")
        return
    for fmt in TEXT_FORMATS:
        _read_forced(p, fmt, obs.forced(fmt))
    for fmt in TEXT_FORMATS:
        _fingerprint(p, fmt, obs.forced(fmt).outcome)


def _read_forced(p: _Probe, fmt: str, o: ForcedCall) -> None:
    what = f"tool_choice=auto, output forced to a {_fmt(fmt)} call"
    if o.outcome == "parsed":
        p.rec.checked.append(f"{what}: parsed into tool_calls ({o.tool_calls[0].name})")
    elif o.outcome == "content":
        p.rec.checked.append(f"{what}: left as text in content")
    elif o.outcome == "not_honored":
        p.rec.checked.append(f"{what}: the server did not follow the forced output (no structured outputs?)")
        p.rec.not_concluded.append(f"how the parser treats {_fmt(fmt)} text: the server ignored both "
                                   "structured_outputs and guided_regex")
    else:
        p.rec.checked.append(f"{what}: failed ({o.error})")
        p.rec.not_concluded.append(f"how the parser treats {_fmt(fmt)} text: the request failed")


def _fingerprint(p: _Probe, fmt: str, outcome: str) -> None:
    """Does the server read what the declared parser reads, and only that?"""
    if outcome not in ("parsed", "content"):
        return
    should_parse = fmt in p.reads
    if should_parse and outcome == "content":
        p.rec.mismatches.append(f"declared parser {p.parser!r} reads {_fmt(fmt)}, but a forced {_fmt(fmt)} call "
                                f"stayed in content: the server is not running --tool-call-parser {p.parser}")
    elif p.reads and not should_parse and outcome == "parsed":
        p.rec.mismatches.append(f"a forced {_fmt(fmt)} call was parsed into tool_calls, which parser {p.parser!r} "
                                f"does not do: the server runs another parser")


async def _observe_harmony(p: _Probe) -> None:
    """Harmony cannot be forced by a regex: look at "required" (what syntax is the call forced into,
    and does the parser turn it into tool_calls)."""
    obs, rec = p.rec.observations, p.rec
    cut = obs.required_cut = await required_cut(p.client, p.model, p.timeout)
    if cut.outcome == "cut":
        rec.checked.append(f"tool_choice=required cut at {cut.max_tokens} tokens: the server forces calls "
                           f"into {cut.syntax} syntax ({cut.text[:40]!r})")
    elif cut.outcome == "parsed":
        rec.checked.append("tool_choice=required cut short: already a complete call (syntax not seen)")
    else:
        rec.checked.append(f"tool_choice=required cut short: failed ({cut.error})")
    full = obs.required = await required_full(p.client, p.model, p.timeout)
    rec.checked.append(f"tool_choice=required: {full.outcome}"
                       + (f" ({full.tool_calls[0].name})" if full.tool_calls else ""))
    obs.harmony_client_view = _harmony_seen(p, cut, full)
    if p.native == "openai":
        rec.observed_format = "openai" if obs.harmony_client_view == "openai" else None
        if obs.harmony_client_view == "harmony-text":
            rec.mismatches.append("a Harmony call came back as text in content: the parser does not read Harmony")
        elif obs.harmony_client_view is None:
            rec.not_concluded.append("what clients get for a Harmony call")


def _harmony_seen(p: _Probe, cut: RequiredCut, full: RequiredCall) -> str | None:
    """What a client gets for a Harmony call: openai (tool_calls), harmony-text, or None (not seen)."""
    if cut.syntax == "harmony":
        if full.outcome == "tool_calls":
            return "openai"
        if full.outcome == "content" and full.syntax == "harmony":
            return "harmony-text"
        return None
    if cut.syntax == "json":
        p.rec.not_concluded.append("whether the parser turns Harmony calls into tool_calls: this vLLM builds "
                                   "tool_choice=required calls itself from JSON, so the parser was not exercised, "
                                   "and a regex cannot force Harmony's special tokens")
    elif cut.syntax in ("hermes", "qwen3-xml", "tool_call_tag") and "openai" in p.reads:
        p.rec.mismatches.append(f"tool_choice=required is forced into {cut.syntax} syntax, not Harmony: "
                                f"the server does not run the openai parser")
    else:
        p.rec.not_concluded.append("which syntax the server forces tool calls into (cut output: "
                                   f"{cut.text[:40]!r})")
    return None


def _client_view_of_text(p: _Probe) -> None:
    """For a text format the model writes natively: the forced call of that format is what clients get."""
    forced_native = p.rec.observations.forced(p.native) if p.native in CALL_TEXT else None
    if forced_native is not None:
        p.rec.observed_format = {"parsed": "openai", "content": p.native}.get(forced_native.outcome)
        if p.rec.observed_format is None:
            p.rec.not_concluded.append(f"what clients get when the model writes {_fmt(p.native)}"
                                       + (": tool_choice=auto is refused" if p.rejected else ""))
    elif p.native is None:
        p.rec.not_concluded.append(f"the native tool-call format of model family {p.system.model.family!r} "
                                   "(not in model_families:), so what clients get was not derived")


def _say_what_clients_get(p: _Probe) -> None:
    seen, declared = p.rec.observed_format, p.rec.declared_format
    if seen is None:
        return
    p.rec.checked.append(f"so when the model writes its native {_fmt(p.native)} calls, clients get "
                         + ("OpenAI tool_calls" if seen == "openai" else f"{_fmt(seen)} text in content"))
    if seen != declared:
        p.rec.mismatches.append(f"clients get {seen!r} tool calls, the data declares {declared!r}")


async def _observe_unforced(p: _Probe, weights_are_real: bool) -> None:
    """One unforced auto request: direct evidence when the model calls by itself (real weights usually do)."""
    rec, declared = p.rec, p.rec.declared_format
    if p.rejected:
        if not weights_are_real:
            rec.not_concluded.append("whether the model itself writes " + _fmt(p.native) + " calls (random lab weights)")
        return
    free = rec.observations.unforced = await unforced(p.client, p.model, p.timeout)
    if free.outcome == "tool_calls":
        rec.checked.append("tool_choice=auto, unforced: the model called the tool and the client got tool_calls")
        if declared != "openai":
            rec.mismatches.append(f"an unforced call arrived as tool_calls, the data declares {declared!r} text")
    elif free.outcome == "text_call":
        rec.checked.append(f"tool_choice=auto, unforced: the model wrote a {free.syntax} call, left in content")
        if declared == "openai":
            rec.mismatches.append(f"an unforced call arrived as {free.syntax} text in content, "
                                  "the data declares OpenAI tool_calls")
    elif free.outcome == "no_call":
        rec.checked.append("tool_choice=auto, unforced: the model wrote no tool call")
        rec.not_concluded.append("whether the model itself writes " + _fmt(p.native) + " calls: "
                                 + ("its weights are random (lab), so its unforced output says nothing"
                                    if not weights_are_real else "it did not call the tool in one unforced try"))
    else:
        rec.checked.append(f"tool_choice=auto, unforced: failed ({free.error})")


def _conclude(rec: ToolFormatCheck, lab_parser: tuple[str | None, str] | None) -> None:
    """confirmed, mismatch, inconclusive (not a drift: nothing contradicted the data) or error."""
    parser = rec.declared_parser
    if lab_parser is not None and lab_parser[0] != parser:
        note = (f"the lab runs {'no tool-call parser' if lab_parser[0] is None else 'parser ' + repr(lab_parser[0])}"
                f" instead of {parser!r}: {lab_parser[1]}")
        rec.not_concluded.insert(0, f"the declared parser on this target: {note}")
        rec.checked.extend(f"(not counted, lab fallback) {b}" for b in rec.mismatches)
        rec.mismatches.clear()
        rec.status = "inconclusive"
    elif rec.mismatches:
        rec.status = "mismatch"
    elif rec.observed_format == rec.declared_format:
        rec.status = "confirmed"
    elif all(o.outcome == "error" for o in rec.observations.requests()):
        rec.status = "error"
    else:
        rec.status = "inconclusive"
    rec.ok = rec.status in ("confirmed", "inconclusive")
    rec.summary = _summary(rec)


def _summary(rec: ToolFormatCheck) -> str:
    declared = rec.declared_format
    if rec.status == "confirmed":
        return f"{declared} confirmed (parser {rec.declared_parser})"
    if rec.status == "mismatch":
        return f"MISMATCH: {rec.mismatches[0]}"
    if rec.status == "error":
        return "could not check (requests failed)"
    first = rec.not_concluded[0] if rec.not_concluded else "no decisive observation"
    return f"{declared} not confirmed: {first}"
