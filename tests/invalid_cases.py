"""Invalid data, one case per rule: data/systems.yaml with a small edit, and the one error it must give.

A case is its rule's name, its edits and the error after `file:line:`; the line is where the edit lands in
the file the test writes (or the line of the key named `at`), `col` a text on that line whose position is
the error's column. The edits work on the text, so comments and every other line stay as they are:
  set_(path, yaml)     the value at path becomes this YAML text
  drop(path)           the key and its value go (the error names the mapping that lost it)
  rename(path, key)    the key is spelled differently
  add(path, entry)     `key: value` appended to the mapping at path
  after(path, line)    a raw line after path's value (for what no edit of a value can write)
Paths: keys joined by '.', list items as [n]: known_issues[1].id.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import yaml

Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class Case:
    rule: str
    edits: tuple
    error: str
    at: str | None = None
    col: str | None = None


def set_(path, text): return ("set", path, text)
def drop(path): return ("drop", path, None)
def rename(path, key): return ("rename", path, key)
def add(path, entry): return ("add", path, entry)
def after(path, line): return ("after", path, line)


S = "systems.stella."
FLAGS = S + "vllm_args"
VALUE_CHARS = ("letters, digits and . _ : / = + , @ % - only, not starting with '-' or '='; no spaces, quotes, "
               "'$' or backticks")
PATH_CHARS = "starts with '~/' or '/'; letters, digits and . _ + @ / - only"
ONE_LINE = "contains a line break (text is one line: fold a long one with >-)"
SNAPSHOT = "b2cff646eb4bb1d68355c01b18ae02e7cf42d120"

CASES = [
    Case("unknown-key", [rename(S + "port", "prot")], f"{S}prot: unknown key 'prot'"),
    Case("missing-key", [drop(S + "container_name")], f"{S}container_name: missing required key 'container_name'",
         at="systems.stella"),
    Case("port-out-of-range", [set_(S + "port", "80000")], f"{S}port: 80000 is not a valid port (1-65535)"),
    Case("port-is-true", [set_(S + "port", "true")], f"{S}port: expected a whole number, got True"),
    Case("wrong-type", [set_(S + "context_length", "lots")], f"{S}context_length: expected a whole number, got 'lots'"),
    Case("bad-choice", [set_(S + "status", "live")],
         f"{S}status: 'live' is not one of: 'production', 'staging' or 'retired'"),
    Case("no-systems", [set_("systems", "{}")], "systems: must not be empty"),
    Case("duplicate-system-id", [add("systems", "stella: {name: Stella again}")], "duplicate key 'stella'",
         col="stella"),
    Case("duplicate-hostname", [set_(S + "host", "pegasus.home.arpa"), set_(S + "port", "8001")],
         f"{S}host: host name 'pegasus.home.arpa' is already used by systems.pegasus.host", at=S + "host"),
    Case("duplicate-container-name", [set_(S + "container_name", "gpt-oss-120b")],
         f"{S}container_name: container name 'gpt-oss-120b' is already used by systems.pegasus.container_name"),
    Case("duplicate-ssh-alias", [set_(S + "ssh.alias", "pegasus-llm")],
         f"{S}ssh.alias: ssh alias 'pegasus-llm' is already used by systems.pegasus.ssh.alias"),
    Case("duplicate-issue-id", [set_("known_issues[1].id", "marlin-hang")],
         "known_issues[1].id: id 'marlin-hang' is already used by known_issues[0].id"),
    # Derived keys (schema DERIVED): declaring one, even with the value it would get, is refused.
    Case("tool-format-declared", [add(S + "tool_calling", "format: qwen3-xml")],
         f"{S}tool_calling.format: 'format' is derived, not declared: what a client sees for a tool call (openai: "
         "tool_calls; hermes or qwen3-xml: text in content), from tool_calling.parser and the model family's "
         "tool_format"),
    Case("parser-missing-in-version", [set_(S + "tool_calling.parser", "qwen3_json")],
         f"{S}tool_calling.parser: vLLM 0.11.1 (image nvidia-vllm) has no tool-call parser 'qwen3_json'"),
    Case("model-id-declared", [add(S + "model", f"id: /models/models--Qwen--Qwen3-Coder-30B-A3B-Instruct/snapshots/{SNAPSHOT}")],
         f"{S}model.id: 'id' is derived, not declared: the model id the server reports: vLLM's is the served "
         "folder ROOT/models--ORG--NAME/snapshots/SHA (ROOT: infrastructure.nfs.container_path; ORG/NAME: "
         "model.repo; SHA: model.snapshot), llama.cpp's its --alias (llamacpp.alias)"),
    Case("snapshot-read-as-number", [set_(S + "model.snapshot", "1234567890" * 4)],
         f"{S}model.snapshot: expected text, got {'1234567890' * 4}"),
    Case("active-params-exceed-total", [set_(S + "model.active_params_b", "33")],
         f"{S}model.active_params_b: 33 is larger than params_b (30.5)"),
    Case("read-per-token-mismatch", [set_("systems.pegasus.model.read_per_token[2].params_b", "1.013")],
         "systems.pegasus.model.read_per_token: the groups add up to 6.131B, not active_params_b (5.13B)",
         at="systems.pegasus.model.read_per_token"),
    Case("unknown-platform", [set_(S + "hardware.platform", "gb200")], f"{S}hardware.platform: unknown platform 'gb200'"),
    Case("unknown-image", [set_(S + "image", "nvidia-vllm-26")], f"{S}image: unknown image 'nvidia-vllm-26'"),
    Case("unknown-quantization", [set_(S + "model.quantization", "INT3")],
         f"{S}model.quantization: unknown quantization 'INT3'"),
    Case("unknown-source", [set_(S + "load.source", "stella-deploy-2")], f"{S}load.source: unknown source 'stella-deploy-2'"),
    Case("unknown-system-reference", [set_("known_issues[0].systems", "[pegasus, orion]")],
         "known_issues[0].systems[1]: unknown system 'orion'"),
    Case("unknown-vllm-version", [set_("images.nvidia-vllm.vllm", "0.11.0")],
         "images.nvidia-vllm.vllm: unknown vLLM version '0.11.0'"),
    Case("fact-without-source", [drop(S + "load.source")],
         f"{S}load: give exactly one of `source:` (where it was measured) or `estimate:`", at=S + "load"),
    Case("source-measured-and-vendor",
         [add("sources.qwen3-coder-card", 'measured: {host: stella.home.arpa, date: "2026-01-25", by: a guess}')],
         "sources.qwen3-coder-card: give exactly one of `measured:` or `vendor:`", at="sources.qwen3-coder-card"),
    Case("date-unquoted", [set_("sources.stella-deploy.measured.date", "2026-01-25")],
         "2026-01-25 reads as a date, and no key takes a date", col="2026-01-25"),
    Case("yaml-syntax", [after(S + "role", "   status: oops")], "YAML syntax error: did not find expected key",
         col="status"),
    # Values that would run, climb or smuggle something where they are pasted
    Case("hostname-shell-injection", [set_(S + "host", '"stella.home.arpa; rm -rf ~"')],
         f"{S}host: 'stella.home.arpa; rm -rf ~' is not a valid hostname (lower-case letters, digits, '-' and '.' only)"),
    Case("host-outside-domain", [set_(S + "host", "stella.example.com")],
         f"{S}host: 'stella.example.com' is not in the lab's DNS domain 'home.arpa'"),
    Case("container-name-backtick", [set_(S + "container_name", '"qwen`id`"')],
         f"{S}container_name: 'qwen`id`' is not a valid container name (letters, digits and _ . - as docker allows)"),
    Case("image-ref-invalid", [set_("images.nvidia-vllm.ref", '"nvcr.io/nvidia/vllm:25.12 py3"')],
         "images.nvidia-vllm.ref: 'nvcr.io/nvidia/vllm:25.12 py3' is not a valid image reference "
         "(registry/name:tag in lower case)"),
    Case("resolver-address-invalid", [set_("infrastructure.dns.resolver.address", "10.0.0.256")],
         "infrastructure.dns.resolver.address: '10.0.0.256' is not a valid ipv4 address "
         "(four numbers 0-255 separated by dots)"),
    Case("ipv4-unicode-digit", [set_("infrastructure.dns.resolver.address", "10.0.0.\u0661")],
         "infrastructure.dns.resolver.address: '10.0.0.\u0661' is not a valid ipv4 address "
         "(four numbers 0-255 separated by dots)"),
    Case("path-with-space", [set_(S + "service_dir", "~/vllm service")],
         f"{S}service_dir: '~/vllm service' is not a valid path ({PATH_CHARS})"),
    Case("path-tilde-dash", [set_(S + "service_dir", "~-/vllm-service")],
         f"{S}service_dir: '~-/vllm-service' is not a valid path ({PATH_CHARS})"),
    Case("path-dotdot", [set_(S + "service_dir", "~/../../etc")], f"{S}service_dir: '~/../../etc' has a '.' or '..' segment"),
    Case("path-system-dir", [set_("infrastructure.nfs.local_copy_dir", "/etc")],
         "infrastructure.nfs.local_copy_dir: '/etc' is a system folder or inside one"),
    Case("minutes-infinite", [set_(S + "load.minutes", ".inf")], f"{S}load.minutes: expected a finite number, got inf"),
    Case("text-opens-code-fence", [set_(S + "role", r'"Fast Coder\n\n```bash {on=stella}\nrm -rf ~\n```"')],
         f"{S}role: 'Fast Coder\\n\\n```bash {{on=stella}}\\nrm -rf ~\\n```' {ONE_LINE}"),
    Case("text-jinja", [set_(S + "name", '"Stella {{ config.extra }}"')],
         f"{S}name: 'Stella {{{{ config.extra }}}}' contains a Jinja marker, which the site's macros would run"),
    Case("text-html", [set_("known_issues[3].cause", "Weights <script>alert(1)</script> are slow.")],
         "known_issues[3].cause: 'Weights <script>alert(1)</script> are slow.' contains HTML outside `code`"),
    Case("comment-newline-adds-yaml", [drop(S + "load.source"), add(S + "load", r'estimate: "notes\nentrypoint: [sh, -c, reboot]"')],
         f"{S}load.estimate: 'notes\\nentrypoint: [sh, -c, reboot]' {ONE_LINE}"),
    # vLLM flags: only what the system's vLLM reads, as the generator would pass it, never a secret
    Case("engine-field-of-another-engine", [add("systems.stella", "llamacpp: {alias: qwen, source_dir: /home/llm-agent/llama.cpp}")],
         f"{S}llamacpp: llamacpp (llama-server's binary and flags) is for llama.cpp systems, not vllm"),
    Case("service-manager-of-another-engine", [add("systems.stella", "service_manager: systemd")],
         f"{S}service_manager: vllm runs under docker-compose here, not systemd"),
    Case("reserved-flag", [add(FLAGS, "max-model-len: 32768")],
         f"{FLAGS}.max-model-len: --max-model-len is generated, not set here"),
    Case("flag-abbreviation", [add(FLAGS, "max-model: 4096")],
         f"{FLAGS}.max-model: --max-model is read by vLLM as --max-model-len, which is generated, not set here"),
    Case("flag-no-form", [add(FLAGS, "no-enable-auto-tool-choice: true")],
         f"{FLAGS}.no-enable-auto-tool-choice: --no-enable-auto-tool-choice is read by vLLM as "
         "--enable-auto-tool-choice, which is generated, not set here"),
    Case("flag-secret", [add(FLAGS, "api-key: hunter2hunter2")],
         f"{FLAGS}.api-key: --api-key would write a secret into the committed compose file and README"),
    Case("flag-missing-in-version", [add(FLAGS, "attention-backend: FLASH_ATTN")],
         f"{FLAGS}.attention-backend: --attention-backend is not among vLLM 0.11.1's flags "
         "(image nvidia-vllm, vllm_versions.0.11.1.flags)"),
    Case("flag-name-invalid", [add(FLAGS, '"--Max Num Seqs": 4')],
         f"{FLAGS}.--Max Num Seqs: '--Max Num Seqs' is not a valid vllm flag "
         "(a vLLM flag name without the leading '--', lower-case letters, digits and '-')"),
    Case("flag-boolean-as-text", [set_(FLAGS + ".trust-remote-code", '"off"')],
         f"{FLAGS}.trust-remote-code: 'off' is a boolean written as text"),
    Case("flag-value-nan", [set_(FLAGS + ".gpu-memory-utilization", ".nan")],
         f"{FLAGS}.gpu-memory-utilization: nan is not a finite number in range"),
    Case("flag-value-command-substitution", [add(FLAGS, 'kv-cache-dtype: "$(reboot)"')],
         f"{FLAGS}.kv-cache-dtype: '$(reboot)' is not a valid flag value ({VALUE_CHARS})"),
    Case("flag-value-newline", [add(FLAGS, r'kv-cache-dtype: "auto\n--api-key leaked"')],
         f"{FLAGS}.kv-cache-dtype: 'auto\\n--api-key leaked' is not a valid flag value ({VALUE_CHARS})"),
    Case("flag-value-is-option", [add(FLAGS, "kv-cache-dtype: --served-model-name=evil")],
         f"{FLAGS}.kv-cache-dtype: '--served-model-name=evil' is not a valid flag value ({VALUE_CHARS})"),
]


# --- applying the edits to the text -------------------------------------------------------------------

def _parts(path: str) -> list:
    return [int(p[1:-1]) if p.startswith("[") else p for p in re.findall(r"\[\d+\]|[^.\[\]]+", path)]


def _find(text: str, path: str):
    """(key node or None for a list item, value node) at path, in the text's node tree."""
    key, node = None, yaml.compose(text, Loader=Loader)
    for part in _parts(path):
        if isinstance(part, int):
            key, node = None, node.value[part]
        else:
            key, node = next((k, v) for k, v in node.value if k.value == part)
    return key, node


