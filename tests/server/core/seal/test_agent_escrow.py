"""The agent's side of escrow against the real server over real HTTP (uvicorn on 127.0.0.1):
escrow at enrolment, `not configured` until the server has a recovery key, an upload when one
appears in a check-in reply, no re-upload while nothing changed, and a new upload when the key
changes (both databases)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import uvicorn

from agent import enrolment
from agent.errors import DeviceInvalid
from agent.escrow_upload import ESCROWED, NO_KEY, NOT_CONFIGURED, EscrowUploader
from agent.footprint import Footprint
from agent.ledger import Ledger
from agent.notifications import Notifications
from agent.outbox import Outbox
from agent.rulebook import Rulebook
from agent.seal.keys import DeviceKey, KeyStoreError, load_device_key
from agent.sensors.host import SensorHost
from agent.settings import Settings
from agent.store import Store
from agent.sync import Syncer
from agent.uplink import Uplink
from rules import escrow as escrow_format
from rules.model import Bundle
from server.services import escrow
from server.services.audit import Actor
from server.storage.devices import get_state


@contextmanager
def serve(app) -> Iterator[str]:
    """The app on a real socket (uvicorn in a thread) for the agent's real HTTP client."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None,
                                           access_log=False, lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.fixture
def live(escrow_harness) -> Iterator[tuple]:
    with serve(escrow_harness.app) as url:
        yield escrow_harness, url


def exported_key(h, device_id: str, recovery) -> bytes:
    with h.ctx.db.transaction() as s:
        blob = escrow.export(s, device_id, actor=Actor("test"), now=h.clock()).blob
    return escrow_format.unwrap_key(blob, recovery.private_raw).secret


def test_enrolment_escrows_the_new_device_key(live, recovery, tmp_path: Path):
    h, url = live
    h.add_employee()
    store = Store(tmp_path / "agent")
    try:
        enrolled = enrolment.enroll(store, url, h.issue_token(), ledger=Ledger(store))
        record = EscrowUploader(store.home, store).record()
        key = load_device_key(store.home, create=False)
        ledger = [e.kind for e in Ledger(store).entries(limit=10)]
    finally:
        store.close()
    assert record["status"] == ESCROWED and record["recipient"] == recovery.fingerprint
    assert record["key_id"] == key.key_id.hex()
    assert exported_key(h, enrolled.device_id, recovery) == key.key
    assert "escrow" in ledger


def test_checkin_replies_drive_uploads(live, make_harness, recovery, tmp_path: Path):
    h, url = live
    device = h.enroll()
    store = Store(tmp_path / "agent")
    keys = {"current": DeviceKey(bytes(range(32)), "os key store", False)}
    loads = []

    def load(home: Path, create: bool) -> DeviceKey:
        loads.append(create)
        if keys["current"] is None:
            raise KeyStoreError(f"no device key in {home}")
        return keys["current"]

    uploader = EscrowUploader(store.home, store, load_key=load)
    uplink = Uplink(url, credential=(device["device_id"], device["device_secret"]))
    try:
        assert uploader.sync(uplink, device["device_id"], None) == NOT_CONFIGURED
        assert loads == []  # nothing to escrow to: the key is not even read
        keys["current"] = None
        assert uploader.sync(uplink, device["device_id"], recovery.public_text) == NO_KEY
        keys["current"] = DeviceKey(bytes(range(32)), "os key store", False)
        assert uploader.sync(uplink, device["device_id"], recovery.public_text) == ESCROWED
        assert uploader.sync(uplink, device["device_id"], recovery.public_text,
                             key_id=keys["current"].key_id.hex()) == ESCROWED
        assert len(loads) == 2  # the second sync saw nothing new: no reload, no upload
        keys["current"] = DeviceKey(bytes(range(1, 33)), "os key store", False)
        h.clock.advance(minutes=1)
        assert uploader.sync(uplink, device["device_id"], recovery.public_text,
                             key_id=keys["current"].key_id.hex()) == ESCROWED
        with h.ctx.db.transaction() as s:
            held = escrow.held_key_ids(s, device["device_id"])
        assert len(held) == 2
        stranger = escrow_format.generate_recovery_keypair().public_text()
        status = uploader.sync(uplink, device["device_id"], stranger)
        assert status.startswith("failed:") and "recovery key" in status
        assert uploader.status() == status  # what the next check-in's state.escrow says
        admin, csrf = h.login("security_admin")
        admin.post(f"/api/v1/admin/devices/{device['device_id']}/revoke",
                   headers={"X-CSRF-Token": csrf})
        with pytest.raises(DeviceInvalid):
            uploader.sync(uplink, device["device_id"], recovery.public_text)
    finally:
        uplink.close()
        store.close()
    assert exported_key(h, device["device_id"], recovery) == bytes(range(1, 33))


def test_syncer_reports_escrow_in_state_and_uploads_after_checkin(live, recovery,
                                                                  tmp_path: Path):
    h, url = live
    device = h.enroll()
    store = Store(tmp_path / "agent")
    outbox, settings = Outbox(store), Settings({}, env={})
    rulebook = Rulebook(store, defaults=lambda: Bundle(version=1))
    rulebook.load([])
    enrolment.save(store, enrolment.Enrolment(url, device["device_id"],
                                              device["device_secret"]))
    key = load_device_key(store.home)  # as the seal sensor does when the agent starts
    syncer = Syncer(home=store.home, store=store, outbox=outbox, ledger=Ledger(store),
                    notifications=Notifications(store), rulebook=rulebook,
                    host=SensorHost([], store=store, outbox=outbox, platform=None,
                                    settings=settings),
                    footprint=Footprint(), settings=settings, os_name="linux")
    try:
        assert syncer.state()["escrow"] == NOT_CONFIGURED
        syncer.checkin()
        assert syncer.state()["escrow"] == ESCROWED
        syncer.checkin()  # the server now sees the status in state.escrow
    finally:
        syncer.close()
        store.close()
    with h.ctx.db.transaction() as s:
        assert get_state(s, device["device_id"]).state["escrow"] == ESCROWED
    assert exported_key(h, device["device_id"], recovery) == key.key
