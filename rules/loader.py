"""Load bundles from YAML/JSON and resolve their list files into one self-contained bundle.

Source bundles (what the security team edits) may refer to list files; the *resolved* bundle
has every domain inline and no list references. The resolved bundle is what gets signed and
shipped to agents, so an agent never needs anything but the envelope.

    bundle = load_bundle_file("policy/bundle.yaml")          # parsed, validated, resolved
    bundle = parse_bundle(text, source="console edit")        # parsed and validated only
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

import yaml
from pydantic import ValidationError

from rules.documents import decode, parse_document
from rules.errors import BundleError, Problem
from rules.listfile import parse_list
from rules.model import Bundle, Category
from rules.validation import Loc, problems_from


def validate_bundle(data: Any, *, source: str = "<bundle>",
                    lines: Mapping[Loc, int] | None = None) -> Bundle:
    """Validate already-parsed data (a mapping) into a Bundle, or raise BundleError."""
    if not isinstance(data, Mapping):
        kind = "nothing" if data is None else type(data).__name__
        raise BundleError([Problem("", f"expected a mapping at the top level, got {kind}")],
                          source)
    try:
        return Bundle.model_validate(data)
    except ValidationError as exc:
        problems = problems_from(exc, lines)
        reported = {p.path for p in problems}
        problems += [p for p in _unknown_categories(data, lines) if p.path not in reported]
        problems.sort(key=lambda p: p.line or 0)
        raise BundleError(problems, source) from None


def _unknown_categories(data: Mapping[str, Any],
                        lines: Mapping[Loc, int] | None) -> list[Problem]:
    """Nudge rules naming undefined categories, found on the raw data.

    The model checks this too, but pydantic skips whole-model checks once any field fails;
    checking here as well lets an operator see every problem in one run.
    """
    categories, rules = data.get("categories"), data.get("nudges")
    if not isinstance(categories, Mapping) or not isinstance(rules, list | tuple):
        return []
    problems = []
    for i, rule in enumerate(rules):
        names = rule.get("categories") if isinstance(rule, Mapping) else None
        for j, name in enumerate(names if isinstance(names, list | tuple) else ()):
            if isinstance(name, str) and name not in categories:
                line = (lines or {}).get(("nudges", i, "categories", j))
                problems.append(Problem(f"nudges[{i}].categories[{j}]",
                                        f"unknown category {name!r}", line))
    return problems


def parse_bundle(data: bytes | str, *, source: str = "<bundle>",
                 fmt: str | None = None) -> Bundle:
    """Parse and validate YAML or JSON text (list files are *not* read; see resolve_bundle)."""
    parsed, lines = parse_document(data, source, fmt)
    return validate_bundle(parsed, source=source, lines=lines)


def _list_path(base_dir: Path, ref: str) -> Path:
    """The file a list reference names; it must stay inside the bundle's folder."""
    rel = PurePosixPath(ref.replace("\\", "/"))
    if rel.is_absolute() or PureWindowsPath(ref).drive or ".." in rel.parts:
        raise ValueError(f"{ref!r} must be a path relative to the bundle's folder, without '..'")
    path = base_dir / rel
    if not path.resolve().is_relative_to(base_dir.resolve()):
        raise ValueError(f"{ref!r} leads outside the bundle's folder")
    return path


def _read_list(base_dir: Path | None, ref: str) -> tuple[list[str], list[str]]:
    """(domains, errors) of one list reference; an unreadable file is one error."""
    if base_dir is None:
        return [], [f"cannot read {ref!r}: the bundle was not loaded from a file"]
    try:
        path = _list_path(base_dir, ref)
        text = decode(path.read_bytes(), ref)
    except ValueError as exc:
        return [], [str(exc)]
    except BundleError as exc:
        return [], [f"{ref}: {exc.errors[0]}"]
    except OSError as exc:
        return [], [f"cannot read {ref!r}: {exc.strerror or exc}"]
    return parse_list(text, ref)


def resolve_bundle(bundle: Bundle, base_dir: Path | str | None, *,
                   source: str = "<bundle>") -> Bundle:
    """Inline every list file (relative to `base_dir`) into its category's domains.

    The result has sorted, unique domains and no `lists`; all list problems are collected
    and raised together as one BundleError (`categories.X.lists[i]: file:line: reason`).
    """
    base = Path(base_dir) if base_dir is not None else None
    problems: list[Problem] = []
    categories: dict[str, Category] = {}
    for name, category in bundle.categories.items():
        domains = set(category.domains)
        for index, ref in enumerate(category.lists):
            found, errors = _read_list(base, ref)
            domains.update(found)
            path = f"categories.{name}.lists[{index}]"
            problems.extend(Problem(path, error) for error in errors)
        categories[name] = category.model_copy(update={"domains": tuple(sorted(domains)),
                                                       "lists": ()})
    if problems:
        raise BundleError(problems, source)
    return bundle.model_copy(update={"categories": categories})


def _format_for(path: Path) -> str | None:
    return {".json": "json", ".yaml": "yaml", ".yml": "yaml"}.get(path.suffix.lower())


def load_bundle_file(path: Path | str, *, resolve: bool = True) -> Bundle:
    """Read, validate and (by default) resolve a bundle file; BundleError names the file."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise BundleError([Problem("", f"cannot read: {exc.strerror or exc}")], str(path)) from None
    bundle = parse_bundle(data, source=str(path), fmt=_format_for(path))
    return resolve_bundle(bundle, path.parent, source=str(path)) if resolve else bundle


def bundle_to_yaml(bundle: Bundle) -> str:
    """The bundle as YAML in field order (for editing, diffs and display)."""
    return yaml.safe_dump(bundle.to_dict(), sort_keys=False, allow_unicode=True, width=100)
