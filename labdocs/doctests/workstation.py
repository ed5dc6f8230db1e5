"""What a workstation block may call: the commands a stock workstation of the data's kind has.

A block that runs on the workstation (no `on=`) is parsed with tree-sitter's bash grammar, including the
scripts it hands to `sh -c`/`bash -c`; a command outside the stock set is refused unless the page says
how to install it (the install command appears on the page, e.g. `brew install jq`). Commands with no
install line (getent, GNU timeout) must be rewritten with what the workstation has.
"""

from __future__ import annotations

import functools

from labdocs.doctests.fences import Block
from labdocs.doctests import console

# Shell keywords and builtins, the same on every kind.
BUILTINS = frozenset("""
. : [ [[ alias break cd command continue declare echo eval exec exit export false getopts hash local
printf pwd read readonly return set shift source test trap true type ulimit umask unalias unset wait
""".split())

# A stock macOS (14-15) without Command Line Tools or Homebrew: /bin, /usr/bin, /usr/sbin.
STOCK = {
    "macos": BUILTINS | frozenset("""
awk basename bash cat chmod cksum cmp comm cp curl cut date dd df diff dig dirname dscacheutil du env
expr file find grep gunzip gzip head host hostname id kill less ln ls lsof md5 mkdir mktemp more mv nc
nslookup od open openssl paste ping plutil ps pwd rm rmdir rsync scp sed seq sftp sh shasum sleep sort
split ssh ssh-add ssh-keygen stat sudo sw_vers tail tar tee time top touch tr traceroute tty uname
uniq unzip uptime wc which whoami xargs xxd yes zip zsh
""".split()),
}

# How to get a missing command, per kind; a command not listed here has no install line: rewrite it.
INSTALL = {
    "macos": {
        "jq": "brew install jq",
        "gtimeout": "brew install coreutils",
        "shellcheck": "brew install shellcheck",
        "make": "xcode-select --install",
        "git": "xcode-select --install",
        "python3": "xcode-select --install",
    },
}

LABEL = {"macos": "macOS", "linux": "Linux"}

REWRITE = {
    "getent": "`dscacheutil -q host -a name HOST` on a Mac, or `ping -c 1 HOST`",
    "timeout": "a bounded loop (`for _ in $(seq N); do ...; done`) or `curl --max-time`",
}


@functools.cache
def _parser():
    import tree_sitter_bash
    from tree_sitter import Language, Parser

    return Parser(Language(tree_sitter_bash.language()))


def _unquote(node) -> str:
    text = node.text.decode()
    if node.type == "raw_string" and len(text) >= 2:
        return text[1:-1]
    if node.type == "string" and len(text) >= 2:
        return text[1:-1]
    return text


def commands(code: str) -> list[str]:
    """Every command name the code runs, in order, including those of `sh -c '...'` scripts."""
    found: list[str] = []

    def walk(node) -> None:
        if node.type == "command":
            name = node.child_by_field_name("name")
            if name is not None:
                word = name.text.decode()
                found.append(word)
                args = [c for c in node.children_by_field_name("argument")]
                if word in ("sh", "bash", "zsh") and any(a.text == b"-c" for a in args):
                    i = next(i for i, a in enumerate(args) if a.text == b"-c")
                    if i + 1 < len(args):
                        found.extend(commands(_unquote(args[i + 1])))
        for child in node.children:
            walk(child)

    walk(_parser().parse(code.encode()).root_node)
    return found


def block_code(block: Block) -> str | None:
    if block.lang == "console":
        return "\n".join(step.command for step in console.parse(block.code))
    if block.lang in ("bash", "sh", "shell"):
        return block.code
    return None


def missing(block: Block, page_text: str, kind: str) -> list[str]:
    """Problems with a workstation block on a stock workstation of this kind (none for a host block)."""
    code = block_code(block)
    if block.on or code is None or kind not in STOCK:
        return []
    problems, label = [], LABEL.get(kind, kind)
    for name in dict.fromkeys(commands(code)):
        # a program of this checkout (./x, .venv/bin/python, vllm-gb10/run.sh) or a variable: not the system's
        if name in STOCK[kind] or name.startswith("$") or ("/" in name and not name.startswith("/")):
            continue
        install = INSTALL[kind].get(name)
        if install and install in page_text:
            continue
        if install:
            problems.append(f"`{name}` is not on a stock {label} workstation: say on the page how to get it "
                            f"(`{install}`), e.g. as a prerequisite")
        else:
            how = REWRITE.get(name, "a command the workstation has, or add it to labdocs/doctests/workstation.py with how to install it")
            problems.append(f"`{name}` is not on a stock {label} workstation and has no install line: use {how}")
    return problems
