"""How the Ingestor stores batches, on both databases: a batch mixing stored and new sign-ins
(PostgreSQL's fast COPY refuses it and the batch takes the careful path), caches smaller than
a batch, and the process settings of batch mode, restored afterwards."""

from __future__ import annotations

import gc
import sys
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from server.ingest import parse
from server.services.ingestion import Ingestor
from server.storage.models import Notification
from server.storage.signin_models import KnownPlaceRow, SignInFlag

START = datetime(2024, 4, 1, 8, 0, tzinfo=UTC)
NOW = datetime(2024, 5, 1, tzinfo=UTC)


def _lines(kit, who: str, days: int = 10) -> list[str]:
    """`days` daily London sign-ins (past the learning period), then Tokyo 40 minutes after
    the last one: new country and impossible travel."""
    rows = [f"{who},{(START + timedelta(days=d)).isoformat()},{kit.LONDON},success,{who}-{d}"
            for d in range(days)]
    tokyo = START + timedelta(days=days - 1, minutes=40)
    return [*rows, f"{who},{tokyo.isoformat()},{kit.TOKYO},success,{who}-tokyo"]


def _ingest(app, body: bytes, **limits: int) -> dict:
    with Ingestor(app.ctx.db, geolocator=app.ctx.geolocator, now=lambda: NOW,
                  batch_size=limits.pop("batch_size", 5000)) as ingestor:
        if "identities" in limits:
            ingestor.identities.limit = limits["identities"]
        if "employees" in limits:
            ingestor.history.limit = limits["employees"]
        ingestor.feed(parse("generic-csv", body))
    return ingestor.report.as_dict()


def _count(app, table) -> int:
    with app.ctx.db.transaction() as s:
        return s.scalar(select(func.count()).select_from(table))


def test_a_batch_of_stored_and_new_sign_ins_flags_only_the_new(app, kit) -> None:
    app.add_employee("e1042@corp.example", "GB", ("e1042",))
    lines = _lines(kit, "e1042")
    first = _ingest(app, kit.csv(*lines[:-1]))
    assert first["accepted"] == 10 and first["flagged"] == 0
    with app.ctx.db.transaction() as s:  # the country it learned is remembered
        assert s.scalars(select(KnownPlaceRow.place_key)).all() == ["country:GB"]
    again = _ingest(app, kit.csv(*lines))  # the ten stored ones again, and Tokyo
    assert (again["accepted"], again["duplicates"], again["flagged"]) == (1, 10, 1)
    flagged = [r for r in kit.stored(app) if r["flags"]]
    assert [r["source_event_id"] for r in flagged] == ["e1042-tokyo"]
    assert {f["kind"] for f in flagged[0]["flags"]} == {"new_country", "impossible_travel"}
    assert _count(app, Notification) == 1
    third = _ingest(app, kit.csv(*lines))  # nothing new: nothing flagged twice
    assert (third["accepted"], third["duplicates"], third["flagged"]) == (0, 11, 0)
    assert _count(app, Notification) == 1 and _count(app, SignInFlag) == 2


def test_caches_smaller_than_a_batch_change_no_verdict(app, kit) -> None:
    people = [f"e{n}" for n in range(1, 7)]
    for who in people:
        app.add_employee(f"{who}@corp.example", "GB", (who,))
    lines = sorted((line for who in people for line in _lines(kit, who)),
                   key=lambda line: line.split(",")[1])  # interleaved, in time order
    report = _ingest(app, kit.csv(*lines), batch_size=4, identities=3, employees=3)
    assert report["accepted"] == len(lines) == 66
    assert report["unmapped"] == 0 and report["flagged"] == 6
    flagged = {r["source_event_id"] for r in kit.stored(app) if r["flags"]}
    assert flagged == {f"{who}-tokyo" for who in people}


def test_batch_mode_is_undone_when_the_run_ends(app, kit) -> None:
    interval = sys.getswitchinterval()
    assert gc.isenabled()
    with Ingestor(app.ctx.db, geolocator=app.ctx.geolocator, now=lambda: NOW) as ingestor:
        assert not gc.isenabled()  # the collector is paused during the run
        writer = ingestor._writer is not None  # PostgreSQL's writer thread
        assert (sys.getswitchinterval() < interval) == writer
        ingestor.feed(parse("generic-csv", kit.csv(*_lines(kit, "e1042"))))
    assert gc.isenabled() and sys.getswitchinterval() == interval
    with Ingestor(app.ctx.db, geolocator=app.ctx.geolocator, pause_gc=False):
        assert gc.isenabled() and sys.getswitchinterval() == interval  # a shared process
