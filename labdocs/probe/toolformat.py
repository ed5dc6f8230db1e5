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

import httpx

from labdocs.engines import DEFAULT, ENGINES, engine_of

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


def _calls(message: dict) -> list[dict]:
    calls = message.get("tool_calls") or []
    out = []
    for call in calls if isinstance(calls, list) else []:
        fn = (call or {}).get("function") or {}
        out.append({"name": fn.get("name"), "arguments": fn.get("arguments")})
    return out


async def _chat(client, model: str, timeout: float, **extra):
    body = {"model": model, "messages": [{"role": "user", "content": PROMPT}], "temperature": 0, **extra}
    return await fetch(client, "POST", ENGINE.ENDPOINTS.chat, json_body=body, timeout=timeout)


async def forced(client, model: str, fmt: str, timeout: float) -> dict:
    """tool_choice=auto with the output forced to one `fmt` call. outcome: parsed | content |
    not_honored (the server ignored the constraint) | auto_rejected | error."""
    expected = CALL_TEXT[fmt]
    result: dict = {"format": fmt, "outcome": "error"}
    # structured_outputs: vLLM >= 0.11; guided_regex: the older spelling (ignored by newer servers).
    for param, value in (("structured_outputs", {"regex": regex_for(expected)}),
                         ("guided_regex", regex_for(expected))):
        reply = await _chat(client, model, timeout, tools=[TOOL], tool_choice="auto", max_tokens=128,
                            **{param: value})
        message, error = _message(reply)
        result["param"] = param
        if error:
            result.update(outcome="auto_rejected" if AUTO_OFF in error else "error", error=error)
            return result
        calls = _calls(message)
        content = message.get("content") or ""
        result.update(tool_calls=calls, content=content[:300])
        if calls:
            result["outcome"] = "parsed"
            return result
        if content.strip() == expected.strip():
            result["outcome"] = "content"
            return result
        result["outcome"] = "not_honored"
    return result


async def required_cut(client, model: str, timeout: float, max_tokens: int = 12) -> dict:
    reply = await _chat(client, model, timeout, tools=[TOOL], tool_choice="required", max_tokens=max_tokens)
    message, error = _message(reply)
    if error:
        return {"outcome": "error", "error": error}
    text = (message.get("content") or "") + ENGINE.reasoning_text(message)
    calls = _calls(message)
    return {"outcome": "parsed" if calls else "cut", "syntax": syntax_of(text) if not calls else None,
            "text": text[:120], "tool_calls": calls, "max_tokens": max_tokens}


async def required_full(client, model: str, timeout: float) -> dict:
    reply = await _chat(client, model, timeout, tools=[STRICT_TOOL], tool_choice="required", max_tokens=128)
    message, error = _message(reply)
    if error:
        return {"outcome": "error", "error": error}
    calls = _calls(message)
    content = message.get("content") or ""
    return {"outcome": "tool_calls" if calls else ("content" if content.strip() else "empty"),
            "tool_calls": calls, "content": content[:200], "syntax": syntax_of(content)}


async def unforced(client, model: str, timeout: float) -> dict:
    reply = await _chat(client, model, timeout, tools=[TOOL], tool_choice="auto", max_tokens=64)
    message, error = _message(reply)
    if error:
        return {"outcome": "auto_rejected" if AUTO_OFF in error else "error", "error": error}
    calls = _calls(message)
    content = message.get("content") or ""
    syntax = syntax_of(content)
    if calls:
        outcome = "tool_calls"
    elif syntax in ("harmony", "qwen3-xml", "hermes", "tool_call_tag"):
        outcome = "text_call"
    else:
        outcome = "no_call"
    return {"outcome": outcome, "tool_calls": calls, "syntax": syntax, "content": content[:200]}


def _fmt(name: str | None) -> str:
    return FORMAT_NAMES.get(name or "", name or "?")


