"""The two kinds of message inside the agent, as small dataclasses with stable names.

* `Event` — something that goes to the server: queued in the durable outbox, sent in a
  check-in, recorded in the ledger. Its `id` is the idempotency key (a UUID).
* `Signal` — something that happened on this laptop or inside the agent, broadcast to the
  sensors (never sent anywhere). Names are in `SIGNALS`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

# Namespace for ids derived from content (re-reading a log gives the same id).
EVENT_NAMESPACE = uuid.UUID("5f1d9b8e-7c3a-4f2e-9d61-0b4a8c2e7f13")

# Event types the agent core emits (sensors add their own, e.g. "seal.completed").
LAPTOP_SIGNIN = "laptop_signin"
RULES_APPLIED = "rules.applied"
RULES_REFUSED = "rules.refused"
OUTBOX_DROPPED = "outbox.dropped"
AGENT_STARTED = "agent.started"


def utc_now_iso() -> str:
    """The current time in RFC 3339 UTC (`...Z`)."""
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class Event:
    """One event for the server (protocol: `id`, `type`, `occurred_at`, `data`)."""

    type: str
    data: dict[str, Any] = field(default_factory=dict)
    occurred_at: str = field(default_factory=utc_now_iso)
    id: str = field(default_factory=lambda: str(uuid.uuid4()))

    @classmethod
    def keyed(cls, type: str, key: str, data: dict[str, Any], occurred_at: str) -> Event:
        """An event whose id is derived from `key`, so the same fact is stored once even if
        it is observed twice (e.g. a sign-in read again after a restart)."""
        return cls(type, data, occurred_at, str(uuid.uuid5(EVENT_NAMESPACE, key)))

    def as_wire(self) -> dict[str, Any]:
        """The protocol's event object."""
        return {"id": self.id, "type": self.type, "occurred_at": self.occurred_at,
                "data": self.data}


# Signal names sensors can react to (see agent/sensors/__init__.py).
IDLE_CROSSED = "idle-crossed"  # input idle passed the bundle's seal threshold
ACTIVE = "active"  # input resumed after idle-crossed
LOCKED = "locked"
UNLOCKED = "unlocked"
ABOUT_TO_SLEEP = "about-to-sleep"  # only where the OS tells us (see capabilities)
WOKE = "woke"  # the laptop slept and is back (clock gap)
RULES_APPLIED_SIGNAL = "rules-applied"
LOCATION_CHANGED = "location-changed"
SCANS_PAUSED = "scans-paused"  # the footprint watchdog asks sensors to pause heavy work
SCANS_RESUMED = "scans-resumed"
SIGNALS = (IDLE_CROSSED, ACTIVE, LOCKED, UNLOCKED, ABOUT_TO_SLEEP, WOKE, RULES_APPLIED_SIGNAL,
           LOCATION_CHANGED, SCANS_PAUSED, SCANS_RESUMED)


@dataclass(frozen=True)
class Signal:
    """A broadcast to sensors: `name` from SIGNALS plus details (`data`)."""

    name: str
    data: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.name not in SIGNALS:
            raise ValueError(f"unknown signal {self.name!r}; known: {', '.join(SIGNALS)}")
