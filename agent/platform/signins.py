"""The normalised record for this laptop's own sign-ins, whatever log it came from.

Parsers (`utmp.py`, `journal.py`, `winevents.py`, `maclog.py`) take bytes or lines and return
`LaptopSignin` records; the OS modules' thin readers find the files and run the tools.
The agent sends each record as a check-in event of type `laptop_signin` (see
docs/protocol.md, "Event types").
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime

SOURCE = "this laptop"
KINDS = ("login", "unlock", "failed_unlock", "lock")
SIGNIN_KINDS = ("login", "unlock", "failed_unlock")  # "lock" is parsed but never sent
OUTCOMES = ("success", "failure")


@dataclass(frozen=True)
class LaptopSignin:
    """One sign-in attempt on this laptop.

    `identity` is the account name as the OS logged it (`alice`, `CORP\\alice`); `time` is
    timezone-aware UTC; `origin` names the log (`wtmp`, `btmp`, `journal`,
    `windows-security`, `macos-log`); `detail` is a short human sentence; `remote_address`
    is set only for remote sign-ins (SSH, RDP) so the server can geolocate them.
    """

    identity: str
    time: datetime
    outcome: str
    kind: str
    origin: str
    detail: str = ""
    remote_address: str | None = None
    method: str = ""  # the program or service that logged it: sshd, gdm-password, login...
    extra: dict[str, str] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"LaptopSignin.kind: {self.kind!r} is not one of {KINDS}")
        if self.outcome not in OUTCOMES:
            raise ValueError(f"LaptopSignin.outcome: {self.outcome!r} is not one of {OUTCOMES}")
        if self.time.tzinfo is None:
            raise ValueError("LaptopSignin.time must be timezone-aware")

    def event_data(self) -> dict[str, object]:
        """The `data` object of a `laptop_signin` event (keys documented in protocol.md)."""
        return {
            "identity": self.identity,
            "time": iso_utc(self.time),
            "outcome": self.outcome,
            "kind": self.kind,
            "source": SOURCE,
            "origin": self.origin,
            "method": self.method,
            "detail": self.detail,
            "remote_address": self.remote_address,
        }

    def idempotency_key(self) -> str:
        """A stable key, so a record read twice (log re-scan, restart) is stored once."""
        parts = (self.origin, self.identity, iso_utc(self.time), self.kind, self.outcome,
                 self.method, self.remote_address or "", self.detail)
        return "signin-" + hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]


@dataclass
class SigninBatch:
    """One read of this laptop's sign-in logs: new records, the checkpoint to persist, and
    what each log source could or could not be read (as `Capability` entries)."""

    records: list[LaptopSignin]
    checkpoint: dict[str, object]
    sources: list[object] = field(default_factory=list)


def iso_utc(moment: datetime) -> str:
    """RFC 3339 UTC with a trailing Z and microseconds kept."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def from_epoch(seconds: float) -> datetime:
    """An aware UTC datetime from seconds since the Unix epoch."""
    return datetime.fromtimestamp(seconds, tz=UTC)
