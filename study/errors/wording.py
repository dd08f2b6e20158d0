"""Validation errors in plain words: the field, the value given, what is wrong, and the fix.

pydantic speaks its own language ("Extra inputs are not permitted", "Value error, …"). Here each
pydantic error type has a phrasing (a registry keyed by the error type, not an if/elif chain), the
model is walked along the error's location to find what is allowed there, and an unknown key or
value gets a "did you mean …?" from the keys or values allowed at that place.
"""
from __future__ import annotations

import math
import types
import typing
from typing import Any, Callable, Optional

from pydantic import BaseModel, ValidationError
from pydantic_core import PydanticUndefined

from trainables.schema.suggest import did_you_mean

Phrase = Callable[[dict, "Place"], tuple[str, str]]  # (what is wrong, the fix)
_UNIONS = (typing.Union, types.UnionType)


class Place:
    """Where an error sits in a model: the shown path, the model holding the last key, its field."""

    def __init__(self, model: Optional[type], loc: tuple) -> None:
        parts: list[str] = []
        tp: Any = model
        self.parent: Any = None
        for part in loc:
            self.parent = tp
            tp, shown = _step(tp, part)
            if shown is not None:
                parts.append(shown)
        self.path = "".join(p if p.startswith("[") else f".{p}" for p in parts).lstrip(".")
        self.key = loc[-1] if loc else None
        self.annotation = tp

    def field(self):
        if isinstance(self.parent, type) and issubclass(self.parent, BaseModel):
            return self.parent.model_fields.get(self.key)
        return None

    def allowed_keys(self) -> list[str]:
        """The keys allowed in the mapping that holds the error (for unknown keys)."""
        return list(self.parent.model_fields) if _is_model(self.parent) else []

    def default_hint(self) -> str:
        f = self.field()
        if f is None or f.default in (None, PydanticUndefined) or isinstance(f.default, BaseModel):
            return ""
        return f" (the default is {show(f.default)})"


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def _unwrap(tp: Any) -> Any:
    """Strip Annotated[...] and Optional[...] (a nullable field reports no union member in its location)."""
    while True:
        origin = typing.get_origin(tp)
        if origin is typing.Annotated:
            tp = typing.get_args(tp)[0]
        elif origin in _UNIONS and len([a for a in typing.get_args(tp) if a is not type(None)]) == 1:
            tp = next(a for a in typing.get_args(tp) if a is not type(None))
        else:
            return tp


def _step(tp: Any, part: Any) -> tuple[Any, Optional[str]]:
    """The type one location element further, and how that element is shown (None: hidden)."""
    tp = _unwrap(tp)
    origin = typing.get_origin(tp)
    if isinstance(part, int) and origin in (list, tuple, set, frozenset):
        args = typing.get_args(tp)
        return (args[0] if args else None), f"[{part}]"
    if _is_model(tp):
        f = tp.model_fields.get(part)
        return (f.annotation if f else None), str(part)
    if origin is dict:
        return typing.get_args(tp)[1], str(part)
    if origin in _UNIONS:  # pydantic names the union member (a tag value or a type name): hide it
        for member in map(_unwrap, typing.get_args(tp)):
            if _is_model(member) and (part == member.__name__ or part in _tags(member)):
                return member, None
        return None, None
    return None, (f"[{part}]" if isinstance(part, int) else str(part))


def _tags(model: type) -> set:
    """The Literal values of a model's fields (a discriminated union's tags live there)."""
    out: set = set()
    for f in model.model_fields.values():
        if typing.get_origin(f.annotation) is typing.Literal:
            out.update(typing.get_args(f.annotation))
    return out


def show(v: Any) -> str:
    """A value as the user wrote it in YAML (``.inf``, ``.nan``, quoted text, short mappings)."""
    if isinstance(v, float) and not math.isfinite(v):
        return ".nan" if math.isnan(v) else (".inf" if v > 0 else "-.inf")
    if isinstance(v, float) and v.is_integer() and abs(v) < 1e15:
        return str(int(v))
    text = repr(v)
    return text if len(text) <= 80 else text[:77] + "..."


def _literal_values(expected: str) -> list[str]:
    return [x.strip().strip("'") for x in expected.replace(" or ", ",").split(",") if x.strip()]


def _bound(word: str, key: str) -> Phrase:
    of = "of " if word.startswith("at ") else ""
    return lambda e, p: (f"must be {word} {show(e['ctx'][key])} (got {show(e['input'])})",
                         f"give a number {of}{word} {show(e['ctx'][key])}{p.default_hint()}")


def _kind_of(what: str) -> Phrase:
    return lambda e, p: (f"must be {what} (got {show(e['input'])})", f"give {what}{p.default_hint()}")


