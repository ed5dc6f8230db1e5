"""What the lab's own vLLM does, read from vLLM itself (run with the lab venv's python): its version,
every `vllm serve` option, its tool-parser registry and the reasoning fields of a chat response.
Prints JSON. tests/test_vllm_versions.py compares it with the lab version's row in the data."""

from __future__ import annotations

import contextlib
import io
import json
import sys


def facts() -> dict:
    from importlib.metadata import version

    from vllm.entrypoints.launchers.cli_args import make_arg_parser
    from vllm.entrypoints.openai.chat_completion.protocol import ChatMessage
    from vllm.tool_parsers import ToolParserManager
    from vllm.utils.argparse_utils import FlexibleArgumentParser

    with contextlib.redirect_stderr(io.StringIO()):
        parser = make_arg_parser(FlexibleArgumentParser(prog="vllm serve"))
    flags = sorted({s[2:] for s in parser._option_string_actions if s.startswith("--")})
    return {"version": version("vllm").split("+")[0], "flags": flags,
            "tool_parsers": sorted(ToolParserManager.list_registered()),
            "reasoning_fields": sorted(f for f in ChatMessage.model_fields if f.startswith("reasoning"))}


if __name__ == "__main__":
    json.dump(facts(), sys.stdout)
