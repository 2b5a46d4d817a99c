"""How sealed and temporary files are named, and which names are temporary/partial downloads.

`report.pdf` is sealed as `report.pdf.heedful` in the same folder; if that name is taken, as
`report (2).pdf.heedful`, `report (3).pdf.heedful`, ... Unsealing restores the original name
(from the journal, else the name without `.heedful`), or `report (2).pdf` if it is taken.
Work in progress uses hidden temporary names derived from the file's own name:
`.report.pdf.heedful-seal.tmp` (from `report.pdf`) and `.report.pdf.heedful-unseal.tmp` (from
`report.pdf.heedful`); the watcher ignores them.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from pathlib import Path

from agent.seal.errors import SealError

SEALED_SUFFIX = ".heedful"
SEAL_TEMP_SUFFIX = ".heedful-seal.tmp"
UNSEAL_TEMP_SUFFIX = ".heedful-unseal.tmp"
MAX_VARIANTS = 10_000

# Names that mean "still being written": wait for them to settle much longer.
PARTIAL_SUFFIXES = (".crdownload", ".part", ".partial", ".download", ".opdownload", ".tmp",
                    ".temp", ".swp", ".swo", ".swx", ".aria2", ".!ut", ".!qb", "~")
PARTIAL_PREFIXES = ("~$", ".#", ".~lock.", ".goutputstream-")
# A finished name whose partial sibling exists is a browser placeholder (Firefox makes both).
PLACEHOLDER_SIBLINGS = (".part", ".crdownload", ".download", ".opdownload")

Exists = Callable[[Path], bool]


def is_sealed_name(name: str) -> bool:
    """True for `something.heedful` (a sealed file)."""
    return name.endswith(SEALED_SUFFIX) and len(name) > len(SEALED_SUFFIX)


def is_work_name(name: str) -> bool:
    """True for the engine's own temporary files."""
    return name.startswith(".") and name.endswith((SEAL_TEMP_SUFFIX, UNSEAL_TEMP_SUFFIX))


def is_partial_name(name: str) -> bool:
    """True for temporary and partial files (downloads, editor swap and lock files)."""
    lower = name.lower()
    return lower.endswith(PARTIAL_SUFFIXES) or lower.startswith(PARTIAL_PREFIXES)


def has_partial_sibling(path: Path, exists: Exists = os.path.lexists) -> bool:
    """True when `path` is a download placeholder: `path.part` (or similar) exists next to it."""
    return any(exists(path.with_name(path.name + s)) for s in PLACEHOLDER_SIBLINGS)


def seal_temp_for(path: Path) -> Path:
    """The hidden temporary file that receives the sealed form of `path`."""
    return path.with_name(f".{path.name}{SEAL_TEMP_SUFFIX}")


def unseal_temp_for(sealed: Path, folder: Path) -> Path:
    """The hidden temporary file in `folder` that receives the plaintext of `sealed`.

    Named after the sealed file (unique), not after the target name two sealed versions of
    one original could both want.
    """
    return folder / f".{sealed.name.removesuffix(SEALED_SUFFIX)}{UNSEAL_TEMP_SUFFIX}"


def original_name(sealed: Path) -> Path:
    """`x.pdf.heedful` -> `x.pdf` (used when the journal does not know the original)."""
    if not is_sealed_name(sealed.name):
        raise SealError(f"the name does not end in {SEALED_SUFFIX}")
    return sealed.with_name(sealed.name[: -len(SEALED_SUFFIX)])


def variant(path: Path, k: int) -> Path:
    """`report.pdf` -> `report (k).pdf`; names starting with a dot keep it in the stem."""
    name = path.name
    dot = name.rfind(".")
    stem, ext = (name[:dot], name[dot:]) if dot > 0 else (name, "")
    return path.with_name(f"{stem} ({k}){ext}")


def _first_free(candidates: Callable[[int], Path], exists: Exists) -> Path:
    for k in range(1, MAX_VARIANTS):
        candidate = candidates(k)
        if not exists(candidate):
            return candidate
    raise OSError(errno.EEXIST, f"no free name after {MAX_VARIANTS} tries", str(candidates(1)))


def sealed_target(path: Path, exists: Exists = os.path.lexists) -> Path:
    """The first free sealed name for plaintext `path`."""
    def candidate(k: int) -> Path:
        base = path if k == 1 else variant(path, k)
        return base.with_name(base.name + SEALED_SUFFIX)

    return _first_free(candidate, exists)


def plain_target(original: Path, exists: Exists = os.path.lexists) -> Path:
    """The first free name to restore `original` to."""
    return _first_free(lambda k: original if k == 1 else variant(original, k), exists)
