"""Enrolment: exchanging a one-time token for a device credential, and keeping it.

The credential (device id and secret), the server URL, the CA file, the trusted rule-signing
keys and the employee live in the `enrolment` row of the state database (a 0600 file in a
0700 folder). When the server says `device_invalid` the secret is forgotten and the status
becomes `needs_reenrolment`; the outbox is kept, so events queued meanwhile reach the server
after `heedful-agent enroll` with a new token.
"""

from __future__ import annotations

import json
import platform as pyplatform
import socket
import time
from dataclasses import dataclass, field
from typing import Any

from agent import __version__ as AGENT_VERSION
from agent.escrow_upload import escrow_at_enrolment
from agent.store import Store
from agent.uplink import Uplink, check_server_url

ENROLLED, NEEDS_REENROLMENT = "enrolled", "needs_reenrolment"


@dataclass
class Enrolment:
    """The enrolment row."""

    server_url: str
    device_id: str | None
    device_secret: str | None
    employee: dict[str, Any] = field(default_factory=dict)
    trusted_keys: list[dict[str, str]] = field(default_factory=list)
    ca_file: str | None = None
    checkin_interval: float | None = None
    enrolled_at: float = 0.0
    status: str = ENROLLED
    status_reason: str = ""

    @property
    def usable(self) -> bool:
        """True when the agent may talk to the server with this credential."""
        return self.status == ENROLLED and bool(self.device_id and self.device_secret)

    @property
    def credential(self) -> tuple[str, str] | None:
        return (self.device_id, self.device_secret) if self.usable else None

    def public_keys(self) -> list[str]:
        """Trusted rule-signing keys as PEM strings (what `rules.signing` takes)."""
        return [k["public_key_pem"] for k in self.trusted_keys]

    def public_view(self) -> dict[str, Any]:
        """Everything but the secret (for status)."""
        return {"server_url": self.server_url, "device_id": self.device_id,
                "employee": self.employee, "status": self.status,
                "status_reason": self.status_reason, "enrolled_at": self.enrolled_at,
                "trusted_key_ids": [k.get("key_id") for k in self.trusted_keys],
                "ca_file": self.ca_file}


def load(store: Store) -> Enrolment | None:
    """The current enrolment, or None if the agent was never enrolled."""
    rows = store.query("SELECT server_url, device_id, device_secret, employee, trusted_keys, "
                       "ca_file, checkin_interval, enrolled_at, status, status_reason "
                       "FROM enrolment WHERE id = 1")
    if not rows:
        return None
    url, did, secret, emp, keys, ca, interval, at, status, reason = rows[0]
    return Enrolment(url, did, secret, json.loads(emp), json.loads(keys), ca, interval, at,
                     status, reason)


def save(store: Store, enrolment: Enrolment) -> None:
    """Replace the enrolment row."""
    e = enrolment
    with store.transaction() as conn:
        conn.execute("DELETE FROM enrolment")
        conn.execute("INSERT INTO enrolment (id, server_url, device_id, device_secret, "
                     "employee, trusted_keys, ca_file, checkin_interval, enrolled_at, status, "
                     "status_reason) VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                     (e.server_url, e.device_id, e.device_secret, json.dumps(e.employee),
                      json.dumps(e.trusted_keys), e.ca_file, e.checkin_interval,
                      e.enrolled_at, e.status, e.status_reason))


def mark_invalid(store: Store, reason: str) -> None:
    """The server refused the credential: forget the secret, say re-enrolment is needed."""
    with store.transaction() as conn:
        conn.execute("UPDATE enrolment SET device_secret = NULL, status = ?, status_reason = ? "
                     "WHERE id = 1", (NEEDS_REENROLMENT, reason))


def device_facts() -> dict[str, Any]:
    """What the enrolment request says about this laptop."""
    from agent import platform

    return {"name": socket.gethostname()[:200] or "unknown", "os": platform.NAME,
            "os_version": f"{pyplatform.system()} {pyplatform.release()}"[:200],
            "agent_version": AGENT_VERSION}


def enroll(store: Store, server_url: str, token: str, *, ca_file: str | None = None,
           timeout: float = 20.0, ledger: Any = None) -> Enrolment:
    """Enrol with `token`; on success the new credential replaces any previous one."""
    url = check_server_url(server_url)
    body = {"token": token, **device_facts()}
    uplink = Uplink(url, ca_file=ca_file, timeout=timeout)
    try:
        if ledger is not None:
            ledger.record("enroll", f"enrolment request to {url} as {body['name']}", body)
        reply = uplink.enroll(body)
    finally:
        uplink.close()
    enrolment = Enrolment(url, reply["device_id"], reply["device_secret"],
                          reply.get("employee") or {}, reply.get("rules_public_keys") or [],
                          ca_file, reply.get("checkin_interval_seconds"), time.time())
    save(store, enrolment)
    # The seal key is escrowed at once when the server has a recovery key; a failure here is
    # retried at every check-in (agent.escrow_upload), so enrolment still succeeds.
    escrow_at_enrolment(store, enrolment, reply.get("recovery_public_key"), timeout=timeout,
                        ledger=ledger)
    return enrolment
