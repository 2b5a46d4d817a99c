"""Protected-folder specifications for sealing, portable across operating systems.

A bundle names folders the same way for Windows, macOS and Linux laptops:

* a known folder: `Documents`, `Downloads`, `Desktop`, `Pictures`, `Music`, `Videos`,
  optionally followed by a sub-path (`Documents/Contracts`). The agent maps each known folder to
  the real location on that OS (Windows Known Folders, XDG user dirs, ~/Documents on macOS);
* a path under the home folder: `~/Sensitive`, `~/work/clients`;
* an absolute path (`/srv/exports`, `C:\\Exports`) for special cases.

The bare home folder `~` is refused: sealing it would encrypt program settings and break the
very session that is idle. `..` is refused everywhere so a spec cannot escape its anchor.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

KNOWN_FOLDERS = ("Desktop", "Documents", "Downloads", "Music", "Pictures", "Videos")
_WINDOWS_ABSOLUTE = re.compile(r"^[A-Za-z]:[\\/]")


@dataclass(frozen=True)
class FolderSpec:
    """A parsed protected-folder entry.

    `anchor` is "home", "absolute" or one of KNOWN_FOLDERS; `parts` are the path components
    below the anchor (for "absolute", `path` is the whole path as written).
    """

    anchor: str
    parts: tuple[str, ...]
    path: str


def _split(rest: str) -> tuple[str, ...]:
    return tuple(p for p in re.split(r"[\\/]+", rest) if p and p != ".")


def parse_folder(text: str) -> FolderSpec:
    """Parse one protected-folder entry, or raise ValueError explaining what is accepted."""
    spec = text.strip()
    if not spec:
        raise ValueError("empty folder")
    if spec.startswith("~"):
        spec_parts = _split(spec[1:])
        if spec[1:2] not in ("/", "\\") or not spec_parts:
            raise ValueError(f"{text!r}: name a folder under the home folder, e.g. '~/Sensitive'"
                             " (sealing the whole home folder would break the running session)")
        return _checked(FolderSpec("home", spec_parts, spec), text)
    if spec.startswith("/") or _WINDOWS_ABSOLUTE.match(spec) or spec.startswith("\\\\"):
        return _checked(FolderSpec("absolute", _split(spec), spec), text)
    head, *rest = _split(spec) or ("",)
    known = {k.lower(): k for k in KNOWN_FOLDERS}
    if head.lower() in known:
        return _checked(FolderSpec(known[head.lower()], tuple(rest), spec), text)
    raise ValueError(f"{text!r} is not a known folder ({', '.join(KNOWN_FOLDERS)}), a path "
                     "under ~ or an absolute path")


def _checked(folder: FolderSpec, text: str) -> FolderSpec:
    if ".." in folder.parts:
        raise ValueError(f"{text!r}: '..' is not allowed in a protected folder")
    return folder
