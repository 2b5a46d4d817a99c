"""Escrowed device keys: accepting an agent's upload, and exporting it for a recovery.

The agent wraps its seal device key to the organisation's recovery public key
(`rules.escrow.wrap_key`) and uploads the blob (`PUT /api/v1/escrow`). The server cannot open
it; it checks that the blob is well formed, was made for this device and this key id, and is
wrapped to the recovery key configured now (so whoever holds the matching private key can
recover), then keeps it. `heedful-server recovery export DEVICE_ID` gives it back byte for
byte, audited, for `heedful-agent recover --wrapped FILE ...`.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from rules import escrow as escrow_format
from server.services import audit
from server.services.audit import Actor
from server.services.clock import rfc3339
from server.services.errors import Conflict, InvalidInput, NotFound, ServiceError
from server.services.recovery_keys import RecoveryPublicKey
from server.storage import devices as device_store
from server.storage import escrow as escrow_store

KEY_ID = re.compile(r"^[0-9a-f]{32}$")
MAX_BLOB_CHARS = 4096
MAX_KEYS_PER_DEVICE = 20  # a device makes a new key only if it lost the old one


class RecoveryKeyNotConfigured(ServiceError):
    """The server has no recovery public key (setting recovery_public_key_path)."""

    code = "recovery_key_not_configured"


class RecoveryKeyMismatch(ServiceError):
    """The blob is wrapped to another recovery key than the one configured now."""

    code = "recovery_key_mismatch"


@dataclass(frozen=True)
class Receipt:
    """What the server holds after an upload."""

    device_id: str
    key_id: str
    recipient: str
    created: bool
    stored_at: datetime

    def as_dict(self) -> dict[str, Any]:
        """The reply body of PUT /api/v1/escrow."""
        return {"device_id": self.device_id, "key_id": self.key_id,
                "recipient": self.recipient, "created": self.created,
                "stored_at": rfc3339(self.stored_at)}


def _invalid(message: str) -> InvalidInput:
    return InvalidInput(f"escrow: {message}", fields=[{"path": "escrow", "reason": message}])


def check_blob(blob: str, *, device_id: str, key_id: str,
               recovery_key: RecoveryPublicKey | None) -> dict[str, Any]:
    """The blob's public fields if it may be stored for this device, else the error to send."""
    if recovery_key is None:
        raise RecoveryKeyNotConfigured("This server has no recovery public key configured "
                                       "(setting recovery_public_key_path); nothing to escrow.")
    if not KEY_ID.match(key_id):
        raise InvalidInput("key_id: must be 32 lower-case hex characters",
                           fields=[{"path": "key_id", "reason": "not a key id"}])
    try:
        doc = escrow_format.describe(blob.encode("utf-8"))
        ephemeral = base64.b64decode(doc["ephemeral"], validate=True)
        ciphertext = base64.b64decode(doc["ciphertext"], validate=True)
    except (escrow_format.EscrowError, binascii.Error, ValueError) as exc:
        raise _invalid(f"not a usable escrow blob: {exc}") from None
    if len(ephemeral) != 32 or len(ciphertext) != 48:
        raise _invalid("not a wrapped 32-byte device key (wrong ephemeral or ciphertext size)")
    if doc["device_id"] != device_id:
        raise _invalid(f"wrapped for device {doc['device_id']!r}, not for this device")
    if doc["key_id"] != key_id:
        raise _invalid(f"wrapped key id {doc['key_id']} differs from key_id {key_id}")
    if doc["recipient"] != recovery_key.fingerprint:
        raise RecoveryKeyMismatch(f"The key is wrapped to recovery key {doc['recipient']}, but "
                                  f"this server's recovery key is {recovery_key.fingerprint}; "
                                  "wrap it again to the key in the last reply.")
    return doc


def accept_upload(session: Session, *, device_id: str, key_id: str, blob: str,
                  recovery_key: RecoveryPublicKey | None, source_ip: str | None,
                  now: datetime) -> Receipt:
    """Store a device's escrow (idempotent); the first upload of a key is audited."""
    doc = check_blob(blob, device_id=device_id, key_id=key_id, recovery_key=recovery_key)
    held = escrow_store.escrows_of(session, device_id)
    if len(held) >= MAX_KEYS_PER_DEVICE and not any(
            (r.key_id, r.recipient) == (key_id, doc["recipient"]) for r in held):
        raise Conflict(f"this device has {len(held)} escrowed keys already; an administrator "
                       "must look at why it keeps making new ones")
    stored = escrow_store.store(session, device_id=device_id, key_id=key_id,
                                recipient=doc["recipient"], blob=blob, now=now)
    if stored.created:
        audit.record(session, Actor(f"device:{device_id}", source_ip=source_ip),
                     "device.escrow", target=device_id, now=now,
                     details={"key_id": key_id, "recipient": doc["recipient"]})
    return Receipt(device_id, key_id, doc["recipient"], stored.created,
                   stored.escrow.created_at)


@dataclass(frozen=True)
class Export:
    """An escrowed key to hand to the offline recovery tool, and what else the device has."""

    blob: bytes
    device_id: str
    key_id: str
    recipient: str
    created_at: datetime
    other_key_ids: tuple[str, ...]


def export(session: Session, device_id: str, *, actor: Actor, now: datetime,
           key_id: str | None = None) -> Export:
    """The newest escrow of the device (or the one for `key_id`), audited."""
    if device_store.get_device(session, device_id) is None:
        raise NotFound(f"no device {device_id}")
    rows = escrow_store.escrows_of(session, device_id)
    chosen = [r for r in rows if key_id is None or r.key_id == key_id]
    if not chosen:
        held = ", ".join(sorted({r.key_id for r in rows})) or "none"
        raise NotFound(f"device {device_id} has no escrowed key"
                       + (f" with key id {key_id} (held: {held})" if key_id else
                          ": its agent never uploaded one (was a recovery public key "
                          "configured when it last checked in?)"))
    row = chosen[0]
    audit.record(session, actor, "escrow.export", target=device_id, now=now,
                 details={"key_id": row.key_id, "recipient": row.recipient})
    others = tuple(sorted({r.key_id for r in rows} - {row.key_id}))
    return Export(row.blob.encode("utf-8"), device_id, row.key_id, row.recipient,
                  row.created_at, others)


def held_key_ids(session: Session, device_id: str) -> list[dict[str, str]]:
    """The device's escrowed keys (no blobs), newest first: for the assessment's evidence."""
    return [{"key_id": r.key_id, "recipient": r.recipient,
             "escrowed_at": rfc3339(r.created_at)}
            for r in escrow_store.escrows_of(session, device_id)]
