"""The table of input formats, and `parse()`, the one entry point callers use.

    for item in parse("sshd", body, year=2026):
        if isinstance(item, Rejection): ...   # item.line, item.reason
        else: ...                              # a SignIn

A bad record never stops the good ones: it becomes a Rejection in sequence and parsing goes on.
Records that are valid but not sign-ins (PAM lines, other Okta event types, 4634 logoffs...) are
skipped silently. docs/ingest.md describes every format.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Protocol

from server.ingest.parsers import entra, generic, okta, sshd, windows
from server.ingest.reading import Input
from server.ingest.record import Rejection, SignIn


class Parser(Protocol):
    """What every format module's parse function looks like."""

    def __call__(self, data: Input, *, year: int | None = None,
                 now: datetime | None = None) -> Iterator[SignIn | Rejection]: ...


FORMATS: dict[str, Parser] = {
    "okta": okta.parse,
    "entra": entra.parse,
    "sshd": sshd.parse,
    "windows": windows.parse,
    "generic": generic.parse,
    "generic-csv": generic.parse_csv,
    "generic-ndjson": generic.parse_ndjson,
}


class UnknownFormat(ValueError):
    """The format name is not in FORMATS."""


def get_parser(format_name: str) -> Parser:
    """The parser registered under `format_name`; UnknownFormat lists the known names."""
    try:
        return FORMATS[format_name]
    except KeyError:
        known = ", ".join(sorted(FORMATS))
        raise UnknownFormat(f"unknown sign-in format {format_name!r}; known formats: {known}"
                            ) from None


def parse(format_name: str, data: Input, *, year: int | None = None,
          now: datetime | None = None) -> Iterator[SignIn | Rejection]:
    """Parse `data` (bytes, str or an iterable of lines/chunks) in the named format.

    `year` fixes the year of year-less classic syslog lines; `now` (default: the current time)
    is what "in the future" means when that year is inferred. Raises UnknownFormat at once
    (before reading anything) for an unknown name.
    """
    parser = get_parser(format_name)
    return parser(data, year=year, now=now)