def _extra(e: dict, p: Place) -> tuple[str, str]:
    keys = p.allowed_keys()
    where = p.path.rsplit(".", 1)[0] if "." in p.path else "the top level"
    fix = f"correct or remove it; the keys of {where} are: {', '.join(keys)}" if keys else "correct or remove it"
    return f"unknown key{did_you_mean(p.key, keys)}", fix


def _literal(e: dict, p: Place) -> tuple[str, str]:
    expected = e["ctx"]["expected"]
    return (f"{show(e['input'])} is not allowed{did_you_mean(e['input'], _literal_values(expected))}",
            f"use {expected}")


def _missing(e: dict, p: Place) -> tuple[str, str]:
    f = p.field()
    about = f" ({f.description})" if f is not None and f.description else ""
    return "required but missing", f"add {p.key}: ...{about}"


def _mapping(e: dict, p: Place) -> tuple[str, str]:
    keys = list(_unwrap(p.annotation).model_fields) if _is_model(_unwrap(p.annotation)) else []
    example = f", e.g. {p.key}: {{{keys[0]}: ...}}" if keys else ""
    return f"must be a mapping of keys (got {show(e['input'])})", f"write its keys under {p.key}{example}"


def _tag_invalid(e: dict, p: Place) -> tuple[str, str]:
    c = e["ctx"]
    return (f"{c['discriminator'].strip(chr(39))} {c['tag']!r} is unknown{did_you_mean(c['tag'], _literal_values(c['expected_tags']))}",
            f"use one of {c['expected_tags']}")


def _tag_missing(e: dict, p: Place) -> tuple[str, str]:
    tags = sorted({str(t) for m in typing.get_args(_unwrap(p.annotation)) if _is_model(_unwrap(m))
                   for t in _tags(_unwrap(m))})
    key = e["ctx"]["discriminator"].strip("'")
    return f"has no {key} key", f"add {key}: {' | '.join(tags) or '...'}"


class FixableError(ValueError):
    """A validator's error that knows its fix: ``describe`` prints it after "Fix:" like every phrased error."""

    def __init__(self, problem: str, fix: str) -> None:
        super().__init__(problem)
        self.fix = fix


def _value_error(e: dict, p: Place) -> tuple[str, str]:
    err = (e.get("ctx") or {}).get("error")
    return (str(err) if err is not None else e["msg"].removeprefix("Value error, ")), getattr(err, "fix", "")


PHRASES: dict[str, Phrase] = {
    "extra_forbidden": _extra,
    "missing": _missing,
    "greater_than": _bound("greater than", "gt"),
    "greater_than_equal": _bound("at least", "ge"),
    "less_than": _bound("less than", "lt"),
    "less_than_equal": _bound("at most", "le"),
    "finite_number": _kind_of("a finite number"),
    "int_parsing": _kind_of("a whole number"), "int_type": _kind_of("a whole number"),
    "int_from_float": _kind_of("a whole number"),
    "float_parsing": _kind_of("a number"), "float_type": _kind_of("a number"),
    "bool_parsing": _kind_of("true or false"), "bool_type": _kind_of("true or false"),
    "string_type": _kind_of("text"),
    "list_type": _kind_of("a list such as [a, b]"), "tuple_type": _kind_of("a list such as [a, b]"),
    "literal_error": _literal, "enum": _literal,
    "model_type": _mapping, "dict_type": _mapping, "model_attributes_type": _mapping,
    "union_tag_invalid": _tag_invalid, "union_tag_not_found": _tag_missing,
    "value_error": _value_error, "assertion_error": _value_error,
}


def describe(err: dict, model: Optional[type] = None) -> str:
    """One pydantic error as ``path: what is wrong. Fix: how``."""
    place = Place(model, tuple(err["loc"]))
    phrase = PHRASES.get(err["type"])
    problem, fix = phrase(err, place) if phrase else (f"{err['msg']} (got {show(err.get('input'))})", "")
    text = f"{place.path}: {problem}" if place.path else problem
    return f"{text}. Fix: {fix}" if fix else text


def format_validation(e: ValidationError, model: Optional[type] = None, indent: str = "  ") -> str:
    """Every error of ``e`` on its own line; a union's alternatives for one value are said once."""
    seen: set[str] = set()
    lines = []
    for err in e.errors():
        path = Place(model, tuple(err["loc"])).path
        if path in seen and err["type"] in ("list_type", "tuple_type", "string_type", "dict_type", "model_type"):
            continue  # e.g. mode: 'maxx' fails as a literal and as a list; the first says it
        seen.add(path)
        lines.append(indent + describe(err, model))
    return "\n".join(lines)


def one_line(e: Exception, model: Optional[type] = None) -> str:
    """A nested error (a search value that does not fit the config) in one line."""
    if isinstance(e, ValidationError):
        return "; ".join(describe(err, model) for err in e.errors())
    if isinstance(e, KeyError) and e.args:
        return str(e.args[0])
    return str(e)
