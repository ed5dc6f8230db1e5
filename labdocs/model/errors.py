"""Data errors that name the file, the line and the key path, and say how to fix the value."""

from __future__ import annotations

import difflib
import types
import typing
from dataclasses import dataclass

from pydantic import BaseModel


@dataclass(frozen=True)
class DataError:
    file: str
    line: int | None
    key: str
    message: str
    hint: str | None = None
    column: int | None = None      # for problems in the YAML itself (a character, a syntax error)

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        where += f":{self.column}" if self.line and self.column else ""
        text = f"{where}: {self.key}: {self.message}" if self.key else f"{where}: {self.message}"
        return f"{text}\n  hint: {self.hint}" if self.hint else text


class DataInvalid(Exception):
    """Raised with every error found, so one run shows them all."""

    def __init__(self, errors: list[DataError]):
        self.errors = sorted(errors, key=lambda e: (e.line or 0, e.key))
        super().__init__("\n".join(str(e) for e in self.errors))


def key_path(loc: tuple) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _unwrap(annotation):
    """Strip Annotated/Optional so we reach the model, dict or list type underneath."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(args) != 1:
                return annotation
            annotation = args[0]
        else:
            return annotation


def model_at(root: type[BaseModel], loc: tuple) -> type[BaseModel] | None:
    """The model class that owns the keys at `loc` (for listing allowed keys)."""
    current = root
    for part in loc:
        current = _unwrap(current)
        origin = typing.get_origin(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(str(part))
            if field is None:
                return None
            current = field.annotation
        elif origin is dict:
            current = typing.get_args(current)[1]
        elif origin is list:
            current = typing.get_args(current)[0]
        else:
            return None
    current = _unwrap(current)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _describe(root: type[BaseModel], loc: tuple) -> str | None:
    owner = model_at(root, loc[:-1]) if loc else None
    field = owner.model_fields.get(str(loc[-1])) if owner else None
    return field.description if field is not None else None


def _friendly(err: dict, root: type[BaseModel]) -> tuple[str, str | None]:
    message, hint = _message(err, root)
    if hint is None:
        desc = _describe(root, tuple(err["loc"]))
        hint = f"expected {desc}" if desc else "see labdocs/model/schema.py for what this key takes"
    return message, hint


def _message(err: dict, root: type[BaseModel]) -> tuple[str, str | None]:
    kind, loc, value = err["type"], err["loc"], err.get("input")
    ctx = err.get("ctx") or {}
    if kind == "extra_forbidden":
        owner = model_at(root, loc[:-1])
        derived = getattr(owner, "DERIVED", {}).get(str(loc[-1]))
        if derived:
            return f"'{loc[-1]}' is derived, not declared: {derived}", \
                "derived, remove it (the pages and generated files show the computed value)"
        allowed = sorted(owner.model_fields) if owner else []
        close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
        hint = f"did you mean '{close[0]}'? " if close else ""
        return f"unknown key '{loc[-1]}'", hint + f"allowed keys: {', '.join(allowed)}"
    if kind == "missing":
        owner = model_at(root, loc[:-1])
        field = owner.model_fields.get(str(loc[-1])) if owner else None
        desc = f" ({field.description})" if field is not None and field.description else ""
        return f"missing required key '{loc[-1]}'", f"add `{loc[-1]}:`{desc}"
    if kind == "literal_error":
        return f"{value!r} is not one of: {ctx.get('expected', '')}", "use one of the listed values"
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return f"expected a whole number, got {value!r}", None if _describe(root, loc) else "write digits only"
    if kind in ("float_parsing", "float_type"):
        return f"expected a number, got {value!r}", None
    if kind == "finite_number":
        return f"expected a finite number, got {value!r}", "infinity and NaN are not values a page or flag can use"
    if kind in ("bool_parsing", "bool_type"):
        return f"expected true or false, got {value!r}", None
    if kind in ("string_type",):
        return f"expected text, got {value!r}", "quote the value if YAML read it as a number or boolean"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return f"expected a mapping of keys, got {value!r}", None
    if kind == "list_type":
        return f"expected a list, got {value!r}", "write it as [a, b] or one '- item' per line"
    if kind == "too_short":
        return "must not be empty", "add at least one entry"
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        return f"{value!r}: {err['msg'].lower()}", None
    return err["msg"], ctx.get("hint")
