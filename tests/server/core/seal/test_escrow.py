"""Key escrow on the server: the recovery key reaches agents in both replies, `PUT
/api/v1/escrow` stores a device's wrapped key once (authenticated, validated), and the export
gives back exactly what was uploaded, audited (both databases)."""

from __future__ import annotations

import os

from rules import escrow as escrow_format
from server.services import escrow
from server.services.audit import Actor
from server.services.errors import NotFound
from server.storage import audit as audit_store

from .conftest import wrap

KEY = bytes(range(32))


def put(h, device, blob: str, key_id: str | None = None):
    from agent.seal.format import key_id as format_key_id

    body = {"key_id": key_id or format_key_id(KEY).hex(), "escrow": blob}
    return h.client.put("/api/v1/escrow", json=body, headers=h.auth(device))


def actions(h, action: str) -> list:
    with h.ctx.db.transaction() as s:
        return [(e.actor, e.target, e.details) for e in audit_store.entries(s, action=action)]


def test_recovery_key_is_in_enrol_and_checkin_replies(escrow_harness, make_harness, recovery):
    device = escrow_harness.enroll()
    assert device["recovery_public_key"] == recovery.public_text
    reply = escrow_harness.checkin(device).json()
    assert reply["recovery_public_key"] == recovery.public_text
    plain = make_harness()  # the same database, served without a recovery key
    assert plain.checkin(device).json()["recovery_public_key"] is None
    assert plain.enroll(name="LAPTOP-2")["recovery_public_key"] is None


def test_upload_is_stored_once_and_exported_byte_for_byte(escrow_harness, recovery):
    h = escrow_harness
    device = h.enroll()
    blob = wrap(KEY, recovery, device["device_id"])
    first = put(h, device, blob)
    assert first.status_code == 201, first.text
    assert first.json()["created"] is True
    assert first.json()["recipient"] == recovery.fingerprint
    again = put(h, device, wrap(KEY, recovery, device["device_id"]))  # a fresh wrap, same key
    assert (again.status_code, again.json()["created"]) == (200, False)
    assert len(actions(h, "device.escrow")) == 1  # the repeat is not a new fact

    with h.ctx.db.transaction() as s:
        exported = escrow.export(s, device["device_id"], actor=Actor("cli:helpdesk"),
                                 now=h.clock())
    assert exported.blob == blob.encode()  # the first upload, untouched
    assert escrow_format.unwrap_key(exported.blob, recovery.private_raw).secret == KEY
    (entry,) = actions(h, "escrow.export")
    assert entry[:2] == ("cli:helpdesk", device["device_id"])
    assert entry[2]["recipient"] == recovery.fingerprint


def test_upload_needs_a_valid_unrevoked_device(escrow_harness, recovery):
    h = escrow_harness
    device = h.enroll()
    blob = wrap(KEY, recovery, device["device_id"])
    no_auth = h.client.put("/api/v1/escrow", json={"key_id": "00" * 16, "escrow": blob})
    assert (no_auth.status_code, no_auth.json()["error"]) == (401, "device_invalid")
    wrong = put(h, {**device, "device_secret": "not-the-secret"}, blob)
    assert (wrong.status_code, wrong.json()["error"]) == (401, "device_invalid")
    admin, csrf = h.login("security_admin")
    assert admin.post(f"/api/v1/admin/devices/{device['device_id']}/revoke",
                      headers={"X-CSRF-Token": csrf}).status_code == 200
    revoked = put(h, device, blob)
    assert (revoked.status_code, revoked.json()["error"]) == (401, "device_invalid")
    with h.ctx.db.transaction() as s:
        assert escrow.held_key_ids(s, device["device_id"]) == []


def test_blobs_that_cannot_serve_a_recovery_are_refused(escrow_harness, recovery, tmp_path):
    h = escrow_harness
    device, other = h.enroll(), h.enroll(name="LAPTOP-2")
    for blob, key_id, code in [
        (wrap(KEY, recovery, other["device_id"]), None, "validation_failed"),  # other device
        (wrap(KEY, recovery, device["device_id"]), "ab" * 16, "validation_failed"),  # key id
        ('{"format": "heedful-escrow"}', None, "validation_failed"),
        ("not json", None, "validation_failed"),
    ]:
        reply = put(h, device, blob, key_id)
        assert (reply.status_code, reply.json()["error"]) == (422, code), reply.text
    stranger = escrow_format.generate_recovery_keypair()
    foreign = escrow_format.wrap_key(KEY, stranger.public_key, key_id=wrap_kid(),
                                     device_id=device["device_id"]).decode()
    mismatch = put(h, device, foreign)
    assert (mismatch.status_code, mismatch.json()["error"]) == (409, "recovery_key_mismatch")
    with h.ctx.db.transaction() as s:
        assert escrow.held_key_ids(s, device["device_id"]) == []


def wrap_kid() -> str:
    from agent.seal.format import key_id

    return key_id(KEY).hex()


def test_without_a_recovery_key_there_is_nothing_to_escrow(harness, recovery):
    device = harness.enroll()
    reply = put(harness, device, wrap(KEY, recovery, device["device_id"]))
    assert (reply.status_code, reply.json()["error"]) == (409, "recovery_key_not_configured")


def test_export_of_a_device_without_escrow_says_so(escrow_harness):
    h = escrow_harness
    device = h.enroll()
    with h.ctx.db.transaction() as s:
        for device_id, key_id in ((device["device_id"], None), ("no-such-device", None),
                                  (device["device_id"], "ab" * 16)):
            try:
                escrow.export(s, device_id, key_id=key_id, actor=Actor("t"), now=h.clock())
            except NotFound as exc:
                assert device_id in exc.message
            else:
                raise AssertionError("exported nothing without NotFound")
    assert actions(h, "escrow.export") == []


def test_keygen_writes_a_private_key_only_its_owner_can_read(recovery):
    assert os.stat(recovery.private_path).st_mode & 0o777 == 0o600
    pair_public = escrow_format.load_public_key(recovery.public_text)
    assert escrow_format.fingerprint(pair_public) == recovery.fingerprint
    blob = escrow_format.wrap_key(KEY, pair_public, key_id="k", device_id="d")
    assert escrow_format.unwrap_key(blob, recovery.private_raw).secret == KEY


def test_a_device_cannot_pile_up_escrowed_keys(escrow_harness, recovery):
    from agent.seal.format import key_id

    h = escrow_harness
    device = h.enroll()
    for n in range(escrow.MAX_KEYS_PER_DEVICE):
        secret = bytes([n]) * 32
        assert put(h, device, wrap(secret, recovery, device["device_id"]),
                   key_id(secret).hex()).status_code == 201
    extra = bytes([99]) * 32
    refused = put(h, device, wrap(extra, recovery, device["device_id"]), key_id(extra).hex())
    assert (refused.status_code, refused.json()["error"]) == (409, "conflict")
    known = bytes([0]) * 32  # re-sending a key it holds still works
    assert put(h, device, wrap(known, recovery, device["device_id"]),
               key_id(known).hex()).status_code == 200
