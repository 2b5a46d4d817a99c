"""Turn pydantic's validation errors into `path: reason` problems a person can act on.

`nudges[2].countries[0]: 'XX' is not an ISO 3166-1 alpha-2 code` rather than pydantic's
"Value error, ..." with a tuple location; unknown keys list the keys that are allowed there.
"""

from __future__ import annotations

import re
import types
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

from rules.errors import Problem
from rules.model import CROSS_FIELD_ERROR, Bundle

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_TYPE_WORDS = {
    "int_type": "expected a whole number",
    "int_parsing": "expected a whole number",
    "int_from_float": "expected a whole number",
    "float_type": "expected a number",
    "float_parsing": "expected a number",
    "bool_type": "expected true or false",
    "bool_parsing": "expected true or false",
    "string_type": "expected text",
    "dict_type": "expected a mapping (key: value pairs)",
    "model_type": "expected a mapping (key: value pairs)",
    "model_attributes_type": "expected a mapping (key: value pairs)",
    "tuple_type": "expected a list",
    "list_type": "expected a list",
    "datetime_type": "expected an RFC 3339 timestamp such as 2025-01-31T09:00:00Z",
    "datetime_parsing": "expected an RFC 3339 timestamp such as 2025-01-31T09:00:00Z",
    "datetime_from_date_parsing": "expected an RFC 3339 timestamp such as 2025-01-31T09:00:00Z",
}

Loc = tuple[str | int, ...]


def format_path(loc: Sequence[str | int]) -> str:
    """('nudges', 2, 'countries', 0) -> 'nudges[2].countries[0]'."""
    out = ""
    for part in loc:
        if part == "[key]":
            continue
        if isinstance(part, int):
            out += f"[{part}]"
        elif _IDENTIFIER.fullmatch(part):
            out += ("." if out else "") + part
        else:
            out += f"[{part!r}]"
    return out


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _reason(error: Mapping[str, Any]) -> str:
    kind, msg, value = error["type"], error["msg"], error.get("input")
    loc = tuple(error["loc"])
    if kind == "missing":
        return "required field is missing"
    if kind == "extra_forbidden":
        allowed = allowed_keys(loc[:-1])
        return "unknown key" + (f"; expected one of: {', '.join(allowed)}" if allowed else "")
    if kind == "literal_error" and loc == ("schema",):
        return f"unsupported schema {_short(value)}; this version reads schema 1"
    if kind == "value_error":
        return msg.removeprefix("Value error, ")
    if kind == "too_short":
        return f"needs at least {error.get('ctx', {}).get('min_length', 1)} entry"
    if kind in _TYPE_WORDS:
        return f"{_TYPE_WORDS[kind]}, got {_short(value)}"
    if msg.startswith("Input should be"):
        return "must be" + msg.removeprefix("Input should be") + f", got {_short(value)}"
    return msg


def problems_from(exc: ValidationError, lines: Mapping[Loc, int] | None = None) -> list[Problem]:
    """One Problem per pydantic error, with the source line when `lines` knows the path."""
    problems = []
    errors = exc.errors()
    failed_items = {tuple(e["loc"][:-1]) for e in errors
                    if e["loc"] and isinstance(e["loc"][-1], int)}
    for error in errors:
        loc = tuple(p for p in error["loc"] if p != "[key]")
        if error["type"] == "too_short" and loc in failed_items:
            continue  # pydantic drops invalid items, then also says the list is too short
        if error["type"] == CROSS_FIELD_ERROR:
            for rel, reason in error["ctx"]["problems"]:
                path = ".".join(p for p in (format_path(loc), rel) if p).replace(".[", "[")
                problems.append(Problem(path, reason, _line_of(_parse_path(path), lines)))
            continue
        problems.append(Problem(format_path(loc), _reason(error), _line_of(loc, lines)))
    return problems


def _parse_path(path: str) -> Loc:
    """'nudges[0].categories[1]' -> ('nudges', 0, 'categories', 1), for line look-ups."""
    parts: list[str | int] = []
    for name, index in re.findall(r"([^.\[\]]+)|\[(\d+)\]", path):
        parts.append(int(index) if index else name)
    return tuple(parts)


def _line_of(loc: Loc, lines: Mapping[Loc, int] | None) -> int | None:
    """Line of the deepest known prefix of `loc`."""
    if not lines:
        return None
    for end in range(len(loc), 0, -1):
        line = lines.get(loc[:end])
        if line is not None:
            return line
    return None


def _unwrap(tp: Any) -> Any:
    """Strip Annotated[...] and Optional[...] down to the interesting type."""
    while True:
        origin = get_origin(tp)
        if origin is Annotated:
            tp = get_args(tp)[0]
        elif origin in (Union, types.UnionType):
            tp = next(a for a in get_args(tp) if a is not type(None))
        else:
            return tp


def _field_type(model: type[BaseModel], key: str | int) -> Any:
    for name, field in model.model_fields.items():
        if key in (name, field.alias):
            return field.annotation
    return None


def allowed_keys(loc: Loc, root: type[BaseModel] = Bundle) -> list[str]:
    """Keys accepted by the model found at `loc` (empty if `loc` is not a model)."""
    tp: Any = root
    for part in loc:
        tp = _unwrap(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            tp = _field_type(tp, part)
        elif get_origin(tp) is dict:
            tp = get_args(tp)[1]
        elif get_origin(tp) in (tuple, list):
            tp = get_args(tp)[0]
        else:
            return []
    tp = _unwrap(tp)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return [f.alias or name for name, f in tp.model_fields.items()]
    return []
