"""Fast, bounded reading of the data file: libyaml (PyYAML's C parser) with YAML 1.2 core-schema scalars.

ruamel.yaml, pure Python here, takes about 2 s to read a 200-system data file, on every build and
every `mkdocs serve` reload; libyaml takes 0.1 s. PyYAML resolves scalars the YAML 1.1 way (`yes`,
`on` and `off` are booleans, `010` is octal, `1:30` is sexagesimal), ruamel and the YAML 1.2 spec
do not: the resolvers below are the 1.2 core schema, so both readers give the same values
(tests/test_loader.py compares them).

The data file is edited by hand and read by the `mkdocs serve` hook on every save, so reading it must
end quickly whatever it holds: a pass over libyaml's events first refuses aliases that refer to
themselves, documents that aliases would expand beyond NODE_BUDGET nodes (an "alias bomb") and
nesting deeper than MAX_DEPTH, before anything is built. Every problem is a YamlProblem with a line
and column, never a traceback.
"""

from __future__ import annotations

import re

import yaml

_BASE = getattr(yaml, "CSafeLoader", yaml.SafeLoader)   # pure-Python fallback without libyaml

MAX_DEPTH = 64            # the data file nests 6 deep; libyaml's composer recurses per level
NODE_BUDGET = 60_000      # values after expanding aliases: a system has about 100, so this allows ~580
                          # systems and keeps the worst 1 MB file under a second (tests/test_yaml_tricks.py)
MAX_INT_DIGITS = 100      # far beyond any count in the data file; the schema bounds each number

