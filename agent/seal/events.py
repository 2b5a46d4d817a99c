"""Events the seal service reports, with stable names and fields (see docs/seal-format.md).

Each is a frozen dataclass with a class-level `name` and `as_dict()` giving the JSON payload
(`at` as RFC 3339 UTC). Paths appear only when the rules allow it, and then only relative to
their protected folder; `folder` is the folder entry as the rules wrote it ("Downloads").
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import ClassVar


def rfc3339(at: float) -> str:
    """Seconds since the epoch as an RFC 3339 UTC timestamp."""
    return datetime.fromtimestamp(at, UTC).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class SealEvent:
    """Base: every event has a time."""

    name: ClassVar[str] = "seal_event"
    at: float

    def as_dict(self) -> dict[str, object]:
        """The event payload: its fields, with `at` in RFC 3339 and tuples as lists."""
        data = asdict(self)
        data["at"] = rfc3339(self.at)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in data.items()}


@dataclass(frozen=True)
class SealStarted(SealEvent):
    """A seal pass began. `reason`: idle, lock, sleep, manual; `session`: the idle period."""

    name: ClassVar[str] = "seal_started"
    reason: str
    session: str
    pending_files: int
    pending_bytes: int


@dataclass(frozen=True)
class SealFinished(SealEvent):
    """A seal pass ended (also when cut short by the employee's return or a deadline)."""

    name: ClassVar[str] = "seal_finished"
    reason: str
    session: str
    sealed_files: int
    sealed_bytes: int
    busy_files: int
    failed_files: int
    remaining_files: int
    remaining_bytes: int
    duration_seconds: float
    interrupted: bool = False
    paths: tuple[dict[str, str], ...] = ()  # [{"folder", "path"}] still pending, if allowed


@dataclass(frozen=True)
class UnsealFinished(SealEvent):
    """An unseal pass ended (`reason`: return, manual)."""

    name: ClassVar[str] = "unseal_finished"
    reason: str
    session: str
    unsealed_files: int
    unsealed_bytes: int
    failed_files: int
    duration_seconds: float


@dataclass(frozen=True)
class SealErrorEvent(SealEvent):
    """One file could not be sealed or unsealed. `kind` is stable (disk_full, permission, ...).

    `message` never contains a path; `path` is relative and only set when the rules allow it.
    """

    name: ClassVar[str] = "seal_error"
    operation: str
    kind: str
    message: str
    folder: str
    path: str | None = None


EVENT_TYPES = (SealStarted, SealFinished, UnsealFinished, SealErrorEvent)
