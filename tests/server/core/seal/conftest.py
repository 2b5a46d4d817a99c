"""Fixtures for seal on idle's server side: a recovery key pair on disk, a harness whose server
is configured with it, and builders for check-in states and seal events."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from rules import escrow
from server.services.recovery_keys import write_keypair


@dataclass(frozen=True)
class RecoveryPair:
    """The recovery key pair as `heedful-server recovery keygen` writes it."""

    private_path: Path
    public_path: Path
    fingerprint: str

    @property
    def public_text(self) -> str:
        return self.public_path.read_text().strip()

    @property
    def private_raw(self) -> bytes:
        return escrow.load_private_key(self.private_path.read_bytes())


@pytest.fixture
def recovery(tmp_path: Path) -> RecoveryPair:
    files = write_keypair(tmp_path / "recovery")
    return RecoveryPair(files.private_path, files.public_path, files.fingerprint)


@pytest.fixture
def escrow_harness(make_harness, recovery):
    """The app with `recovery_public_key_path` set."""
    return make_harness(recovery_public_key_path=str(recovery.public_path))


def wrap(secret: bytes, pair: RecoveryPair, device_id: str, key_id: str | None = None) -> str:
    """An escrow blob as the agent makes it (key id = format key id of `secret`)."""
    from agent.seal.format import key_id as format_key_id

    kid = key_id or format_key_id(secret).hex()
    return escrow.wrap_key(secret, escrow.load_public_key(pair.public_text), key_id=kid,
                           device_id=device_id).decode()


def seal_state(*, idle: float | None = 3, rules_version: int | None = None,
               agent_version: str = "0.1.0", with_seal: bool = True,
               **seal: Any) -> dict[str, Any]:
    """A check-in `state`; its `seal` object has the given keys over quiet defaults."""
    state: dict[str, Any] = {"agent_version": agent_version, "idle_seconds": idle,
                             "rules_version": rules_version}
    if with_seal:
        defaults = {"state": "active", "pending_files": 0, "pending_bytes": 0,
                    "busy_files": 0, "busy_bytes": 0, "failed_files": 0, "sealed_files": 0,
                    "sealed_bytes": 0, "unresolved_operations": 0, "key_store": "os key store",
                    "key_id": "00" * 16, "idle_threshold_seconds": 300.0}
        state["seal"] = {**defaults, **seal}
    return state


def seal_event(event_type: str, at: datetime, **data: Any) -> dict[str, Any]:
    """A seal event as the agent's outbox sends it."""
    return {"id": str(uuid.uuid4()), "type": event_type,
            "occurred_at": at.isoformat().replace("+00:00", "Z"), "data": data}


def report(h, device: dict[str, Any], state: dict[str, Any],
           events: list[dict[str, Any]] | None = None) -> Any:
    """One check-in with this state and these events; asserts it was accepted."""
    reply = h.client.post("/api/v1/checkin", json={"state": state, "events": events or []},
                          headers=h.auth(device))
    assert reply.status_code == 200, reply.text
    return reply.json()
