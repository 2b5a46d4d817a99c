"""Sign-in ingestion end to end (parse, map, geolocate, judge, store, notify) in events/s, on
SQLite and PostgreSQL, against loops that only geolocate the same addresses in the same run.

Input: `--events` realistic sign-ins (benchmarks.signin_data): half OpenSSH syslog lines, half
Okta System Log NDJSON events, fed one day at a time in time order, from `--employees`
employees whose addresses repeat as in real logs. Baselines on the same address sequence:
  * geolocate-only, uncached: one geoip2 City lookup per event (the lookup cost alone);
  * geolocate-only, cached: the pipeline's own Geolocator with its LRU cache.
Goal (issue 4): >= 25,000 events/s on PostgreSQL, and >= half the geolocate-only rate.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import create_engine, insert, text
from sqlalchemy.engine import make_url

from benchmarks import report
from benchmarks.signin_data import Person, days, people
from server.ingest import parse
from server.migrations import upgrade
from server.services.geo import Geolocator
from server.services.ingestion import Ingestor
from server.storage.db import Database
from server.storage.models import Employee, EmployeeAlias

POSTGRES_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
NOW = datetime(2026, 11, 1, tzinfo=UTC)


def _add_people(db: Database, persons: list[Person]) -> None:
    with db.transaction() as session:
        conn = session.connection()
        conn.execute(insert(Employee.__table__), [
            {"id": n + 1, "email": p.email, "home_country": "GB", "display_name": None,
             "created_at": NOW} for n, p in enumerate(persons)])
        conn.execute(insert(EmployeeAlias.__table__), [
            {"employee_id": n + 1, "alias": p.alias, "alias_normalised": p.alias}
            for n, p in enumerate(persons)])
        if db.dialect == "postgresql":
            conn.execute(text("SELECT setval('employees_id_seq', :n)"), {"n": len(persons)})


def _ingest(db: Database, data: list[tuple[bytes, bytes, list[str]]]) -> tuple[float, dict]:
    geo = Geolocator()
    try:
        start = time.perf_counter()
        with Ingestor(db, geolocator=geo, now=lambda: NOW) as ingestor:
            for ssh, okta, _ in data:
                ingestor.feed(parse("sshd", ssh))
                ingestor.feed(parse("okta", okta))
        return time.perf_counter() - start, ingestor.report.as_dict()
    finally:
        geo.close()


def _geolocate_only(addresses: list[str], cache_size: int) -> float:
    with Geolocator(cache_size=cache_size) as geo:
        start = time.perf_counter()
        for ip in addresses:
            geo.locate(ip)
        return len(addresses) / (time.perf_counter() - start)


def _postgres_url() -> str:
    name = f"heedful_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(POSTGRES_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return make_url(POSTGRES_ADMIN).set(database=name).render_as_string(hide_password=False)


def _drop_postgres(url: str) -> None:
    admin = create_engine(POSTGRES_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)'))
    admin.dispose()


def _run(name: str, url: str, persons: list[Person], data: list, events: int,
         uncached: float, cached: float) -> None:
    upgrade(url)
    db = Database(url, pool_size=2, max_overflow=0)
    try:
        _add_people(db, persons)
        seconds, counts = _ingest(db, data)
    finally:
        db.dispose()
    rate = events / seconds
    print(f"{name}: {events:,} events in {seconds:.1f} s; report: "
          f"{ {k: v for k, v in counts.items() if k != 'rejected'} }")
    goal = ">= 25,000 events/s" if name == "postgresql" else ""
    report.figure(f"ingest end to end, {name}", rate, "events/s", goal=goal)
    report.ratio(f"{name} vs geolocate-only (uncached)", rate, uncached, "events/s",
                 baseline_name="geoip2 lookups", goal=">= 0.5")
    report.ratio(f"{name} vs geolocate-only (cached)", rate, cached, "events/s",
                 baseline_name="cached lookups")


def main(argv: list[str] | None = None) -> None:
    """Generate the sign-ins, then ingest them into fresh SQLite and PostgreSQL databases."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks ingest")
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--employees", type=int, default=20_000)
    parser.add_argument("--databases", default="sqlite,postgresql")
    args = parser.parse_args(argv)
    persons = people(args.employees)
    data = days(persons, args.events)
    addresses = [ip for _, _, ips in data for ip in ips]
    report.header(f"sign-in ingestion: {args.events:,} events (sshd + Okta), "
                  f"{args.employees:,} employees, {len(set(addresses)):,} distinct addresses")
    uncached = _geolocate_only(addresses, 0)
    cached = _geolocate_only(addresses, 65536)
    report.figure("geolocate-only, uncached", uncached, "lookups/s")
    report.figure("geolocate-only, cached (LRU)", cached, "lookups/s")
    for name in args.databases.split(","):
        if name == "sqlite":
            with tempfile.TemporaryDirectory() as tmp:
                _run(name, f"sqlite:///{Path(tmp) / 'bench.db'}", persons, data, args.events,
                     uncached, cached)
        else:
            url = _postgres_url()
            try:
                _run(name, url, persons, data, args.events, uncached, cached)
            finally:
                _drop_postgres(url)


if __name__ == "__main__":
    main()
