"""Constrained string types for values that end up in shell commands, YAML or URLs.

Each type rejects what could change the meaning of a command it is pasted into (spaces, quotes,
`$`, backticks, newlines, ...) with a message that says what is allowed. Validation, not quoting:
a doc-test must never run something the data smuggled in.
"""

from __future__ import annotations

import re
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
    r"((25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)",
    "four numbers 0-255 separated by dots",
    "10.0.0.1",
)
AbsPath = _pattern_type(
    "absolute_path",
    r"/[A-Za-z0-9._+@/-]*",
    "starts with '/'; letters, digits and . _ + @ / - only",
    "/mnt/models",
)
HomePath = _pattern_type(
    "path",
    r"(~|/)[A-Za-z0-9._+@/-]*",
    "starts with '~' or '/'; letters, digits and . _ + @ / - only",
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
FlagValue = _pattern_type(
    "flag_value",
    r"[A-Za-z0-9._:/=+,@%-]+",
    "letters, digits and . _ : / = + , @ % - only; no spaces, quotes, '$' or backticks",
    "auto",
)
Word = _pattern_type(
    "option",
    r"[A-Za-z0-9._=+-]+",
    "letters, digits and . _ = + - only",
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
