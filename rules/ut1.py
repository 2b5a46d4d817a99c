"""Import the UT1 web blacklists (Université Toulouse Capitole) into our list format.

UT1 layout: one folder per category holding `domains` (one host per line), `urls` (host/path
prefixes), `usage` (words such as `black`, `white` and aliases); a top-level `global_usage`
describes every category in blocks like::

    NAME:   gambling
    DEFAULT_TYPE: black
    SOURCE: https://squidguard.ut-capitole.fr
    DESC EN: Gambling and games sites, casino, etc.
    NAME EN: Gambling/Casino games

A block starts at a `NAME:` line (no language); `NAME xx:` and `DESC xx:` lines carry names and
descriptions per language, in any order; `#` lines are comments.

The import writes `OUT/lists/<category>.txt` in our list format and `OUT/bundle.yaml`, a valid
bundle whose `categories` section refers to those lists (copy it into a real bundle, or use it
as is with `rules lookup`). `urls` entries are path-level and are counted, not imported: the
agent matches host names only. Invalid `domains` lines are skipped and reported as
`category/domains:line: reason`. UT1 is CC BY-SA 4.0: the written files carry the attribution.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from rules.listfile import format_list, parse_list

ATTRIBUTION = ("UT1 blacklists, Universite Toulouse Capitole, licensed CC BY-SA 4.0 "
               "(https://creativecommons.org/licenses/by-sa/4.0/)")


@dataclass
class Ut1Description:
    """One `global_usage` block: names and descriptions keyed by language code (EN, FR...)."""

    name: str
    default_type: str = ""
    source: str = ""
    names: dict[str, str] = field(default_factory=dict)
    descriptions: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Ut1CategoryImport:
    """What the import did for one category."""

    name: str
    list_path: Path
    domains: int
    skipped: tuple[str, ...]
    urls_not_imported: int
    usage: tuple[str, ...]
    description: str


def parse_global_usage(text: str) -> dict[str, Ut1Description]:
    """Parse `global_usage` text into {category name: description block}."""
    blocks: dict[str, Ut1Description] = {}
    current: Ut1Description | None = None
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        key, value = " ".join(key.split()), value.strip()
        if not sep or key.startswith("#"):
            continue
        if key == "NAME":
            current = blocks.setdefault(value, Ut1Description(value))
        elif current is None:
            continue
        elif key == "DEFAULT_TYPE":
            current.default_type = value
        elif key == "SOURCE":
            current.source = value
        elif key.startswith(("NAME ", "DESC ")) and value:
            target = current.names if key.startswith("NAME") else current.descriptions
            target[key[5:].upper()] = value
    return blocks


def list_ut1_categories(src: Path) -> list[str]:
    """Names of the category folders (those holding a `domains` file), sorted."""
    return sorted(p.parent.name for p in Path(src).glob("*/domains"))


def _read_text(path: Path) -> str:
    return path.read_bytes().decode("utf-8", errors="replace") if path.is_file() else ""


def _count_lines(text: str) -> int:
    return sum(1 for line in text.splitlines() if line.strip() and not line.startswith("#"))


def import_category(src: Path, name: str, out: Path,
                    info: Ut1Description | None) -> Ut1CategoryImport:
    """Convert one UT1 category folder into `out/lists/<name>.txt`."""
    folder = Path(src) / name
    domains, errors = parse_list(_read_text(folder / "domains"), f"{name}/domains")
    usage = tuple(_read_text(folder / "usage").split())
    description = (info.descriptions.get("EN") or info.names.get("EN", "")) if info else ""
    list_path = Path(out) / "lists" / f"{name}.txt"
    list_path.parent.mkdir(parents=True, exist_ok=True)
    header = [f"UT1 category '{name}'" + (f": {description}" if description else ""),
              f"Source: {ATTRIBUTION}",
              f"{len(domains)} domains; usage: {' '.join(usage) or 'unknown'}"]
    list_path.write_text(format_list(domains, header), encoding="utf-8")
    return Ut1CategoryImport(name, list_path, len(domains), tuple(errors),
                             _count_lines(_read_text(folder / "urls")), usage, description)


def categories_section(results: Iterable[Ut1CategoryImport],
                       descriptions: dict[str, Ut1Description]) -> dict[str, dict]:
    """The bundle `categories` mapping for imported lists (paths relative to OUT)."""
    section = {}
    for result in results:
        info = descriptions.get(result.name)
        entry = {"title": info.names.get("EN", "") if info else "",
                 "description": result.description,
                 "lists": [f"lists/{result.name}.txt"]}
        section[result.name] = {k: v for k, v in entry.items() if v}
    return section


def import_ut1(src: Path | str, out: Path | str,
               categories: Iterable[str] | None = None) -> list[Ut1CategoryImport]:
    """Import `categories` (default: all) from the UT1 folder `src` into `out`.

    Writes the list files and `out/bundle.yaml`; raises ValueError for an unknown category.
    """
    src, out = Path(src), Path(out)
    available = list_ut1_categories(src)
    if not available:
        raise ValueError(f"{src} has no UT1 category folders (sub-folders with a 'domains' file)")
    wanted = list(dict.fromkeys(categories)) if categories else available
    unknown = [c for c in wanted if c not in available]
    if unknown:
        raise ValueError(f"unknown UT1 categor{'y' if len(unknown) == 1 else 'ies'} "
                         f"{', '.join(map(repr, unknown))}; available: {', '.join(available)}")
    descriptions = parse_global_usage(_read_text(src / "global_usage"))
    results = [import_category(src, name, out, descriptions.get(name)) for name in wanted]
    bundle = {"schema": 1, "version": 1,
              "categories": categories_section(results, descriptions)}
    text = yaml.safe_dump(bundle, sort_keys=False, allow_unicode=True, width=100)
    (out / "bundle.yaml").write_text(f"# Categories imported from {ATTRIBUTION}.\n" + text,
                                     encoding="utf-8")
    return results