def _index(text: str, mark) -> int:
    """A mark's offset in the text, from its line and column (libyaml counts its own `index` in bytes)."""
    return sum(len(line) + 1 for line in text.split("\n")[:mark.line]) + mark.column


def _end(text: str, node) -> int:
    """Where the node's last character is written (a block collection's mark lies past what follows it)."""
    while isinstance(node, (yaml.MappingNode, yaml.SequenceNode)) and not node.flow_style and node.value:
        node = node.value[-1][1] if isinstance(node, yaml.MappingNode) else node.value[-1]
    end = _index(text, node.end_mark)
    return len(text[:end].rstrip())


def _line_start(text: str, at: int) -> int:
    return text.rfind("\n", 0, at) + 1


def _line_after(text: str, at: int) -> int:
    end = text.find("\n", at)
    return len(text) if end < 0 else end + 1


def apply(text: str, edit) -> tuple[str, int]:
    """The text after one edit, and the 1-based line the edit names."""
    op, path, arg = edit
    key, value = _find(text, path)
    at = _index(text, key.start_mark if key is not None else value.start_mark)
    if op == "set":
        block = isinstance(value, (yaml.MappingNode, yaml.SequenceNode)) and not value.flow_style
        start = _index(text, key.end_mark) if block else _index(text, value.start_mark)
        end = _end(text, value) if block else _index(text, value.end_mark)
        text = text[:start] + (f": {arg}" if block else arg) + text[end:]
    elif op == "rename":
        text = text[:at] + arg + text[_index(text, key.end_mark):]
    elif op == "drop":
        text = text[:_line_start(text, at)] + text[_line_after(text, _end(text, value)):]
        at = _index(text, _find(text, path.rsplit(".", 1)[0])[0].start_mark)
    else:
        indent = " " * value.value[0][0].start_mark.column if op == "add" else ""
        at = _line_after(text, _end(text, value))
        text = text[:at] + indent + arg + "\n" + text[at:]
        at += len(indent)
    return text, text.count("\n", 0, at) + 1


def write(case: Case, base: str) -> tuple[str, int]:
    """The case's data file text and the line its error names."""
    text, line = base, 0
    for edit in case.edits:
        text, line = apply(text, edit)
    if case.at:
        key, _ = _find(text, case.at)
        line = key.start_mark.line + 1
    return text, line
