"""Turn the rule bundle's protected-folder entries into real folders on this laptop.

Entries are parsed by `rules.folders.parse_folder` (known folders such as `Downloads`, paths
under `~`, absolute paths). Known folders are looked up in a mapping the platform layer gives
(`Platform.known_folders()`: XDG user dirs, Windows Known Folders, ~/Documents on macOS), so
this module stays OS-free and testable with any mapping.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePath

from rules.folders import parse_folder

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProtectedFolder:
    """One protected folder: the entry as the rules wrote it, and where it is here."""

    spec: str
    path: Path
    exclude: tuple[Path, ...] = ()  # never sealed: e.g. the agent's own state folder

    def contains(self, path: str | os.PathLike[str]) -> bool:
        """True if `path` is this folder or below it, and not in an excluded folder."""
        path = Path(os.path.abspath(path))
        return _is_within(path, self.path) and not any(_is_within(path, e) for e in self.exclude)

    def relative(self, path: str | os.PathLike[str]) -> str:
        """`path` relative to the folder, with forward slashes (what reports may carry)."""
        return PurePath(os.path.relpath(os.path.abspath(path), self.path)).as_posix()


def _is_within(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def resolve_folder(spec: str, known: Mapping[str, Path], home: Path) -> Path:
    """Where one entry lives on this laptop (ValueError for an entry the rules refuse)."""
    parsed = parse_folder(spec)
    if parsed.anchor == "home":
        base = home
    elif parsed.anchor == "absolute":
        return Path(os.path.abspath(parsed.path))
    else:
        base = Path(known.get(parsed.anchor) or home / parsed.anchor)
    return Path(os.path.abspath(base.joinpath(*parsed.parts)))


def resolve_protected_folders(specs: Iterable[str], known: Mapping[str, Path],
                              home: Path) -> list[ProtectedFolder]:
    """Resolve every entry; drop duplicates and folders inside another protected folder."""
    resolved: list[ProtectedFolder] = []
    for spec in specs:
        try:
            resolved.append(ProtectedFolder(spec, resolve_folder(spec, known, home)))
        except ValueError as exc:
            log.warning("ignoring protected folder %r: %s", spec, exc)
    kept: list[ProtectedFolder] = []
    for i, folder in enumerate(resolved):
        covered = any(_is_within(folder.path, outer.path) and
                      (outer.path != folder.path or j < i)
                      for j, outer in enumerate(resolved) if j != i)
        if not covered:
            kept.append(folder)
    return kept  # in the order the rules list them


def folder_of(path: str | os.PathLike[str],
              folders: Iterable[ProtectedFolder]) -> ProtectedFolder | None:
    """The protected folder containing `path`, if any."""
    return next((f for f in folders if f.contains(path)), None)


def excluding(folders: Iterable[ProtectedFolder], *paths: Path) -> list[ProtectedFolder]:
    """The same folders, never sealing anything under `paths` (the agent's state folder).

    Each excluded path is also written as seen through the folder's own path, so a protected
    folder reached through a symbolic link (`~/Downloads` -> `/data/dl`) still skips it.
    """
    keep = [Path(os.path.abspath(p)) for p in paths]
    out = []
    for folder in folders:
        real = Path(os.path.realpath(folder.path))
        aliases = [folder.path / Path(os.path.realpath(p)).relative_to(real) for p in keep
                   if _is_within(Path(os.path.realpath(p)), real)]
        extra = tuple(dict.fromkeys(p for p in (*keep, *aliases) if p not in folder.exclude))
        out.append(ProtectedFolder(folder.spec, folder.path, folder.exclude + extra))
    return out