async def check_tool_format(client: httpx.AsyncClient, model: str, data, system, timeout: float,
                            lab_parser: tuple[str | None, str] | None = None,
                            weights_are_real: bool = True) -> dict:
    """Run the observations and conclude. lab_parser: (parser the lab really runs, why) when the lab
    could not run the declared one; weights_are_real: False in the lab (random tiny weights)."""
    declared = system.tool_calling.format
    parser = system.tool_calling.parser
    native, native_source = native_format(data, system)
    reads = engine_of(system).reads(parser, data.model_families)
    rec: dict = {"ok": False, "status": "inconclusive", "declared_format": declared, "declared_parser": parser,
                 "auto_tool_choice_declared": system.tool_calling.auto_tool_choice,
                 "native_format": native, "native_format_source": native_source, "observed_format": None,
                 "checked": [], "not_concluded": [], "mismatches": [], "observations": {}}
    obs = rec["observations"]
    checked, unknown, bad = rec["checked"], rec["not_concluded"], rec["mismatches"]

    # 1. Forced text calls under "auto" (the parser decides).
    texts = ["hermes", "qwen3-xml"]
    for fmt in texts:
        obs[f"forced_{fmt}"] = await forced(client, model, fmt, timeout)
        if obs[f"forced_{fmt}"]["outcome"] == "auto_rejected":
            break
    rejected = any(o.get("outcome") == "auto_rejected" for o in obs.values())
    if rejected:
        msg = "tool_choice=auto is refused (HTTP 400: needs --enable-auto-tool-choice and --tool-call-parser)"
        checked.append(msg)
        if system.tool_calling.auto_tool_choice:
            bad.append(f"{msg}, but the data declares auto tool choice with parser {parser!r}")
    else:
        for fmt in texts:
            o = obs[f"forced_{fmt}"]
            what = f"tool_choice=auto, output forced to a {_fmt(fmt)} call"
            if o["outcome"] == "parsed":
                checked.append(f"{what}: parsed into tool_calls ({o['tool_calls'][0]['name']})")
            elif o["outcome"] == "content":
                checked.append(f"{what}: left as text in content")
            elif o["outcome"] == "not_honored":
                checked.append(f"{what}: the server did not follow the forced output (no structured outputs?)")
                unknown.append(f"how the parser treats {_fmt(fmt)} text: the server ignored both "
                               "structured_outputs and guided_regex")
            else:
                checked.append(f"{what}: failed ({o.get('error')})")
                unknown.append(f"how the parser treats {_fmt(fmt)} text: the request failed")

        # Parser fingerprint: does the server read what the declared parser reads, and only that?
        for fmt in texts:
            o = obs[f"forced_{fmt}"]["outcome"]
            if o not in ("parsed", "content"):
                continue
            should_parse = fmt in reads
            known = bool(reads)
            if should_parse and o == "content":
                bad.append(f"declared parser {parser!r} reads {_fmt(fmt)}, but a forced {_fmt(fmt)} call "
                           f"stayed in content: the server is not running --tool-call-parser {parser}")
            elif known and not should_parse and o == "parsed":
                bad.append(f"a forced {_fmt(fmt)} call was parsed into tool_calls, which parser {parser!r} "
                           f"does not do: the server runs another parser")

    # 2. Harmony cannot be forced by a regex: look at "required" (what syntax is the call forced into,
    #    and does the parser turn it into tool_calls).
    if native == "openai" or "openai" in reads:
        cut = obs["required_cut"] = await required_cut(client, model, timeout)
        if cut["outcome"] == "cut":
            checked.append(f"tool_choice=required cut at {cut['max_tokens']} tokens: the server forces calls "
                           f"into {cut['syntax']} syntax ({cut['text'][:40]!r})")
        elif cut["outcome"] == "parsed":
            checked.append("tool_choice=required cut short: already a complete call (syntax not seen)")
        else:
            checked.append(f"tool_choice=required cut short: failed ({cut.get('error')})")
        full = obs["required"] = await required_full(client, model, timeout)
        checked.append(f"tool_choice=required: {full['outcome']}"
                       + (f" ({full['tool_calls'][0]['name']})" if full.get("tool_calls") else ""))
        if cut.get("syntax") == "harmony":
            if full["outcome"] == "tool_calls":
                harmony_seen = "openai"
            elif full["outcome"] == "content" and full.get("syntax") == "harmony":
                harmony_seen = "harmony-text"
            else:
                harmony_seen = None
        else:
            harmony_seen = None
            if cut.get("syntax") == "json":
                unknown.append("whether the parser turns Harmony calls into tool_calls: this vLLM builds "
                               "tool_choice=required calls itself from JSON, so the parser was not exercised, "
                               "and a regex cannot force Harmony's special tokens")
            elif cut.get("syntax") in ("hermes", "qwen3-xml", "tool_call_tag") and "openai" in reads:
                bad.append(f"tool_choice=required is forced into {cut['syntax']} syntax, not Harmony: "
                           f"the server does not run the openai parser")
            else:
                unknown.append("which syntax the server forces tool calls into (cut output: "
                               f"{cut.get('text', '')[:40]!r})")
        obs["harmony_client_view"] = harmony_seen
        if native == "openai":
            rec["observed_format"] = harmony_seen if harmony_seen in ("openai",) else None
            if harmony_seen == "harmony-text":
                bad.append("a Harmony call came back as text in content: the parser does not read Harmony")
            elif harmony_seen is None:
                unknown.append("what clients get for a Harmony call")
    elif native in CALL_TEXT and f"forced_{native}" in obs:
        o = obs[f"forced_{native}"]["outcome"]
        rec["observed_format"] = {"parsed": "openai", "content": native}.get(o)
        if rec["observed_format"] is None:
            unknown.append(f"what clients get when the model writes {_fmt(native)}"
                           + (": tool_choice=auto is refused" if rejected else ""))
    elif native is None:
        unknown.append(f"the native tool-call format of model family {system.model.family!r} "
                       "(not in model_families:), so what clients get was not derived")

    if rec["observed_format"] is not None:
        seen = rec["observed_format"]
        line = (f"so when the model writes its native {_fmt(native)} calls, clients get "
                + ("OpenAI tool_calls" if seen == "openai" else f"{_fmt(seen)} text in content"))
        checked.append(line)
        if seen != declared:
            bad.append(f"clients get {seen!r} tool calls, the data declares {declared!r}")

    # 3. Unforced auto: direct evidence when the model calls by itself (real weights usually do).
    if not rejected:
        free = obs["unforced"] = await unforced(client, model, timeout)
        if free["outcome"] == "tool_calls":
            checked.append("tool_choice=auto, unforced: the model called the tool and the client got tool_calls")
            if declared != "openai":
                bad.append(f"an unforced call arrived as tool_calls, the data declares {declared!r} text")
        elif free["outcome"] == "text_call":
            checked.append(f"tool_choice=auto, unforced: the model wrote a {free['syntax']} call, left in content")
            if declared == "openai":
                bad.append(f"an unforced call arrived as {free['syntax']} text in content, "
                           "the data declares OpenAI tool_calls")
        elif free["outcome"] == "no_call":
            checked.append("tool_choice=auto, unforced: the model wrote no tool call")
            unknown.append("whether the model itself writes " + _fmt(native) + " calls: "
                           + ("its weights are random (lab), so its unforced output says nothing"
                              if not weights_are_real else "it did not call the tool in one unforced try"))
        else:
            checked.append(f"tool_choice=auto, unforced: failed ({free.get('error')})")
    elif not weights_are_real:
        unknown.append("whether the model itself writes " + _fmt(native) + " calls (random lab weights)")
    unknown.append("streamed responses: tool-call parsing was checked on non-streamed responses only")

    # Conclude.
    if lab_parser is not None and lab_parser[0] != parser:
        note = (f"the lab runs {'no tool-call parser' if lab_parser[0] is None else 'parser ' + repr(lab_parser[0])}"
                f" instead of {parser!r}: {lab_parser[1]}")
        unknown.insert(0, f"the declared parser on this target: {note}")
        if bad:
            checked.extend(f"(not counted, lab fallback) {b}" for b in bad)
            bad.clear()
        rec["status"] = "inconclusive"
    elif bad:
        rec["status"] = "mismatch"
    elif rec["observed_format"] == declared:
        rec["status"] = "confirmed"
        rec["ok"] = True
    elif all(o.get("outcome") == "error" for o in obs.values() if isinstance(o, dict)):
        rec["status"] = "error"
    else:
        rec["status"] = "inconclusive"
    if rec["status"] == "inconclusive":
        rec["ok"] = True  # not a drift: nothing contradicted the data
    rec["summary"] = _summary(rec)
    return rec


def _summary(rec: dict) -> str:
    declared = rec["declared_format"]
    if rec["status"] == "confirmed":
        return f"{declared} confirmed (parser {rec['declared_parser']})"
    if rec["status"] == "mismatch":
        return f"MISMATCH: {rec['mismatches'][0]}"
    if rec["status"] == "error":
        return "could not check (requests failed)"
    first = rec["not_concluded"][0] if rec["not_concluded"] else "no decisive observation"
    return f"{declared} not confirmed: {first}"

