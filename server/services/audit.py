"""Who did a privileged action, and recording it in the append-only audit log."""

from __future__ import annotations

import getpass
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from server.storage import audit as audit_store


@dataclass(frozen=True)
class Actor:
    """Who acts: `name` is what the audit log shows ("user:a@corp", "token:<id>", "cli:root",
    "device:<id>"); `role` is what they may do (None for devices and the CLI)."""

    name: str
    role: str | None = None
    source_ip: str | None = None


def cli_actor(as_email: str | None = None) -> Actor:
    """The actor for a command-line action: `cli:<email>` when given, else `cli:<os user>`."""
    try:
        who = as_email or getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers)
        who = "unknown"
    return Actor(name=f"cli:{who}", role="security_admin")


def record(session: Session, actor: Actor, action: str, *, target: str | None = None,
           details: dict[str, Any] | None = None, now: datetime) -> None:
    """Append an audit entry in the same transaction as the action it records."""
    audit_store.append(session, actor=actor.name, action=action, target=target,
                       source_ip=actor.source_ip, details=details, now=now)
