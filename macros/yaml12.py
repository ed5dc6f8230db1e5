"""Fast reading of the data file: libyaml (PyYAML's C parser) with YAML 1.2 core-schema scalars.

ruamel.yaml, pure Python here, takes about 2 s to read a 200-system data file, on every build and
every `mkdocs serve` reload; libyaml takes 0.1 s. PyYAML resolves scalars the YAML 1.1 way (`yes`,
`on` and `off` are booleans, `010` is octal, `1:30` is sexagesimal), ruamel and the YAML 1.2 spec
do not: the resolvers below are the 1.2 core schema, so both readers give the same values
(tests/test_loader.py compares them). Anything this reader does not accept (a syntax error, a
duplicate key) is left to ruamel, whose messages name the problem better.
"""

from __future__ import annotations

import re

import yaml

_BASE = getattr(yaml, "CSafeLoader", yaml.SafeLoader)   # pure-Python fallback without libyaml

_INT = re.compile(r"^(?:[-+]?[0-9][0-9_]*|[-+]?0b[01_]+|[-+]?0o[0-7_]+|[-+]?0x[0-9a-fA-F_]+)$")
_FLOAT = re.compile(r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
                    r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$")


class Core12Loader(_BASE):
    """SafeLoader with the YAML 1.2 core schema's implicit types (plus timestamps, as ruamel)."""

    yaml_implicit_resolvers: dict = {}

    def construct_yaml_int(self, node):
        value = self.construct_scalar(node).replace("_", "")
        if value.lstrip("+-").startswith(("0b", "0o", "0x")):
            return int(value, 0)
        return int(value, 10)                     # 1.2: a leading zero is not octal


for _tag, _regexp, _first in [
    ("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), "tTfF"),
    ("tag:yaml.org,2002:int", _INT, "-+0123456789"),
    ("tag:yaml.org,2002:float", _FLOAT, "-+0123456789."),
    ("tag:yaml.org,2002:null", re.compile(r"^(?:~|null|Null|NULL|)$"), ["~", "n", "N", ""]),
    ("tag:yaml.org,2002:timestamp", re.compile(r"^(?:[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}"
                                               r"(?:(?:[Tt]|[ \t]+)[0-9]{1,2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]*)?"
                                               r"(?:[ \t]*(?:Z|[-+][0-9]{1,2}(?::[0-9]{2})?))?)?)$"),
     "0123456789"),
    ("tag:yaml.org,2002:merge", re.compile(r"^(?:<<)$"), ["<"]),
]:
    Core12Loader.add_implicit_resolver(_tag, _regexp, list(_first))
Core12Loader.add_constructor("tag:yaml.org,2002:int", Core12Loader.construct_yaml_int)


def _duplicate(node) -> bool:
    """A mapping anywhere in the tree with a key twice (PyYAML would keep the last one silently)."""
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, yaml.MappingNode):
            keys = [k.value for k, _ in n.value if isinstance(k, yaml.ScalarNode)]
            if len(keys) != len(set(keys)):
                return True
            stack.extend(v for _, v in n.value)
        elif isinstance(n, yaml.SequenceNode):
            stack.extend(n.value)
    return False


def parse(text: str):
    """(node tree, plain data), or None when the text is not for this reader (let ruamel explain)."""
    loader = Core12Loader(text)
    try:
        node = loader.get_single_node()
        if node is None or _duplicate(node):
            return None
        return node, loader.construct_document(node)
    except (yaml.YAMLError, ValueError):
        return None
    finally:
        loader.dispose()


def line_of(node, loc: tuple) -> int | None:
    """1-based line of the deepest key of `loc` present in the node tree."""
    line = None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            found = next(((k, v) for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == str(part)),
                         None)
            if found is None:
                break
            line, node = found[0].start_mark.line + 1, found[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            break
    return line
