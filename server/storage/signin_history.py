"""What the detectors need to know about employees, read in batches: recent sign-ins, the latest
placeable successful sign-in before a time (however old), learning-period counts, known places
and where the employees' laptops checked in from. Plus the writes that teach them (known
places, device locations). Every read takes many employees at once: ingestion asks once per
batch, not once per sign-in.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Connection, Table, any_, bindparam, false, func, select, true
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import ARRAY

from server.storage.models import Employee
from server.storage.pg_copy import driver_connection
from server.storage.signin_models import DeviceLocation, KnownPlaceRow, SignInRow

SIGNINS: Table = SignInRow.__table__  # type: ignore[assignment]
KNOWN: Table = KnownPlaceRow.__table__  # type: ignore[assignment]
LOCATIONS: Table = DeviceLocation.__table__  # type: ignore[assignment]
EMPLOYEES: Table = Employee.__table__  # type: ignore[assignment]
CHUNK = 900  # ids per IN list (SQLite allows 32,766 variables; keep statements small)

# What a LocatedSignIn needs, in this order.
HISTORY_COLUMNS = (SIGNINS.c.employee_id, SIGNINS.c.source_system, SIGNINS.c.source_event_id,
                   SIGNINS.c.occurred_at, SIGNINS.c.outcome, SIGNINS.c.identity,
                   SIGNINS.c.source_ip, SIGNINS.c.application, SIGNINS.c.place_kind,
                   SIGNINS.c.country_code, SIGNINS.c.country_name, SIGNINS.c.city,
                   SIGNINS.c.latitude, SIGNINS.c.longitude, SIGNINS.c.accuracy_radius_km,
                   SIGNINS.c.asn, SIGNINS.c.network_org, SIGNINS.c.is_anonymizer,
                   SIGNINS.c.is_hosting)


def _chunks(ids: Iterable[int]) -> Iterable[list[int]]:
    items = sorted(set(ids))
    for start in range(0, len(items), CHUNK):
        yield items[start:start + CHUNK]


def _among(conn: Connection, column: Any, ids: Iterable[int]) -> Iterable[Any]:
    """`column IN ids` conditions, as few as the dialect allows: one `= ANY(array)` on
    PostgreSQL (one parameter, whatever the count), IN lists of CHUNK ids on SQLite."""
    if conn.dialect.name == "postgresql":
        items = sorted(set(ids))
        if items:
            yield column == any_(bindparam("ids", items, type_=ARRAY(BigInteger)))
        return
    for chunk in _chunks(ids):
        yield column.in_(chunk)


def recent_signins(conn: Connection, employee_ids: Iterable[int], since: datetime,
                   until: datetime) -> list[Any]:
    """Sign-ins of these employees with since <= occurred_at <= until, oldest first."""
    out: list[Any] = []
    for among in _among(conn, SIGNINS.c.employee_id, employee_ids):
        out.extend(conn.execute(
            select(*HISTORY_COLUMNS)
            .where(among, SIGNINS.c.occurred_at >= since,
                   SIGNINS.c.occurred_at <= until)
            .order_by(SIGNINS.c.occurred_at, SIGNINS.c.id)))
    return out


def latest_placeable_success(conn: Connection, employee_ids: Iterable[int],
                             before: datetime) -> list[Any]:
    """For each employee, the newest successful sign-in before `before` from a public place
    with coordinates and no anonymiser/hosting network: one index probe per employee."""
    inner = SIGNINS.alias("x")
    probe = (select(inner.c.id).where(
        inner.c.employee_id == EMPLOYEES.c.id, inner.c.occurred_at < before,
        inner.c.outcome == "success", inner.c.place_kind == "public",
        inner.c.latitude.is_not(None), inner.c.is_anonymizer == false(),
        inner.c.is_hosting == false())
        .order_by(inner.c.occurred_at.desc(), inner.c.id.desc()).limit(1)
        .correlate(EMPLOYEES).scalar_subquery())
    out: list[Any] = []
    for among in _among(conn, EMPLOYEES.c.id, employee_ids):
        found = [i for i in conn.execute(select(probe).where(among))
                 .scalars() if i is not None]
        if found:
            out.extend(conn.execute(select(*HISTORY_COLUMNS).where(SIGNINS.c.id.in_(found))))
    return out


def baselines(conn: Connection, employee_ids: Iterable[int], cap: int
              ) -> dict[int, tuple[datetime | None, int]]:
    """(first sign-in time, number of sign-ins counted up to `cap`) per employee; both are
    index-only probes, so an employee with a long history costs no more than a new one."""
    first = (select(func.min(SIGNINS.c.occurred_at))
             .where(SIGNINS.c.employee_id == EMPLOYEES.c.id).correlate(EMPLOYEES)
             .scalar_subquery())
    capped = (select(SIGNINS.c.id).where(SIGNINS.c.employee_id == EMPLOYEES.c.id)
              .limit(max(cap, 1)).correlate(EMPLOYEES).subquery())
    count = select(func.count()).select_from(capped).correlate(EMPLOYEES).scalar_subquery()
    out: dict[int, tuple[datetime | None, int]] = {}
    for among in _among(conn, EMPLOYEES.c.id, employee_ids):
        for employee_id, first_at, counted in conn.execute(
                select(EMPLOYEES.c.id, first, count).where(among)):
            out[employee_id] = (first_at, counted)
    return out


def known_places(conn: Connection, employee_ids: Iterable[int]) -> list[Any]:
    """Every known place (used countries, confirmed places and networks) of these employees."""
    out: list[Any] = []
    for among in _among(conn, KNOWN.c.employee_id, employee_ids):
        out.extend(conn.execute(select(KNOWN).where(among)
                                .order_by(KNOWN.c.id)))
    return out


def _insert_ignoring(conn: Connection, table: Any, rows: Sequence[dict[str, Any]]) -> int:
    """Insert rows, silently skipping those that hit a unique constraint; returns how many
    were new."""
    if not rows:
        return 0
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    result = conn.execute(dialect.insert(table).on_conflict_do_nothing(), list(rows))
    return max(result.rowcount, 0)


# known_places columns as ingestion writes them, with their PostgreSQL array types.
_KNOWN_COLUMNS = (("employee_id", "bigint"), ("place_key", "text"), ("kind", "text"),
                  ("confirmed", "boolean"), ("country_code", "text"), ("country_name", "text"),
                  ("city", "text"), ("latitude", "float8"), ("longitude", "float8"),
                  ("accuracy_radius_km", "float8"), ("asn", "bigint"), ("signin_id", "bigint"),
                  ("created_at", "timestamptz"))
_KNOWN_NAMES = ", ".join(name for name, _ in _KNOWN_COLUMNS)
_PG_ADD_KNOWN = (f"INSERT INTO known_places ({_KNOWN_NAMES}) SELECT * FROM unnest("
                 + ", ".join(f"%s::{kind}[]" for _, kind in _KNOWN_COLUMNS)
                 + ") ON CONFLICT (employee_id, place_key) DO NOTHING")


def add_known_places(conn: Connection, rows: Sequence[dict[str, Any]]) -> int:
    """Remember places (dicts of known_places columns); ones already known are kept as is.
    Returns how many were new. On PostgreSQL one statement of arrays, however many rows:
    ingestion learns a country for most employees it meets, thousands per batch."""
    if not rows or conn.dialect.name != "postgresql":
        return _insert_ignoring(conn, KNOWN, rows)
    arrays = [[row[name] for row in rows] for name, _ in _KNOWN_COLUMNS]
    with driver_connection(conn).cursor() as cur:
        cur.execute(_PG_ADD_KNOWN, arrays)
        return max(cur.rowcount, 0)


def confirm_known_place(conn: Connection, row: dict[str, Any]) -> None:
    """Remember a confirmed place, upgrading an unconfirmed one with the same key."""
    conn.execute(KNOWN.update().where(KNOWN.c.employee_id == row["employee_id"],
                                      KNOWN.c.place_key == row["place_key"])
                 .values(confirmed=true()))
    _insert_ignoring(conn, KNOWN, [row])


def device_locations(conn: Connection, employee_ids: Iterable[int], since: datetime,
                     until: datetime) -> list[Any]:
    """Check-in locations of these employees' laptops between `since` and `until`."""
    out: list[Any] = []
    for among in _among(conn, LOCATIONS.c.employee_id, employee_ids):
        out.extend(conn.execute(
            select(LOCATIONS).where(among,
                                    LOCATIONS.c.seen_at >= since,
                                    LOCATIONS.c.seen_at <= until)
            .order_by(LOCATIONS.c.seen_at)))
    return out


def record_device_location(conn: Connection, row: dict[str, Any]) -> bool:
    """Store one check-in location unless this device, window and address have one already."""
    return _insert_ignoring(conn, LOCATIONS, [row]) == 1
