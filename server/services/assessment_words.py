"""Small, pure formatting helpers for the lost-device assessment's sentences."""

from __future__ import annotations

from datetime import datetime

from server.services.clock import rfc3339


def when(moment: datetime) -> str:
    """A time as the protocol writes it (`2024-05-02T09:14:07Z`)."""
    return rfc3339(moment)


def duration(seconds: float) -> str:
    """`45 s`, `12 min`, `3 h 5 min`, `2 d 4 h` — precise enough for people."""
    seconds = max(0, int(round(seconds)))
    if seconds < 120:
        return f"{seconds} s"
    minutes, hours, days = seconds // 60, seconds // 3600, seconds // 86400
    if seconds < 3600:
        return f"{minutes} min"
    if seconds < 86400:
        rest = minutes - hours * 60
        return f"{hours} h" + (f" {rest} min" if rest else "")
    rest = hours - days * 24
    return f"{days} d" + (f" {rest} h" if rest else "")


def size(count: int) -> str:
    """Bytes in binary units: `512 B`, `1.5 KiB`, `3.2 MiB`, `1.1 GiB`."""
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


def files_and_bytes(files: int, count: int) -> str:
    """`1 file (12 B)`, `3 files (1.5 MiB)`."""
    return f"{files} file{'' if files == 1 else 's'} ({size(count)})"
