"""Pull connectors into the database against a real local HTTP server replaying recorded
vendor pages (cursor kept in the database, resumable after a crash, also from the command
line), and the laptop's own signals through real check-ins: laptop_signin events become
sign-ins, and the check-in location feeds the away-from-device detector."""

from __future__ import annotations

import importlib.util
import json
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from server.cli import main
from server.ingest.connectors import ConnectorError, GraphSignInConnector, OktaLogConnector
from server.services import connector_runs
from server.services.ingestion import Ingestor
from server.storage import connector_cursors

_RECORDED = Path(__file__).resolve().parent.parent / "ingest" / "test_connectors.py"
_spec = importlib.util.spec_from_file_location("heedful_connector_replay", _RECORDED)
assert _spec is not None and _spec.loader is not None
replay = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = replay
_spec.loader.exec_module(replay)

SINCE = datetime(2026, 11, 24, tzinfo=UTC)
PAGE2 = "/api/v1/logs?limit=2&after=1795507331412_1&since=2026-11-24T00%3A00%3A00Z"


def okta(server, store) -> OktaLogConnector:
    return OktaLogConnector(server.base, "test-token", cursor_store=store, since=SINCE,
                            limit=2, sleep=lambda s: None, clock=lambda: replay.CLOCK)


def test_okta_pull_resumes_from_the_cursor_in_the_database(app, kit) -> None:
    app.add_employee("e1042@corp.example", "GB", ("e1042",))
    with replay.ReplayServer("okta-logs-session.json") as server:
        server.fail_next(PAGE2)  # the run dies after page 1
        store = connector_runs.DatabaseCursorStore(app.ctx.db, app.clock)
        with pytest.raises(ConnectorError, match="answered 500"), \
                Ingestor(app.ctx.db, geolocator=app.ctx.geolocator) as ingestor:
            connector_runs.pull(okta(server, store), ingestor)
        assert len(kit.stored(app)) == 2  # page 1 was committed before the crash
        with app.ctx.db.transaction() as s:
            assert connector_cursors.get_cursor(s, f"okta:{server.base}").endswith(
                PAGE2[len("/api/v1/logs"):])
        fresh = connector_runs.DatabaseCursorStore(app.ctx.db, app.clock)  # a new process
        with Ingestor(app.ctx.db, geolocator=app.ctx.geolocator) as ingestor:
            result = connector_runs.pull(okta(server, fresh), ingestor)
        assert server.requests[-3][0] == PAGE2
    assert result["pages"] == 2 and result["accepted"] == 2
    rows = kit.stored(app)
    assert len(rows) == 4 and len({r["source_event_id"] for r in rows}) == 4
    assert {r["source_system"] for r in rows} == {"okta"}


def test_graph_pull_into_the_database(app, kit) -> None:
    app.add_employee("e1042@corp.example", "GB")
    with replay.ReplayServer("graph-signins-session.json") as server:
        store = connector_runs.DatabaseCursorStore(app.ctx.db, app.clock)
        connector = GraphSignInConnector("tkn", cursor_store=store, since=SINCE, page_size=2,
                                         base_url=server.base + "/v1.0", sleep=lambda s: None)
        with Ingestor(app.ctx.db, geolocator=app.ctx.geolocator) as ingestor:
            first = connector_runs.pull(connector, ingestor)
        with Ingestor(app.ctx.db, geolocator=app.ctx.geolocator) as ingestor:
            second = connector_runs.pull(connector, ingestor)  # the next run: one repeat
    assert (first["pages"], first["accepted"], first["unmapped"]) == (2, 4, 2)
    assert (second["accepted"], second["duplicates"]) == (0, 1)
    with app.ctx.db.transaction() as s:
        cursor = json.loads(connector_cursors.get_cursor(s, f"graph-signins:{server.base}/v1.0"))
    assert cursor["since"] == "2026-11-25T07:30:00Z"


def test_connectors_pull_command(app, kit, tmp_path) -> None:
    env = {"HEEDFUL_DATA_DIR": str(tmp_path / "cli"), "HEEDFUL_CONFIG": "",
           "HEEDFUL_DATABASE_URL": app.settings.database_url, "OKTA_TOKEN": "test-token"}
    runner = CliRunner()
    with replay.ReplayServer("okta-logs-session.json") as server:
        result = runner.invoke(main, ["connectors", "pull", "okta", "--url", server.base,
                                      "--token-env", "OKTA_TOKEN", "--since", "2026-11-24",
                                      "--page-size", "2", "--json"], env=env)
        assert result.exit_code == 0, result.output
        assert all(h["Authorization"] == "SSWS test-token" for _, h in server.requests)
    report = json.loads(result.output)
    assert report["pages"] == 3 and report["accepted"] == 4
    listed = runner.invoke(main, ["connectors", "cursors"], env=env)
    assert f"okta:{server.base}" in listed.output
    missing = runner.invoke(main, ["connectors", "pull", "okta", "--url", server.base,
                                   "--token-env", "NO_SUCH_VARIABLE"], env=env)
    assert missing.exit_code == 1 and "NO_SUCH_VARIABLE" in missing.output


