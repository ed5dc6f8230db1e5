"""Fenced blocks of a Markdown page, with the settings of their header.

Header form (pymdownx.superfences with attr_list renders it as plain highlighted code):
    ```bash {on=stella disruptive=true timeout=120}
Settings:
    on=ID|any     runs on that system's host (over ssh with its alias when live); checked statically in the lab
    needs=ID      runs on the workstation but needs the real host (ssh/scp to it): live only
    disruptive=true  changes a host (restart, down, prune, mount, copy): never run without --allow-disruptive
    skip="why"    never run; the reason is printed
    exit=N        expected exit status (default 0)
    timeout=S     seconds before the block is killed (default 60)
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field

from markdown_it import MarkdownIt

SHELL = {"bash", "sh", "shell"}
RUNNABLE = SHELL | {"console"}
KNOWN = {"on", "needs", "disruptive", "skip", "exit", "timeout", "title"}
PYTHON = {"python", "py", "python3"}
# pytest-markdown-docs options, written superfences-style so the site renders the block: {.python continuation}
PYTHON_OPTION = r"notest|continuation|(fixture|runner):[A-Za-z_]\w*|retry:\d+"
DEFAULT_TIMEOUT = 60.0


class FenceError(ValueError):
    pass


@dataclass(frozen=True)
class Block:
    page: str          # repository path of the page, e.g. systems/stella/QUICKSTART.md
    line: int          # 1-based line of the opening fence in the page as the reader sees it
    lang: str
    code: str
    attrs: dict[str, str] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return f"{self.page}:{self.line}"

    @property
    def on(self) -> str | None:
        return self.attrs.get("on")

    @property
    def needs(self) -> str | None:
        return self.attrs.get("needs")

    @property
    def host_bound(self) -> bool:
        return self.on is not None or self.needs is not None

    @property
    def disruptive(self) -> bool:
        return self.attrs.get("disruptive", "false") == "true"

    @property
    def skip(self) -> str | None:
        return self.attrs.get("skip")

    @property
    def exit(self) -> int:
        return int(self.attrs.get("exit", "0"))

    @property
    def timeout(self) -> float:
        return float(self.attrs.get("timeout", DEFAULT_TIMEOUT))


def parse_info(info: str) -> tuple[str, dict[str, str]]:
    """`bash {on=x skip="a b"}` or `{.bash on=x}` or `yaml title="f"` -> (lang, attrs)."""
    info = info.strip()
    lang, attrs = "", {}
    head, brace, rest = info.partition("{")
    if brace and not rest.rstrip().endswith("}"):
        raise FenceError(f"fence header {info!r}: unclosed '{{'")
    tokens = shlex.split(head) + shlex.split(rest.rstrip()[:-1] if brace else "")
    for token in tokens:
        if token.startswith("."):
            lang = lang or token[1:]
        elif "=" in token:
            key, value = token.split("=", 1)
            attrs[key] = value
        elif not lang:
            lang = token
        elif re.fullmatch(PYTHON_OPTION, token):
            attrs[token] = ""  # a pytest-markdown-docs option, checked in _check
        else:
            raise FenceError(f"fence header {info!r}: unexpected {token!r} (settings are key=value)")
    return lang, attrs


def _check(block: Block) -> None:
    allowed = KNOWN | ({k for k in block.attrs if re.fullmatch(PYTHON_OPTION, k)} if block.lang in PYTHON else set())
    unknown = set(block.attrs) - allowed
    if unknown:
        raise FenceError(f"{block.id}: unknown fence setting(s) {sorted(unknown)}; known: {sorted(KNOWN)}")
    if block.lang in RUNNABLE and block.attrs.get("disruptive", "false") not in ("true", "false"):
        raise FenceError(f"{block.id}: disruptive must be true or false")
    for key in ("exit", "timeout"):
        if key in block.attrs:
            try:
                float(block.attrs[key])
            except ValueError:
                raise FenceError(f"{block.id}: {key}={block.attrs[key]!r} is not a number") from None


CONTAINER = re.compile(r"^(\s*)(===|!!!|\?\?\?\+?)\s")


def unwrap_containers(markdown: str) -> str:
    """Content tabs (=== "x"), admonitions (!!! x) and details (??? x) indent their body by four
    spaces, which CommonMark reads as an indented code block. Dedent those bodies, keeping every line
    where it is, so fences inside them are found at their real line."""
    lines = markdown.split("\n")
    changed = True
    while changed:
        changed = False
        for i, line in enumerate(lines):
            match = CONTAINER.match(line)
            if not match:
                continue
            body_indent = match.group(1) + "    "
            lines[i] = ""
            j = i + 1
            while j < len(lines) and (lines[j].startswith(body_indent) or not lines[j].strip()):
                lines[j] = lines[j][4:] if lines[j].startswith(body_indent) else lines[j]
                j += 1
            changed = True
            break
    return "\n".join(lines)


def blocks(page: str, markdown: str) -> list[Block]:
    md = MarkdownIt("commonmark")
    found = []
    for token in md.parse(unwrap_containers(markdown)):
        if token.type != "fence":
            continue
        try:
            lang, attrs = parse_info(token.info)
        except (FenceError, ValueError) as exc:
            raise FenceError(f"{page}:{token.map[0] + 1}: {exc}") from None
        block = Block(page, token.map[0] + 1, lang, token.content, attrs)
        _check(block)
        found.append(block)
    return found
