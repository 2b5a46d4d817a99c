"""Escrow of the seal device key: wrap it to the organisation's recovery key, hand it over.

The server names its recovery public key in the enrolment and every check-in reply
(`recovery_public_key`, base64 X25519, or null when none is configured). When the device id,
the recovery key or the device key changed since the last successful upload, the device key is
wrapped (`agent.seal.keys.escrow_device_key`, i.e. `rules.escrow`) and sent with
`PUT /api/v1/escrow` (docs/protocol.md). The server cannot open the blob; only the recovery
private key, kept offline, can (`heedful-agent recover`).

What was escrowed, and the status the check-in carries in `state.escrow` and `status` shows,
live in the state row `escrow`:

* `escrowed` — the server holds this device key wrapped to its current recovery key;
* `not configured` — the server has no recovery key: nothing to do until one appears;
* `waiting for the device key` — the seal stack has not made the device key yet;
* `failed: ...` — the last attempt failed (network, key store, refusal); retried at the next
  check-in.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agent.errors import AgentError, DeviceInvalid
from agent.seal.keys import MARKER_FILE, KeyStoreError, escrow_device_key, load_device_key
from agent.uplink import Uplink
from rules import escrow

log = logging.getLogger("agent.escrow")
STATE_KEY = "escrow"
ESCROWED, NOT_CONFIGURED, NO_KEY = "escrowed", "not configured", "waiting for the device key"


def _default_loader(home: Path, create: bool) -> Any:
    return load_device_key(home, create=create)


class EscrowUploader:
    """Keeps the server's copy of the wrapped device key current. `load_key(home, create)`
    returns an `agent.seal.keys.DeviceKey` (injectable for tests)."""

    def __init__(self, home: Path, store: Any, *, ledger: Any = None,
                 load_key: Callable[[Path, bool], Any] = _default_loader,
                 clock: Callable[[], float] = time.time) -> None:
        self.home, self.store, self.ledger = Path(home), store, ledger
        self.load_key, self.clock = load_key, clock

    def record(self) -> dict[str, Any]:
        """The stored escrow record (empty before the first attempt)."""
        return self.store.get_state(STATE_KEY) or {}

    def status(self) -> str:
        """The one-line status for the check-in's `state.escrow` and `status`."""
        return str(self.record().get("status") or NOT_CONFIGURED)

    def save_status(self, status: str, **fields: Any) -> str:
        """Record `status` (and what was escrowed, on success); returns it."""
        if not fields and self.record().get("status") == status:
            return status  # unchanged: no write every check-in
        self.store.put_state(STATE_KEY, {**self.record(), "status": status,
                                         "at": self.clock(), **fields})
        return status

    def needed(self, device_id: str, recipient: str, key_id: str | None) -> bool:
        """True unless this device id's key (`key_id`, when known) is escrowed to `recipient`."""
        done = self.record()
        return not (done.get("status") == ESCROWED and done.get("device_id") == device_id
                    and done.get("recipient") == recipient
                    and (key_id is None or done.get("key_id") == key_id))

    def sync(self, uplink: Any, device_id: str, recovery_public_key: str | None, *,
             key_id: str | None = None, create_key: bool = False) -> str:
        """Upload the escrow if needed; returns the status. DeviceInvalid propagates; other
        failures become a `failed: ...` status, retried at the next call."""
        if not recovery_public_key:
            return self.save_status(NOT_CONFIGURED)
        try:
            recipient = escrow.fingerprint(escrow.load_public_key(recovery_public_key))
        except (escrow.EscrowError, ValueError) as exc:
            return self.save_status(f"failed: unusable recovery key from the server ({exc})")
        if not self.needed(device_id, recipient, key_id):
            return ESCROWED
        try:
            return self._upload(uplink, device_id, recovery_public_key, recipient, create_key)
        except DeviceInvalid:
            raise
        except AgentError as exc:  # transport, TLS, server refusals
            log.warning("escrow upload failed: %s", exc)
            return self.save_status(f"failed: {exc}"[:200])
        except Exception as exc:  # noqa: BLE001 - escrow must never stop check-ins
            log.exception("escrow upload failed unexpectedly")
            return self.save_status(f"failed: {type(exc).__name__}: {exc}"[:200])

    def _upload(self, uplink: Any, device_id: str, recovery_public_key: str, recipient: str,
                create_key: bool) -> str:
        try:
            device_key = self.load_key(self.home, create_key)
        except KeyStoreError as exc:
            # no key was ever made here (the seal stack writes the marker when it makes one)
            missing = not create_key and not (self.home / MARKER_FILE).exists()
            return self.save_status(NO_KEY if missing else f"failed: {exc}"[:200])
        key_id = device_key.key_id.hex()
        body = {"key_id": key_id,
                "escrow": escrow_device_key(device_key, recovery_public_key,
                                            device_id).decode("utf-8")}
        if self.ledger is not None:  # what leaves the laptop, minus the opaque blob
            self.ledger.record("escrow", f"seal key {key_id} wrapped to recovery key "
                               f"{recipient} and sent", {"PUT": "/api/v1/escrow",
                                                         "key_id": key_id,
                                                         "recipient": recipient})
        uplink.request("PUT", "/api/v1/escrow", body=body, ok=(200, 201))
        log.info("device key %s escrowed to recovery key %s", key_id, recipient)
        return self.save_status(ESCROWED, device_id=device_id, key_id=key_id, recipient=recipient)


def escrow_at_enrolment(store: Any, enrolment: Any, recovery_public_key: str | None, *,
                        timeout: float = 20.0, ledger: Any = None) -> str:
    """Escrow right after enrolment (making the device key if there is none yet); any
    failure is only recorded: the next check-in tries again."""
    uplink = Uplink(enrolment.server_url, ca_file=enrolment.ca_file, timeout=timeout,
                    credential=enrolment.credential)
    try:
        return EscrowUploader(store.home, store, ledger=ledger).sync(
            uplink, str(enrolment.device_id), recovery_public_key, create_key=True)
    except DeviceInvalid as exc:  # just enrolled: only a revocation in between does this
        return EscrowUploader(store.home, store).save_status(f"failed: {exc}"[:200])
    finally:
        uplink.close()
