"""An employee's newest 50 sign-ins ("my sign-ins" in the tray) on a big table, PostgreSQL.

Loads `--rows` sign-ins (default 5,000,000) from `--employees` employees (default 50,000)
with COPY into a freshly migrated database (indexes rebuilt after the load, as a bulk restore
would), 2% of them flagged, then times `storage.signins.employee_signins` — the real query
function behind GET /api/v1/me/logins, with its flags and answers — for random employees, first
pages and second pages (cursor). Baseline, same run: the bare indexed SELECT through psycopg.
Goal (issue 4): p99 < 10 ms.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from benchmarks import report
from benchmarks.ingest import _drop_postgres, _postgres_url
from server.migrations import upgrade
from server.storage import signins
from server.storage.db import Database

START = datetime(2026, 1, 1, tzinfo=UTC)
PLACES = [("GB", "United Kingdom", "London", 51.5, -0.12, 20.0, "81.2.69.142"),
          ("JP", "Japan", "Tokyo", 35.68, 139.75, 20.0, "203.178.128.1"),
          ("SE", "Sweden", "Stockholm", 59.33, 18.05, 200.0, "89.160.20.112"),
          ("US", "United States", None, 37.75, -97.82, 1000.0, "8.8.8.8")]
INDEXES = ["ix_signins_employee_time", "ix_signins_occurred_at"]


def _load(db: Database, rows: int, employees: int) -> float:
    """COPY employees and sign-ins; returns seconds spent."""
    started = time.perf_counter()
    rng = random.Random(5)
    with db.engine.begin() as conn:
        raw = conn.connection.driver_connection
        with raw.cursor() as cur:
            with cur.copy("COPY employees (id, email, home_country, created_at) FROM STDIN") as cp:
                for n in range(1, employees + 1):
                    cp.write_row((n, f"u{n}@corp.example", "GB", START))
            cur.execute("SELECT setval('employees_id_seq', %s)", (employees,))
            for name in INDEXES:
                cur.execute(f"DROP INDEX {name}")
            cur.execute("ALTER TABLE signins DROP CONSTRAINT uq_signins_source_event")
            span = 180 * 86400
            columns = ", ".join(signins.COLUMNS)
            with cur.copy(f"COPY signins ({columns}) FROM STDIN") as cp:
                for i in range(rows):
                    usual = rng.random() < 0.9  # mostly from home, sometimes elsewhere
                    place = PLACES[0 if usual else rng.randrange(len(PLACES))]
                    country, name, city, lat, lon, radius, ip = place
                    flagged = 1 if rng.random() < 0.02 else 0
                    at = START + timedelta(seconds=rng.randrange(span))
                    cp.write_row((rng.randrange(1, employees + 1), "someone", at, at, "okta",
                                  f"ev{i}", ip, "Okta", "Chrome", "success", None, "public",
                                  country, name, city, lat, lon, radius, None, None, False,
                                  False, None, flagged, None))
        _finish(conn)
    return time.perf_counter() - started


def _finish(conn) -> None:
    """Rebuild the indexes and constraint, add flags to flagged rows, analyse."""
    conn.exec_driver_sql("SET maintenance_work_mem = '512MB'")
    conn.exec_driver_sql("ALTER TABLE signins ADD CONSTRAINT uq_signins_source_event "
                         "UNIQUE (source_system, source_event_id)")
    conn.exec_driver_sql("CREATE INDEX ix_signins_employee_time ON signins "
                         "(employee_id, occurred_at DESC, id DESC)")
    conn.exec_driver_sql("CREATE INDEX ix_signins_occurred_at ON signins (occurred_at)")
    conn.exec_driver_sql(
        "INSERT INTO signin_flags (signin_id, kind, reason, details) "
        "SELECT id, 'new_country', 'Sign-in from Tokyo, Japan, a country you have not '"
        "|| 'signed in from before (until now: United Kingdom).', '{}'::jsonb "
        "FROM signins WHERE flag_count > 0")
    conn.exec_driver_sql("ANALYZE")


def _percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[int(len(ordered) * 0.99) - 1]


def _time_pages(db: Database, employees: int, queries: int) -> dict[str, list[float]]:
    rng = random.Random(9)
    out: dict[str, list[float]] = {"first": [], "second": [], "bare": []}
    with db.engine.connect() as conn:
        raw = conn.connection.driver_connection
        for i in range(queries + 200):  # the first 200 warm the caches and are not counted
            employee = rng.randrange(1, employees + 1)
            conn.exec_driver_sql("SELECT 1")  # the transaction's BEGIN is not the query's cost
            t0 = time.perf_counter()
            page = signins.employee_signins(conn, employee, limit=50)
            t1 = time.perf_counter()
            if page:
                last = page[-1]
                signins.employee_signins(conn, employee, limit=50,
                                         before=(last["occurred_at"], last["id"]))
            t2 = time.perf_counter()
            with raw.cursor() as cur:
                cur.execute("SELECT * FROM signins WHERE employee_id = %s "
                            "ORDER BY occurred_at DESC, id DESC LIMIT 50", (employee,))
                cur.fetchall()
            t3 = time.perf_counter()
            if i >= 200:
                out["first"].append(t1 - t0)
                out["second"].append(t2 - t1)
                out["bare"].append(t3 - t2)
            conn.rollback()
    return out


def main(argv: list[str] | None = None) -> None:
    """Load the table, then print p50/p99 of the query function against the bare query."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.my_logins")
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--employees", type=int, default=50_000)
    parser.add_argument("--queries", type=int, default=2_000)
    args = parser.parse_args(argv)
    url = _postgres_url()
    try:
        upgrade(url)
        db = Database(url, pool_size=1)
        try:
            seconds = _load(db, args.rows, args.employees)
            with db.engine.connect() as conn:
                size = conn.execute(text("SELECT pg_size_pretty(pg_total_relation_size("
                                         "'signins'))")).scalar()
            report.header(f"my sign-ins: newest 50 of one employee among {args.rows:,} rows "
                          f"from {args.employees:,} employees (PostgreSQL, table {size})")
            report.figure("load with COPY + index build", args.rows / seconds, "rows/s")
            timings = _time_pages(db, args.employees, args.queries)
        finally:
            db.dispose()
    finally:
        _drop_postgres(url)
    bare50, bare99 = _percentiles(timings["bare"])
    for name in ("first", "second"):
        p50, p99 = _percentiles(timings[name])
        report.ratio(f"employee_signins p50, {name} page", p50 * 1000, bare50 * 1000, "ms",
                     baseline_name="bare SELECT p50")
        report.ratio(f"employee_signins p99, {name} page", p99 * 1000, bare99 * 1000, "ms",
                     baseline_name="bare SELECT p99", goal="p99 < 10 ms")


if __name__ == "__main__":
    main()
