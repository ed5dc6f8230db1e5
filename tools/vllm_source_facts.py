"""Read a vLLM version's serve flags, tool-parser registry and reasoning fields from its source, without
importing it (older wheels need CUDA, torch and ~40 packages to import; their .py files need nothing).

    pip download vllm==0.11.1 --no-deps -d wheels && unzip -q wheels/*.whl 'vllm/*.py' -d src
    python tools/vllm_source_facts.py src          # -> JSON: flags, tool_parsers, reasoning_fields

The rows of `vllm_versions:` in data/systems.yaml were read this way; tests/test_vllm_versions.py runs it
on the lab's installed vLLM and compares it with that vLLM's own argument parser and registry.
"""

from __future__ import annotations

import ast
import json
import re
import sys
from pathlib import Path

# Where `vllm serve` flags are declared: explicit "--flag" strings, and the frontend's dataclass fields
# (turned into --field-name by vLLM's argument builder).
_FLAG_FILES = ("engine/arg_utils.py", "cli_args.py")
_FRONTEND_CLASSES = {"FrontendArgs", "BaseFrontendArgs"}


def _trees(root: Path, pick) -> list[tuple[Path, ast.Module]]:
    out = []
    for path in sorted((root / "vllm").rglob("*.py")):
        rel = path.relative_to(root / "vllm").as_posix()
        if pick(rel):
            out.append((path, ast.parse(path.read_text(encoding="utf-8"))))
    return out


def serve_flags(root: Path) -> set[str]:
    flags: set[str] = set()
    for _path, tree in _trees(root, lambda rel: rel.endswith(_FLAG_FILES)):
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) \
                    and re.fullmatch(r"--[a-z0-9][a-z0-9-]*", node.value):
                flags.add(node.value[2:])
            if isinstance(node, ast.ClassDef) and node.name in _FRONTEND_CLASSES:
                for item in node.body:
                    if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name) \
                            and not item.target.id.startswith("_"):
                        flags.add(item.target.id.replace("_", "-"))
    return flags


def tool_parsers(root: Path) -> set[str]:
    names: set[str] = set()
    for _, tree in _trees(root, lambda rel: "tool_parser" in rel):
        for node in ast.walk(tree):
            if isinstance(node, (ast.Assign, ast.AnnAssign)):
                target = node.targets[0] if isinstance(node, ast.Assign) else node.target
                if getattr(target, "id", "") == "_TOOL_PARSERS_TO_REGISTER" and isinstance(node.value, ast.Dict):
                    names |= {ast.literal_eval(k) for k in node.value.keys}
            if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "register_module":
                for arg in node.args[:1]:
                    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                        names.add(arg.value)
                    elif isinstance(arg, (ast.List, ast.Tuple)):
                        names |= {e.value for e in arg.elts if isinstance(e, ast.Constant)}
    return names


def reasoning_fields(root: Path) -> list[str]:
    """The reasoning fields of the chat response message (ChatMessage), in declaration order."""
    for _, tree in _trees(root, lambda rel: rel.startswith("entrypoints/")):
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef) and node.name == "ChatMessage":
                return [i.target.id for i in node.body
                        if isinstance(i, ast.AnnAssign) and isinstance(i.target, ast.Name)
                        and i.target.id.startswith("reasoning")]
    return []


def facts(root: Path) -> dict:
    return {"flags": sorted(serve_flags(root)), "tool_parsers": sorted(tool_parsers(root)),
            "reasoning_fields": sorted(reasoning_fields(root))}


if __name__ == "__main__":
    json.dump(facts(Path(sys.argv[1])), sys.stdout, indent=1)
    print()
