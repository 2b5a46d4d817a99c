"""Which country the laptop's time zone says it is in (the fallback when the server cannot tell).

The IANA tz database maps zones to countries in `zone.tab` (one country per zone: the zone's
own) and `zone1970.tab` (zones shared since 1970 list several countries; the first is taken).
Both are read from the system's zoneinfo folders (Python's `zoneinfo.TZPATH`, and the `tzdata`
package when installed). Old names ("Asia/Calcutta", "US/Eastern") are followed through the
link lines of `tzdata.zi`. Where none of these files exist (Windows without `tzdata`), a small
built-in table covers common zones.

The local zone name comes from `TZ`, else the `/etc/localtime` link, else `/etc/timezone`;
these are the POSIX conventions; on Windows the platform facade asks the OS
(GetDynamicTimeZoneInformation, mapped to IANA by ICU).
"""

from __future__ import annotations

import os
import zoneinfo
from collections.abc import Callable, Iterable, Mapping
from functools import lru_cache
from pathlib import Path

FALLBACK = {
    "Europe/London": "GB", "Europe/Paris": "FR", "Europe/Berlin": "DE", "Europe/Madrid": "ES",
    "Europe/Rome": "IT", "Europe/Amsterdam": "NL", "Europe/Brussels": "BE",
    "Europe/Zurich": "CH", "Europe/Vienna": "AT", "Europe/Stockholm": "SE",
    "Europe/Warsaw": "PL", "Europe/Dublin": "IE", "Europe/Lisbon": "PT",
    "Europe/Moscow": "RU", "Europe/Istanbul": "TR", "America/New_York": "US",
    "America/Chicago": "US", "America/Denver": "US", "America/Los_Angeles": "US",
    "America/Toronto": "CA", "America/Sao_Paulo": "BR", "America/Mexico_City": "MX",
    "Asia/Tokyo": "JP", "Asia/Shanghai": "CN", "Asia/Hong_Kong": "HK",
    "Asia/Singapore": "SG", "Asia/Kolkata": "IN", "Asia/Dubai": "AE", "Asia/Seoul": "KR",
    "Asia/Riyadh": "SA", "Asia/Qatar": "QA", "Australia/Sydney": "AU",
    "Pacific/Auckland": "NZ", "Africa/Johannesburg": "ZA", "Africa/Cairo": "EG",
}


def parse_zone_tab(lines: Iterable[str]) -> dict[str, str]:
    """`zone.tab` / `zone1970.tab` lines -> {zone: first country code}."""
    out: dict[str, str] = {}
    for line in lines:
        if not line.strip() or line.startswith("#"):
            continue
        fields = line.rstrip("\n").split("\t")
        if len(fields) >= 3:
            out.setdefault(fields[2], fields[0].split(",")[0].upper())
    return out


def parse_links(lines: Iterable[str]) -> dict[str, str]:
    """`L target alias` lines of `tzdata.zi` -> {alias: target}."""
    links = {}
    for line in lines:
        parts = line.split()
        if len(parts) == 3 and parts[0] == "L":
            links[parts[2]] = parts[1]
    return links


def _zoneinfo_dirs() -> list[Path]:
    dirs = [Path(p) for p in zoneinfo.TZPATH]
    try:
        import tzdata  # optional: ships the tables on systems without zoneinfo (Windows)

        dirs.append(Path(tzdata.__file__).parent / "zoneinfo")
    except ImportError:
        pass
    return dirs


def _read_lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return []


@lru_cache(maxsize=1)
def system_tables() -> tuple[Mapping[str, str], Mapping[str, str]]:
    """({zone: country}, {alias: zone}) from the first zoneinfo folder that has them."""
    for folder in _zoneinfo_dirs():
        zones = parse_zone_tab(_read_lines(folder / "zone1970.tab"))
        zones.update(parse_zone_tab(_read_lines(folder / "zone.tab")))  # the zone's own wins
        if zones:
            return zones, parse_links(_read_lines(folder / "tzdata.zi"))
    return dict(FALLBACK), {}


def country_for_zone(zone: str | None, tables: tuple[Mapping[str, str], Mapping[str, str]]
                     | None = None) -> str | None:
    """ISO country code of an IANA zone name ("Europe/Paris" -> "FR"), or None."""
    if not zone:
        return None
    zones, links = tables or system_tables()
    for _ in range(4):  # links may chain (backward names of backward names)
        if zone in zones:
            return zones[zone]
        if zone not in links:
            break
        zone = links[zone]
    return FALLBACK.get(zone)


def _zone_from_path(text: str) -> str | None:
    marker = "zoneinfo/"
    index = text.rfind(marker)
    return text[index + len(marker):] if index >= 0 else None


def local_zone_name(env: Mapping[str, str] | None = None, etc: Path = Path("/etc"),
                    os_zone: Callable[[], str | None] | None = None) -> str | None:
    """The IANA name of this machine's time zone, or None when it cannot be told.

    `os_zone` asks the OS itself (the platform facade's `local_time_zone`: Windows keeps its
    zone in its own settings, not in TZ or /etc)."""
    env = os.environ if env is None else env
    tz = env.get("TZ", "").lstrip(":")
    if tz and "/" in tz:
        return _zone_from_path(tz) or tz
    try:
        zone = _zone_from_path(os.readlink(etc / "localtime"))
        if zone:
            return zone
    except OSError:
        pass
    text = "".join(_read_lines(etc / "timezone")).strip()
    if text:
        return text
    if os_zone is None:
        from agent.platform import local_time_zone as os_zone
    return os_zone()


def local_country(env: Mapping[str, str] | None = None, etc: Path = Path("/etc")) -> str | None:
    """Country of this machine's time zone, or None."""
    return country_for_zone(local_zone_name(env, etc))


def laptop_country(server_country: str | None, env: Mapping[str, str] | None = None,
                   etc: Path = Path("/etc")) -> str | None:
    """Where the laptop is: the server's view of its address first, else its time zone."""
    if server_country:
        return server_country.upper()
    return local_country(env, etc)
