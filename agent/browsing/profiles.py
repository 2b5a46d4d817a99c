"""Finds every browser profile on this laptop, from the platform facade's profile roots.

The roots (one folder per browser and packaging: native, snap, flatpak) come from
`agent.platform.browser_profile_roots()`; this module knows what is inside them, which is the
same on every OS:

* Chromium family: `<root>/Local State` (JSON) lists profiles under `profile.info_cache`
  (folder name -> display name); folders are `Default`, `Profile 1`, `Profile 2`, ... Folders
  named like that are also picked up when `Local State` is missing or unreadable. Guest and
  System profiles are not people's browsing and are left out.
* Firefox: `<root>/profiles.ini` has `[ProfileN]` sections with `Path` (relative to the root when
  `IsRelative=1`, the default) and `Name`. Folders holding a `places.sqlite` under `<root>` or
  `<root>/Profiles` are picked up too, for hand-made or half-registered profiles.

Only profiles whose history database exists are returned; a rescan finds new ones.
"""

from __future__ import annotations

import configparser
import json
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from agent.browsing import chromium, firefox
from agent.platform.base import BrowserRoot

log = logging.getLogger(__name__)
CHROMIUM_FOLDER = re.compile(r"^(Default|Profile \d+)$")
NOT_A_PERSON = frozenset({"System Profile", "Guest Profile"})


@dataclass(frozen=True)
class Profile:
    """One browser profile whose history the agent reads."""

    browser: str  # chrome, chromium, edge, brave, vivaldi, firefox
    family: str  # "chromium" or "firefox": which reader
    path: Path  # the profile folder
    name: str = ""  # what the browser calls it ("Person 1", "default-release")
    packaging: str = "native"

    @property
    def database(self) -> Path:
        """The history database inside the profile."""
        name = chromium.DATABASE_NAME if self.family == "chromium" else firefox.DATABASE_NAME
        return self.path / name

    @property
    def key(self) -> str:
        """Stable identifier for checkpoints: family and absolute folder."""
        return f"{self.family}:{self.path}"


def chromium_profiles(root: BrowserRoot) -> list[Profile]:
    """Profiles of one Chromium-family root, from `Local State` plus folder names."""
    names: dict[str, str] = {}
    try:
        state = json.loads((root.path / "Local State").read_text(encoding="utf-8"))
        cache = state.get("profile", {}).get("info_cache", {})
        names = {folder: str(info.get("name", "")) for folder, info in cache.items()
                 if isinstance(info, dict)}
    except FileNotFoundError:
        pass
    except (OSError, ValueError, AttributeError) as exc:
        log.info("%s: Local State unreadable (%s); using folder names", root.path, exc)
    try:
        folders = {p.name for p in root.path.iterdir() if CHROMIUM_FOLDER.match(p.name)}
    except OSError:
        folders = set()
    found = []
    for folder in sorted(set(names) | folders):
        if folder in NOT_A_PERSON:
            continue
        found.append(Profile(root.browser, "chromium", root.path / folder,
                             names.get(folder, folder), root.packaging))
    return found


def _ini_profiles(root: BrowserRoot) -> list[tuple[Path, str]]:
    parser = configparser.RawConfigParser(strict=False)
    try:
        parser.read(root.path / "profiles.ini", encoding="utf-8")
    except (configparser.Error, UnicodeDecodeError) as exc:
        log.info("%s: profiles.ini unreadable (%s); scanning folders", root.path, exc)
        return []
    out = []
    for section in parser.sections():
        if not section.startswith("Profile") or not parser.has_option(section, "Path"):
            continue
        raw = parser.get(section, "Path")
        relative = parser.get(section, "IsRelative", fallback="1").strip() != "0"
        path = root.path / raw if relative else Path(raw)
        out.append((path, parser.get(section, "Name", fallback=path.name)))
    return out


def firefox_profiles(root: BrowserRoot) -> list[Profile]:
    """Profiles of one Firefox root, from `profiles.ini` plus folders holding places.sqlite."""
    listed = _ini_profiles(root)
    for parent in (root.path, root.path / "Profiles"):
        try:
            listed += [(p, p.name) for p in parent.iterdir() if (p / "places.sqlite").exists()]
        except OSError:
            continue
    return [Profile(root.browser, "firefox", path, name, root.packaging)
            for path, name in listed]


def discover(roots: Iterable[BrowserRoot]) -> list[Profile]:
    """Every profile with a history database under the given roots, each folder once."""
    seen: set[Path] = set()
    found = []
    for root in roots:
        if not root.path.is_dir():
            continue
        candidates = chromium_profiles(root) if root.family == "chromium" else \
            firefox_profiles(root)
        for profile in candidates:
            real = profile.path.resolve()
            if real in seen or not profile.database.is_file():
                continue
            seen.add(real)
            found.append(profile)
    return found


def discover_on_this_laptop() -> list[Profile]:
    """Profiles under the roots the platform facade reports for this OS and user."""
    from agent.platform import browser_profile_roots

    return discover(browser_profile_roots())
