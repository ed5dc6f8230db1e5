"""The kind of every string in the data file: what it may contain, so no value can change the
structure of a page, a compose file or a command it is pasted into.

- Text: one line of prose for pages and comments (names, roles, titles, known issues). Markdown-safe:
  no line break or invisible character, nothing that opens a block (a fence, heading, list, quote,
  admonition, tab, table, HTML or an attribute list), no Jinja (generated pages go through
  mkdocs-macros). No field is multi-line: a folded `>-` scalar is one line.
- Hostname, IPv4 (ASCII digits), identifiers, container names, image references, Hugging Face repos,
  snapshot shas, vLLM flag names and values, words (an option or a parser name), URLs, npm packages:
  each a pattern of characters that are inert in a shell, a YAML scalar and a URL, never starting
  with '-' where a tool would read an option.
- AbsPath / HomePath: the characters, and the meaning: no '.' or '..' segments, not '/' or a system
  directory, '~' only as '~/...' (bash reads '~-' and '~+' as other folders).

Validation first; the templates also escape by context (labdocs/render/views.py), so a value that got
through still could not add a line or a block.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Annotated

from pydantic import AfterValidator
from pydantic_core import PydanticCustomError


CHECKS: dict = {}  # name -> checker, for values validated outside a field type


def _pattern_type(name: str, pattern: str, allowed: str, example: str):
    regex = re.compile(pattern)

    def check(value: str) -> str:
        if not regex.fullmatch(value):
            raise PydanticCustomError(
                f"unsafe_{name}",
                "{shown} is not a valid {kind} ({allowed})",
                {"shown": repr(value), "kind": name.replace("_", " "), "allowed": allowed,
                 "hint": f"use a value like {example}"},
            )
        return value

    CHECKS[name] = check
    return Annotated[str, AfterValidator(check)]



Hostname = _pattern_type(
    "hostname",
    r"(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*",
    "lower-case letters, digits, '-' and '.' only",
    "stella.home.arpa",
)
IPv4 = _pattern_type(
    "ipv4_address",
    r"((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])",
    "four numbers 0-255 separated by dots",
    "10.0.0.1",
)
# Folders a generated command must never cd into, copy to or bind-mount (nor anything under them).
SYSTEM_DIRS = ("/bin", "/boot", "/dev", "/etc", "/lib", "/lib32", "/lib64", "/proc", "/root", "/run", "/sbin",
               "/sys", "/usr", "/var")


def _path_meaning(value: str) -> str | None:
    """Why a path with valid characters still does not name a folder of its own, or None."""
    rest = value[2:] if value.startswith("~/") else value[1:]
    segments = rest.split("/")
    if value.endswith("/") or "" in segments:
        return "has an empty segment ('//' or a trailing '/')"
    if any(seg in (".", "..") for seg in segments):
        return "has a '.' or '..' segment"
    if value.startswith("/") and any(value == d or value.startswith(d + "/") for d in SYSTEM_DIRS):
        return "is a system folder or inside one"
    return None


def _path_type(name: str, pattern: str, allowed: str, example: str):
    _pattern_type(name, pattern, allowed, example)
    check_chars = CHECKS[name]

    def check(value: str) -> str:
        check_chars(value)
        why = _path_meaning(value)
        if why:
            raise PydanticCustomError(
                f"unsafe_{name}", "{shown} {why}",
                {"shown": repr(value), "why": why, "hint": f"name the folder itself, like {example}"})
        return value

    CHECKS[name] = check
    return Annotated[str, AfterValidator(check)]


AbsPath = _path_type(
    "absolute_path",
    r"/[A-Za-z0-9._+@/-]+",
    "starts with '/'; letters, digits and . _ + @ / - only",
    "/mnt/models",
)
HomePath = _path_type(
    "path",
    r"(~/|/)[A-Za-z0-9._+@/-]+",
    "starts with '~/' or '/'; letters, digits and . _ + @ / - only",
    "~/vllm-service",
)
Identifier = _pattern_type(
    "identifier",
    r"[a-z][a-z0-9-]{0,39}",
    "lower-case letters, digits and '-', starting with a letter",
    "stella",
)
ContainerName = _pattern_type(
    "container_name",
    r"[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}",
    "letters, digits and _ . - as docker allows",
    "qwen-coder",
)
ImageRef = _pattern_type(
    "image_reference",
    r"[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]+)?(/[a-z0-9]+([._-][a-z0-9]+)*)*(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[a-f0-9]{64})?",
    "registry/name:tag in lower case",
    "nvcr.io/nvidia/vllm:25.12-py3",
)
HfRepo = _pattern_type(
    "hugging_face_repo",
    r"[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*",
    "ORG/NAME with letters, digits and _ . -",
    "Qwen/Qwen3-Coder-30B-A3B-Instruct",
)
Sha = _pattern_type("snapshot_sha", r"[0-9a-f]{40}", "40 lower-case hex digits", "b2cff646eb4bb1d68355c01b18ae02e7cf42d120")
FlagName = _pattern_type(
    "vllm_flag",
    r"[a-z0-9][a-z0-9-]*",
    "a vLLM flag name without the leading '--', lower-case letters, digits and '-'",
    "gpu-memory-utilization",
)
# The check behind a vllm_args word (CHECKS["flag_value"], called by schema._check_arg); no field has it as a type.
_pattern_type(
    "flag_value",
    r"[A-Za-z0-9._:/+,@%][A-Za-z0-9._:/=+,@%-]{0,255}",
    "letters, digits and . _ : / = + , @ % - only, not starting with '-' or '='; no spaces, quotes, '$' or backticks",
    "auto",
)
Word = _pattern_type(
    "option",
    r"[A-Za-z0-9_][A-Za-z0-9._=+-]{0,127}",
    "letters, digits and . _ = + - only, starting with a letter, digit or '_'",
    "noatime",
)
Url = _pattern_type(
    "url",
    r"https?://[A-Za-z0-9._~:/?#\[\]@!&()*+,;=%-]+",
    "http(s)://... with no spaces or quotes",
    "https://docs.vllm.ai/",
)
NpmPackage = _pattern_type(
    "npm_package",
    r"(@[a-z0-9][a-z0-9._-]*/)?[a-z0-9][a-z0-9._-]*",
    "an npm package name such as @scope/name",
    "@ai-sdk/openai-compatible",
)
Program = _pattern_type(
    "program_path",
    r"(/(?!\.\.?(/|$))[A-Za-z0-9._+-]+)+",
    "an absolute path of a program: '/' and letters, digits and . _ + - only, no '.' or '..' segments",
    "/usr/bin/python3",
)
Cron = _pattern_type(
    "cron_schedule",
    r"[0-9*/,-]+( [0-9*/,-]+){4}",
    "five cron fields (minute hour day month weekday) of digits and * / , - only, in UTC",
    "'0 3 * * *' (03:00 UTC every night)",
)
Email = _pattern_type(
    "email_address",
    r"[A-Za-z0-9._+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+",
    "local@domain with letters, digits and . _ + - only",
    "labdocs-bot@home.arpa",
)
SecretName = _pattern_type(
    "secret_name",
    r"(?!GITHUB_)(?!FORGEJO_)(?!GITEA_)[A-Z][A-Z0-9_]{0,63}",
    "upper-case letters, digits and '_', not starting with GITHUB_, FORGEJO_ or GITEA_ (reserved by the forges)",
    "LABDOCS_BOT_TOKEN",
)


# --- prose -------------------------------------------------------------------------------------

TEXT_MAX = 500
_INVISIBLE = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}   # controls, format (bidi, zero-width), separators
# At the start of a line, these open a Markdown block (heading, quote, list, table, admonition,
# details, content tab, fence, HTML, link definition, footnote, abbreviation, snippet).
_BLOCK_START = re.compile(r"[#>*+=|!?:<\[-]|[0-9]{1,9}[.)](\s|$)")
_CODE_SPAN = re.compile(r"`[^`]*`")
_RAW_HTML = re.compile(r"<[A-Za-z/!?]")
_SCRIPT_URL = re.compile(r"(javascript|vbscript|data)\s*:", re.IGNORECASE)


def _text_problem(value: str) -> str | None:
    if not value.strip():
        return "is empty"
    if value != value.strip():
        return "starts or ends with a space"
    if len(value) > TEXT_MAX:
        return f"is longer than {TEXT_MAX} characters"
    for ch in value:
        if unicodedata.category(ch) in _INVISIBLE or ch == "\x85":
            if ch in "\n\r":
                return "contains a line break (text is one line: fold a long one with >-)"
            return f"contains U+{ord(ch):04X} ({unicodedata.name(ch, 'a control character').lower()})"
    if _BLOCK_START.match(value):
        return f"starts with {value[0]!r}, which opens a Markdown block at the start of a line"
    if "|" in value:
        return "contains '|', which splits a table cell"
    if "```" in value or "~~~" in value:
        return "contains a code fence marker"
    if any(tag in value for tag in ("{{", "{%", "{#", "%}", "}}", "#}")):
        return "contains a Jinja marker, which the site's macros would run"
    outside_code = _CODE_SPAN.sub("", value)
    if _RAW_HTML.search(outside_code):
        return "contains HTML outside `code`"
    if "{" in outside_code or "}" in outside_code:
        return "contains '{' or '}' outside `code` (an attribute list)"
    if _SCRIPT_URL.search(value):
        return "contains a script URL"
    return None


def _check_text(value: str) -> str:
    why = _text_problem(value)
    if why:
        shown = value if len(value) <= 60 else value[:57] + "..."
        raise PydanticCustomError(
            "unsafe_text", "{shown} {why}",
            {"shown": repr(shown), "why": why,
             "hint": "one line of plain prose; put commands, tags and markup in `backticks`"})
    return value


CHECKS["text"] = _check_text
Text = Annotated[str, AfterValidator(_check_text)]