# YAML's printable set (1.2 spec, production [1]); anything else is a control character or a lone surrogate.
_NOT_PRINTABLE = re.compile("[^\t\n\r\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_INT = re.compile(r"^(?:[-+]?[0-9][0-9_]*|[-+]?0b[01_]+|[-+]?0o[0-7_]+|[-+]?0x[0-9a-fA-F_]+)$")
_FLOAT = re.compile(r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
                    r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$")
_TIMESTAMP = re.compile(r"^(?:[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}"
                        r"(?:(?:[Tt]|[ \t]+)[0-9]{1,2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]*)?"
                        r"(?:[ \t]*(?:Z|[-+][0-9]{1,2}(?::[0-9]{2})?))?)?)$")


class YamlProblem(Exception):
    """What is wrong, where (1-based line and column, when known) and how to fix it."""

    def __init__(self, message: str, line: int | None, column: int | None, hint: str):
        super().__init__(message)
        self.message, self.line, self.column, self.hint = message, line, column, hint


def _at(mark, message: str, hint: str) -> YamlProblem:
    return YamlProblem(message, mark.line + 1 if mark else None, mark.column + 1 if mark else None, hint)


class Core12Loader(_BASE):
    """SafeLoader with the YAML 1.2 core schema's implicit types. Only the tags a data file needs
    are known: others (!!binary, !!set, !!python/...) are refused rather than turned into types the
    schema would coerce."""

    yaml_implicit_resolvers: dict = {}
    yaml_constructors: dict = {}

    def construct_yaml_int(self, node):
        value = self.construct_scalar(node).replace("_", "")
        digits = value.lstrip("+-")
        try:
            if len(digits) > MAX_INT_DIGITS:        # (int() of thousands of digits is slow, or refused)
                raise OverflowError
            return int(value, 0) if digits.startswith(("0b", "0o", "0x")) else int(value, 10)  # 1.2: 010 is ten
        except OverflowError:
            raise _at(node.start_mark, f"the number {value[:24]}{'...' if len(value) > 24 else ''} is too large",
                      "if this is an id or a hash, quote it: '...'") from None
        except ValueError:
            raise _at(node.start_mark, f"{value[:40]!r} is tagged as a whole number but is not one",
                      "remove the !!int tag, or write digits only") from None

    def construct_yaml_float(self, node):
        value = self.construct_scalar(node)
        try:
            return super().construct_yaml_float(node)
        except ValueError:
            raise _at(node.start_mark, f"{value[:40]!r} is tagged as a number but is not one",
                      "remove the !!float tag, or write a number such as 0.85") from None

    def construct_yaml_bool(self, node):
        value = self.construct_scalar(node)
        if value.lower() not in ("true", "false"):
            raise _at(node.start_mark, f"{value[:40]!r} is tagged as a boolean but is not true or false",
                      "write true or false")
        return value.lower() == "true"

    def construct_yaml_null(self, node):
        value = self.construct_scalar(node)
        if value not in ("", "~", "null", "Null", "NULL"):
            raise _at(node.start_mark, f"{value[:40]!r} is tagged as null but is not", "write null or nothing")
        return None

    def construct_yaml_timestamp(self, node):
        value = self.construct_scalar(node)
        raise _at(node.start_mark, f"{value[:40]} reads as a date, and no key takes a date",
                  f"quote it if it is text: '{value[:40]}'")

    def construct_undefined(self, node):
        raise _at(node.start_mark, f"unsupported tag {node.tag!r}",
                  "remove the tag: the data file holds text, numbers, true/false, lists and mappings")

    def construct_object(self, node, deep=False):
        try:
            return super().construct_object(node, deep)
        except YamlProblem:
            raise
        except yaml.MarkedYAMLError as exc:
            raise _at(exc.problem_mark or node.start_mark, f"{exc.problem or exc.context}",
                      "check this value's tag and structure") from None
        except (ValueError, TypeError, OverflowError) as exc:
            raise _at(node.start_mark, f"cannot read this value: {exc}", "check this value's tag and quoting") from None


for _tag, _regexp, _first in [
    ("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), "tTfF"),
    ("tag:yaml.org,2002:int", _INT, "-+0123456789"),
    ("tag:yaml.org,2002:float", _FLOAT, "-+0123456789."),
    ("tag:yaml.org,2002:null", re.compile(r"^(?:~|null|Null|NULL|)$"), ["~", "n", "N", ""]),
    ("tag:yaml.org,2002:timestamp", _TIMESTAMP, "0123456789"),
    ("tag:yaml.org,2002:merge", re.compile(r"^(?:<<)$"), ["<"]),
]:
    Core12Loader.add_implicit_resolver(_tag, _regexp, list(_first))
for _tag, _constructor in [
    ("tag:yaml.org,2002:null", Core12Loader.construct_yaml_null),
    ("tag:yaml.org,2002:bool", Core12Loader.construct_yaml_bool),
    ("tag:yaml.org,2002:int", Core12Loader.construct_yaml_int),
    ("tag:yaml.org,2002:float", Core12Loader.construct_yaml_float),
    ("tag:yaml.org,2002:timestamp", Core12Loader.construct_yaml_timestamp),
    ("tag:yaml.org,2002:str", _BASE.construct_yaml_str),
    ("tag:yaml.org,2002:seq", _BASE.construct_yaml_seq),
    ("tag:yaml.org,2002:map", _BASE.construct_yaml_map),
    (None, Core12Loader.construct_undefined),
]:
    Core12Loader.add_constructor(_tag, _constructor)


def _check_characters(text: str) -> None:
    bad = _NOT_PRINTABLE.search(text)
    if bad:
        line = text.count("\n", 0, bad.start()) + 1
        column = bad.start() - (text.rfind("\n", 0, bad.start()) + 1) + 1
        raise YamlProblem(f"control character U+{ord(bad.group()):04X} is not allowed in YAML", line, column,
                          "delete it (it is invisible in most editors); write tabs and line breaks as they are")


def _check_bounds(text: str) -> None:
    """One pass over libyaml's events: depth, self-referencing aliases and the expanded size, so
    nothing below ever walks a cycle or an exponential tree."""
    loader = Core12Loader(text)
    sizes: dict[str, int] = {}        # anchor -> expanded node count of its (closed) node
    stack: list[list] = []            # open collections: [anchor, expanded size so far]
    expanded = 0
    try:
        while True:
            event = loader.get_event()
            if event is None or isinstance(event, yaml.StreamEndEvent):
                return
            if isinstance(event, yaml.AliasEvent):
                if event.anchor in (entry[0] for entry in stack):
                    raise _at(event.start_mark, f"alias *{event.anchor} refers to the node that contains it",
                              "a value cannot include itself; copy the values instead")
                if event.anchor not in sizes:
                    raise _at(event.start_mark, f"alias *{event.anchor} names no anchor defined before it",
                              f"define &{event.anchor} first, or remove the alias")
                count = sizes[event.anchor]
            elif isinstance(event, (yaml.ScalarEvent, yaml.CollectionStartEvent)):
                count = 1
            elif isinstance(event, yaml.CollectionEndEvent):
                anchor, size = stack.pop()
                if anchor is not None:
                    sizes[anchor] = size
                if stack:
                    stack[-1][1] += size
                continue
            else:
                continue
            expanded += count
            if expanded > NODE_BUDGET:
                raise _at(event.start_mark, f"the document holds more than {NODE_BUDGET:,} values "
                          "(aliases counted as often as they are used)",
                          "nested aliases multiply; write the values out, or split a lab this large")
            if isinstance(event, yaml.CollectionStartEvent):
                if len(stack) >= MAX_DEPTH:
                    raise _at(event.start_mark, f"nesting deeper than {MAX_DEPTH} levels",
                              "the data file nests a few levels deep; check the brackets and indentation")
                stack.append([event.anchor, 1])
            else:
                if event.anchor is not None:
                    sizes[event.anchor] = count
                if stack:
                    stack[-1][1] += count
    except yaml.MarkedYAMLError as exc:
        raise _syntax(exc) from None
    finally:
        loader.dispose()


def _syntax(exc: yaml.MarkedYAMLError) -> YamlProblem:
    problem = exc.problem or exc.context
    if exc.context and "duplicate anchor" in exc.context and exc.context_mark:
        problem = f"this anchor is already defined on line {exc.context_mark.line + 1}"
    return _at(exc.problem_mark or exc.context_mark, f"YAML syntax error: {problem}",
               "check indentation and quoting on this line or the one above")


def _duplicate(node):
    """The first key that appears twice in a mapping (PyYAML would keep the last one silently)."""
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, yaml.MappingNode):
            seen = set()
            for k, v in n.value:
                if isinstance(k, yaml.ScalarNode):
                    if k.value in seen and k.value != "<<":
                        return k
                    seen.add(k.value)
                stack.append(v)
        elif isinstance(n, yaml.SequenceNode):
            stack.extend(n.value)
    return None


def parse(text: str):
    """(node tree, plain data); raises YamlProblem for anything that is not a well-formed data file."""
    _check_characters(text)
    _check_bounds(text)
    loader = Core12Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, None
        dup = _duplicate(node)
        if dup is not None:
            raise _at(dup.start_mark, f"duplicate key {dup.value!r}",
                      "each key (and each system id) may appear once in a mapping")
        return node, loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        raise _syntax(exc) from None
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
