"""Storage queries on both databases: identities, UTC times, idempotent events, the
append-only audit log."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy.exc import IntegrityError

from server.storage import audit as audit_store
from server.storage import checkins as checkin_store
from server.storage import devices as device_store
from server.storage import employees as employee_store
from server.storage.db import Database

NOW = datetime(2024, 5, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def db(migrated_url):
    database = Database(migrated_url)
    yield database
    database.dispose()


def _device(s, employee_id: int) -> str:
    device_id = str(uuid.uuid4())
    device_store.create_device(s, device_id=device_id, employee_id=employee_id, name="L",
                               os="linux", os_version=None, agent_version="1",
                               hardware_id=None, secret_hash="0" * 64,
                               enrollment_token_id=None, now=NOW)
    return device_id


def test_identities_resolve_by_email_or_any_alias(db):
    with db.transaction() as s:
        employee = employee_store.add_employee(
            s, email="E1042@Corp.Example", home_country="gb", now=NOW,
            aliases=["e1042", "CORP\\e1042", "e1042@corp.example.net"])
    with db.transaction() as s:
        for name in ("e1042@corp.example", "E1042", " corp\\E1042 ", "E1042@CORP.EXAMPLE.NET"):
            found = employee_store.find_by_identity(s, name)
            assert found is not None and found.id == employee.id, name
        assert employee_store.find_by_identity(s, "e1043") is None
        assert employee_store.aliases_of(s, [employee.id])[employee.id] == [
            "e1042", "CORP\\e1042", "e1042@corp.example.net"]
        assert employee_store.taken_identities(s, ["Corp\\E1042", "free"]) == ["corp\\e1042"]


def test_alias_is_unique_after_normalisation(db):
    with db.transaction() as s:
        first = employee_store.add_employee(s, email="a@corp.example", home_country="GB",
                                            now=NOW, aliases=["CORP\\a"])
    with pytest.raises(IntegrityError), db.transaction() as s:
        employee_store.add_alias(s, first.id, "corp\\A")


def test_times_come_back_as_aware_utc(db):
    paris = timezone(timedelta(hours=2))
    with db.transaction() as s:
        employee = employee_store.add_employee(
            s, email="t@corp.example", home_country="FR",
            now=datetime(2024, 5, 2, 11, 0, tzinfo=paris))
    with db.transaction() as s:
        stored = employee_store.get_employee(s, employee.id)
    assert stored.created_at == NOW and stored.created_at.tzinfo == UTC


def test_naive_times_are_refused(db):
    with pytest.raises(Exception, match="naive datetime"), db.transaction() as s:
        employee_store.add_employee(s, email="n@corp.example", home_country="FR",
                                    now=datetime(2024, 5, 2, 9, 0))


def _write(db, device_id, employee_id, events, secret_hash="0" * 64):
    item = checkin_store.CheckinItem(device_id=device_id, secret_hash=secret_hash,
                                     employee_id=employee_id, state='{"agent_version": "1"}',
                                     ip="10.0.0.1", country="GB", now=NOW, events=events)
    with db.hot_path() as conn:
        return checkin_store.record_checkin(conn, item, notification_limit=50)


def test_checkin_write_stores_only_new_events(db):
    with db.transaction() as s:
        employee = employee_store.add_employee(s, email="e@corp.example", home_country="GB",
                                               now=NOW)
        device_id = _device(s, employee.id)
    ids = [str(uuid.uuid4()) for _ in range(3)]
    rows = [{"event_id": i, "type": "t", "occurred_at": NOW, "data": {"n": n}}
            for n, i in enumerate(ids)]
    first = _write(db, device_id, employee.id, rows[:2])
    assert (first.device_active, first.events_stored, first.rules_version) == (True, 2, None)
    changed = [dict(rows[0], data={"n": 99}), rows[2]]
    assert _write(db, device_id, employee.id, changed).events_stored == 1
    with db.transaction() as s:
        stored = device_store.events_of(s, device_id)
        state = device_store.get_state(s, device_id)
    assert [(e.event_id, e.data["n"], e.occurred_at) for e in stored] == [
        (ids[0], 0, NOW), (ids[1], 1, NOW), (ids[2], 2, NOW)]
    assert (state.checkins, state.last_ip, state.last_country_code) == (2, "10.0.0.1", "GB")
    assert state.last_checkin_at == NOW


def test_checkin_write_refuses_revoked_device_or_wrong_hash(db):
    with db.transaction() as s:
        employee = employee_store.add_employee(s, email="r@corp.example", home_country="GB",
                                               now=NOW)
        device_id = _device(s, employee.id)
    event = [{"event_id": str(uuid.uuid4()), "type": "t", "occurred_at": NOW, "data": {}}]
    assert not _write(db, device_id, employee.id, event, secret_hash="1" * 64).device_active
    with db.transaction() as s:
        device_store.revoke_device(s, device_id, by="test", now=NOW)
    refused = _write(db, device_id, employee.id, event)
    assert (refused.device_active, refused.events_stored) == (False, 0)
    with db.transaction() as s:
        assert device_store.events_of(s, device_id) == []
        assert device_store.get_state(s, device_id).checkins == 0


def test_audit_log_appends_and_pages(db):
    with db.transaction() as s:
        for n in range(5):
            audit_store.append(s, actor="cli:root", action=f"a.{n}", target=None,
                               source_ip="10.0.0.1", details={"n": n}, now=NOW)
    with db.transaction() as s:
        newest = audit_store.entries(s, limit=2)
        older = audit_store.entries(s, limit=10, before_id=newest[-1].id)
    assert [e.action for e in newest] == ["a.4", "a.3"]
    assert [e.action for e in older] == ["a.2", "a.1", "a.0"]


def test_audit_module_offers_no_way_to_change_history():
    public = {name for name in vars(audit_store) if not name.startswith("_")}
    assert not {n for n in public if any(w in n for w in ("update", "delete", "remove",
                                                          "edit", "purge"))}
