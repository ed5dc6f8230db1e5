"""Check `vllm serve` flag lists with vLLM's own argument parser and validation, without serving.

Runs with the lab venv's python. Reads a JSON object {name: [flags...]} on stdin (the flags after
`vllm serve MODEL`) and prints {name: null | "error message"} as JSON. With --resolve, reads a list
of flag names and prints which flag vLLM's parser reads for each (prefixes, --no- forms); with --both,
reads {"check": {...}, "resolve": [...]} and prints both answers under the same keys. Parser names are checked against
vLLM's registries too, since a misspelled --tool-call-parser passes argparse and fails only at start-up.
"""

from __future__ import annotations

import contextlib
import io
import json
import sys


def check(flags: list[str], model: str) -> str | None:
    from vllm.entrypoints.launchers.cli_args import make_arg_parser, validate_parsed_serve_args
    from vllm.reasoning import ReasoningParserManager
    from vllm.tool_parsers import ToolParserManager
    from vllm.utils.argparse_utils import FlexibleArgumentParser

    parser = make_arg_parser(FlexibleArgumentParser(prog="vllm serve"))
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            args = parser.parse_args(["--model", model, *flags])
        validate_parsed_serve_args(args)
    except SystemExit:
        return err.getvalue().strip().splitlines()[-1] if err.getvalue().strip() else "argument parser exited"
    except (TypeError, ValueError) as exc:
        return str(exc)
    if getattr(args, "tool_parser_plugin", None):
        # As the server does before it looks the parser up (entrypoints/launchers/api_server/entry.py).
        ToolParserManager.import_tool_parser(args.tool_parser_plugin)
    if args.tool_call_parser and args.tool_call_parser not in ToolParserManager.list_registered():
        return f"unknown --tool-call-parser {args.tool_call_parser!r}; vLLM has: {', '.join(ToolParserManager.list_registered())}"
    reasoning = getattr(args, "reasoning_parser", None)
    if reasoning and reasoning not in ReasoningParserManager.list_registered():
        return f"unknown --reasoning-parser {reasoning!r}"
    return None


def resolve(names: list[str]) -> dict:
    """How vLLM's parser reads `--NAME` for each name: {"dest": ..., "negated": bool} of the one flag
    it resolves to (exact, a unique prefix, or a --no- form), or null. Also "flags": every long
    option the parser has, with its dest, so the data's reserved list can be checked against them."""
    from vllm.entrypoints.launchers.cli_args import make_arg_parser
    from vllm.utils.argparse_utils import FlexibleArgumentParser

    parser = make_arg_parser(FlexibleArgumentParser(prog="vllm serve"))
    options = {o: a for o, a in parser._option_string_actions.items() if o.startswith("--")}

    def one(name: str):
        option = f"--{name}"
        if option in options:
            action = options[option]
        elif parser.allow_abbrev:
            found = {id(a): a for o, a in options.items() if o.startswith(option)}
            if len(found) != 1:
                return None
            action = next(iter(found.values()))
        else:
            return None
        negated = any(o.startswith(option) and o.startswith("--no-") for o in options
                      if options[o] is action) and name.startswith("no-")
        return {"dest": action.dest, "negated": negated}

    return {"names": {name: one(name) for name in names},
            "flags": {o: a.dest for o, a in options.items()}, "allow_abbrev": parser.allow_abbrev}


def main() -> int:
    requests = json.load(sys.stdin)
    if sys.argv[1:] == ["--resolve"]:
        json.dump(resolve(requests), sys.stdout)
        return 0
    if sys.argv[1:] == ["--both"]:
        # {"check": {name: {...}}, "resolve": [names]} in one process: importing vLLM's parser is most of a run.
        json.dump({"check": {name: check(r["flags"], r["model"]) for name, r in requests["check"].items()},
                   "resolve": resolve(requests["resolve"])}, sys.stdout)
        return 0
    json.dump({name: check(r["flags"], r["model"]) for name, r in requests.items()}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
