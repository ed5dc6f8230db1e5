"""Check `vllm serve` flag lists with vLLM's own argument parser and validation, without serving.

Runs with the lab venv's python. Reads a JSON object {name: [flags...]} on stdin (the flags after
`vllm serve MODEL`) and prints {name: null | "error message"} as JSON. Parser names are checked against
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


def main() -> int:
    requests = json.load(sys.stdin)
    json.dump({name: check(r["flags"], r["model"]) for name, r in requests.items()}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