def laptop_event(kind: str, outcome: str, time: str, remote: str | None = None) -> dict:
    return {"id": str(uuid.uuid4()), "type": "laptop_signin", "occurred_at": time,
            "data": {"identity": "alice", "time": time, "outcome": outcome, "kind": kind,
                     "source": "this laptop", "origin": "journal", "method": "gdm-password",
                     "detail": f"{kind} for alice", "remote_address": remote}}


def test_laptop_signins_arrive_through_check_in(app, kit) -> None:
    device = kit.enrol(app, "e1042@corp.example")
    at_keyboard = laptop_event("unlock", "success", "2024-05-02T08:58:00Z")
    # an SSH login from Northern Ireland (GeoLite2 demo: Dromara), near enough to raise nothing
    remote = laptop_event("login", "success", "2024-05-02T08:30:00Z", remote="2.125.160.216")
    events = [at_keyboard, remote]
    here = {"X-Forwarded-For": kit.LONDON}
    body = {"state": {"agent_version": "0.1.0"}, "events": events}
    for _ in range(2):  # a resent batch is stored once
        reply = app.client.post("/api/v1/checkin", json=body,
                                headers={**app.auth(device), **here})
        assert reply.status_code == 200 and len(reply.json()["accepted_event_ids"]) == 2
    rows = {r["source_event_id"]: r for r in kit.stored(app)}
    assert len(rows) == 2 and {r["source_system"] for r in rows.values()} == {"laptop"}
    keyboard = rows[f"{device['device_id']}:{at_keyboard['id']}"]
    assert keyboard["identity"] == "alice" and keyboard["city"] == "Willesden"
    assert keyboard["application"] == "this laptop: unlock (gdm-password)"
    assert rows[f"{device['device_id']}:{remote['id']}"]["city"] == "Dromara"
    # five failed unlocks in a few minutes: one failure-burst flag, one notification
    failures = [laptop_event("failed_unlock", "failure", f"2024-05-02T08:5{m}:00Z")
                for m in range(5)]
    app.client.post("/api/v1/checkin", headers={**app.auth(device), **here},
                    json={"state": {"agent_version": "0.1.0"}, "events": failures})
    flagged = kit.stored(app, flagged=True)
    assert [f["kind"] for r in flagged for f in r["flags"]] == ["failure_burst"]
    notices = app.checkin(device).json()["notifications"]
    assert len(notices) == 1 and notices[0]["title"].startswith("Failed sign-ins")


def test_away_from_device_uses_where_the_laptop_checks_in(app, kit) -> None:
    device = kit.enrol(app, "e1042@corp.example", ("e1042",))
    reply = app.client.post("/api/v1/checkin", json={"state": {"agent_version": "0.1.0"}},
                            headers={**app.auth(device), "X-Forwarded-For": kit.LONDON})
    assert reply.json()["location"]["country_code"] == "GB"
    token = kit.ingest_token(app)
    report = kit.post_logins(app, token, "generic-csv", kit.csv(
        f"e1042,2024-05-02T09:10:00Z,{kit.TOKYO},success,okta-tokyo",
        f"e1042,2024-05-02T09:12:00Z,{kit.LONDON},success,okta-london",
        f"e1042,2024-05-02T11:30:00Z,{kit.TOKYO},success,okta-tokyo-later")).json()
    assert report["accepted"] == 3
    rows = {r["source_event_id"]: r for r in kit.stored(app)}
    away = [f for f in rows["okta-tokyo"]["flags"] if f["kind"] == "away_from_device"]
    assert len(away) == 1
    assert away[0]["reason"].startswith("Sign-in from Tokyo, Japan while your laptop was "
                                        "checking in from Willesden, United Kingdom")
    assert not any(f["kind"] == "away_from_device" for f in rows["okta-london"]["flags"])
    # two hours later the laptop's last check-in is too old to say where it is
    assert not any(f["kind"] == "away_from_device"
                   for f in rows["okta-tokyo-later"]["flags"])
