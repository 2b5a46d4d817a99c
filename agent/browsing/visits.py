"""What a person did, from what the browser recorded: the shared visit model and its clean-up.

Both readers turn their browser's rows into `RawVisit`s, each already marked by the browser's
own rules as a visit the person made (`FINAL`), a step inside a redirect chain (`HOP`), or
something the browser did on its own (`SKIP`: sub-frames, synced visits, ...). This module then
applies the rules both browsers share:

* a navigation retried within `RETRY_SECONDS` to the same address (same URL, http or https) is
  one visit, not two. Browsers write such pairs when they upgrade a navigation to HTTPS and fall
  back, or when the person double-clicks; the earlier row is dropped, the later one kept
  because it is the one that carries the rest of the redirect chain;
* visits younger than the settle delay are held back (with every later one) because the browser
  may still attach a redirect to them: Firefox writes a redirect's source and target in separate
  transactions, Chromium extends a chain when a page client-redirects a moment after loading.

Only `Visit` leaves this package: UTC time and host. URLs and titles are never kept.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import Enum
from urllib.parse import urlsplit

from rules.domains import IP_KEY_PREFIX, normalize_host

RETRY_SECONDS = 3.0
"""Two visits to the same address this close together are one navigation retried."""
SETTLE_SECONDS = 5.0
"""Default delay before a fresh visit is trusted not to become a redirect source."""
FUTURE_SLACK = timedelta(seconds=60)
"""Visits dated further in the future than this (clock changes) are not held back forever."""
WEB_SCHEMES = frozenset({"http", "https"})


class Role(Enum):
    """How one browser row counts."""

    FINAL = "final"  # a page the person ended up on
    HOP = "hop"  # an intermediate step of a redirect chain
    SKIP = "skip"  # not the person's doing (sub-frame, synced, generated, non-web scheme)


@dataclass(frozen=True)
class RawVisit:
    """One history row as a reader classified it (internal: holds the URL, never leaves)."""

    visit_id: int
    time: datetime
    url: str
    role: Role


@dataclass(frozen=True)
class Visit:
    """A visit the person made: when (UTC) and to which host. Nothing else is kept."""

    visit_id: int
    time: datetime
    host: str


@dataclass(frozen=True)
class ReadResult:
    """Visits newer than the checkpoint, and the checkpoint to store once they are handled."""

    visits: tuple[Visit, ...]
    checkpoint: int
    held_back: int = 0  # rows younger than the settle delay, to read again later
    retry_after: float | None = None  # seconds after which the held-back rows are settled
    checkpoint_time: int | None = None  # the stored time of the checkpoint row (raw units)


def host_of(url: str) -> str | None:
    """The normalised host of an http(s) URL (punycode, lower case), or None for others."""
    try:
        parts = urlsplit(url)
        if parts.scheme.lower() not in WEB_SCHEMES:
            return None
        raw = parts.hostname
    except ValueError:
        return None
    if not raw:
        return None
    host = normalize_host(f"[{raw}]" if ":" in raw else raw)
    if host is None:
        return None
    return host.removeprefix(IP_KEY_PREFIX)


def address_key(url: str) -> str:
    """The URL without its http/https scheme: equal keys mean "the same address"."""
    scheme, sep, rest = url.partition("://")
    return rest if sep and scheme.lower() in WEB_SCHEMES else url


def mark_retries(rows: Sequence[RawVisit], window: float = RETRY_SECONDS) -> list[RawVisit]:
    """Rows with each FINAL visit that is repeated (same address) within `window` s SKIPped."""
    out = list(rows)
    last_final: dict[str, int] = {}
    for index, row in enumerate(out):
        if row.role is Role.SKIP:
            continue
        key = address_key(row.url)
        earlier = last_final.get(key)
        if earlier is not None:
            gap = (row.time - out[earlier].time).total_seconds()
            if 0 <= gap <= window:
                out[earlier] = RawVisit(out[earlier].visit_id, out[earlier].time,
                                        out[earlier].url, Role.SKIP)
        if row.role is Role.FINAL:
            last_final[key] = index
        else:
            last_final.pop(key, None)
    return out


def settle_cut(rows: Sequence[RawVisit], now: datetime, settle: float) -> int:
    """Index of the first row still too young to trust (len(rows) when all are settled)."""
    young_after = now - timedelta(seconds=settle)
    for index, row in enumerate(rows):
        if young_after < row.time <= now + FUTURE_SLACK:
            return index
    return len(rows)


def finish(rows: Sequence[RawVisit], *, checkpoint: int, now: datetime,
           settle: float = SETTLE_SECONDS) -> ReadResult:
    """Apply the shared rules to rows newer than `checkpoint` (in id order) -> ReadResult."""
    rows = mark_retries(rows)
    cut = settle_cut(rows, now, settle)
    ready, held = rows[:cut], rows[cut:]
    visits, hosts = [], {}  # per-call cache: URLs repeat; nothing outlives this read
    for row in ready:
        if row.role is not Role.FINAL:
            continue
        host = hosts.get(row.url, "")
        if host == "":
            host = hosts[row.url] = host_of(row.url)
        if host:
            visits.append(Visit(row.visit_id, row.time, host))
    new_checkpoint = held[0].visit_id - 1 if held else (rows[-1].visit_id if rows else checkpoint)
    retry = None
    if held:
        retry = max(0.5, settle - (now - held[0].time).total_seconds())
    return ReadResult(tuple(visits), max(new_checkpoint, checkpoint), len(held), retry)


def utc_from_unix_us(value: int) -> datetime:
    """Firefox PRTime (microseconds since 1970-01-01 UTC) as an aware datetime."""
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=value)


def utc_from_webkit_us(value: int) -> datetime:
    """Chromium time (microseconds since 1601-01-01 UTC) as an aware datetime."""
    return datetime(1601, 1, 1, tzinfo=UTC) + timedelta(microseconds=value)


def unix_us(moment: datetime) -> int:
    """An aware datetime as microseconds since 1970-01-01 UTC."""
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


def webkit_us(moment: datetime) -> int:
    """An aware datetime as microseconds since 1601-01-01 UTC."""
    return (moment - datetime(1601, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
