"""Parse YAML or JSON text into plain data, with source lines and strict mapping keys.

Two YAML traps are closed here rather than left to surprise an operator:

* YAML 1.1 reads `NO`, `yes`, `on`, `off` as booleans, so `countries: [SE, NO]` would silently
  become `['SE', False]` (the "Norway problem"). Only `true`/`false` are booleans here.
* PyYAML and `json` keep the *last* of two equal keys. A duplicated key is an error here.

Syntax errors report line and column.
"""

from __future__ import annotations

import json
import re
from typing import Any

import yaml

from rules.errors import BundleError, Problem
from rules.validation import Loc, format_path

_BaseLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_BOOL_TAG = "tag:yaml.org,2002:bool"


class _StrictLoader(_BaseLoader):  # type: ignore[misc, valid-type]
    """SafeLoader whose only booleans are true/false."""


_StrictLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != _BOOL_TAG]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_StrictLoader.add_implicit_resolver(
    _BOOL_TAG, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))


def parse_yaml(text: str, source: str) -> tuple[Any, dict[Loc, int]]:
    """YAML text -> (data, {path: line}); BundleError on syntax errors or duplicate keys."""
    loader = _StrictLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        reason = f"{where}YAML syntax error: {exc.problem or exc.context}"
        raise BundleError([Problem("", reason, mark.line + 1 if mark else None)], source) from None
    except yaml.YAMLError as exc:
        raise BundleError([Problem("", f"YAML error: {exc}")], source) from None
    finally:
        loader.dispose()
    lines: dict[Loc, int] = {}
    problems: list[Problem] = []
    if node is not None:
        _walk(node, (), lines, problems)
    if problems:
        raise BundleError(problems, source)
    return data, lines


def _walk(node: yaml.Node, path: Loc, lines: dict[Loc, int], problems: list[Problem]) -> None:
    """Record the line of every key and item, and report duplicate keys."""
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            key, line = key_node.value, key_node.start_mark.line + 1
            if key in seen:
                problems.append(Problem(_join(path, key), f"duplicate key (first at line "
                                        f"{seen[key]})", line))
            seen.setdefault(key, line)
            lines[path + (key,)] = line
            _walk(value_node, path + (key,), lines, problems)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            lines[path + (index,)] = item.start_mark.line + 1
            _walk(item, path + (index,), lines, problems)


def _join(path: Loc, key: str) -> str:
    return format_path(path + (key,))


def parse_json(text: str, source: str) -> Any:
    """JSON text -> data; BundleError on syntax errors (with line/column) or duplicate keys."""
    duplicates: list[str] = []

    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in pairs:
            if key in out:
                duplicates.append(key)
            out[key] = value
        return out

    try:
        data = json.loads(text, object_pairs_hook=no_duplicates)
    except json.JSONDecodeError as exc:
        reason = f"line {exc.lineno}, column {exc.colno}: JSON syntax error: {exc.msg}"
        raise BundleError([Problem("", reason, exc.lineno)], source) from None
    if duplicates:
        raise BundleError([Problem("", f"duplicate key {k!r}") for k in duplicates], source)
    return data


def decode(data: bytes | str, source: str) -> str:
    """Bytes as UTF-8 (a BOM is tolerated) -> str; BundleError naming the bad byte offset."""
    if isinstance(data, str):
        return data
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BundleError([Problem("", f"not UTF-8 text (byte {exc.start})")], source) from None


def parse_document(data: bytes | str, source: str = "<bundle>",
                   fmt: str | None = None) -> tuple[Any, dict[Loc, int]]:
    """Parse YAML or JSON. `fmt` is "yaml", "json" or None to guess (JSON starts with '{')."""
    text = decode(data, source)
    if fmt is None:
        fmt = "json" if text.lstrip().startswith("{") else "yaml"
    if fmt == "json":
        return parse_json(text, source), {}
    if fmt == "yaml":
        return parse_yaml(text, source)
    raise ValueError(f"unknown format {fmt!r}; expected 'yaml' or 'json'")
