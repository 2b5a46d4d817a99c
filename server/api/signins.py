"""Sign-in routes for integrations and administrators: `POST /api/v1/ingest/logins` (API token
with the `ingest` scope; the body is parsed as it streams in), the admin listing of stored
sign-ins and the geolocation databases in use (docs/ingest.md, docs/geoip.md)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from anyio import from_thread, to_thread
from fastapi import APIRouter, Depends, Query, Request

from server.api.deps import Principal, client_ip, context, require
from server.context import AppContext
from server.ingest import parse
from server.ingest.formats import UnknownFormat, get_parser
from server.services import api_tokens, visibility
from server.services.errors import InvalidInput, NotFound, Unauthenticated
from server.services.ingest_input import ingest_input
from server.services.ingestion import Ingestor
from server.services.my_logins import MAX_PAGE, decode_cursor, encode_cursor
from server.services.signin_records import signin_json
from server.storage import employees as employee_store
from server.storage import signins as signin_store

router = APIRouter(prefix="/api/v1", tags=["sign-ins"])


def _bearer(request: Request) -> str:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("Send an API token with the ingest scope "
                              "(Authorization: Bearer ...).")
    return token.strip()


def _authenticate(ctx: AppContext, token: str) -> str:
    with ctx.db.transaction() as session:
        return api_tokens.authenticate(session, token, scope="ingest", now=ctx.now()).actor_name


def _ingest(ctx: AppContext, format_name: str, year: int | None,
            chunks: Iterator[bytes]) -> dict[str, Any]:
    data = ingest_input(format_name, chunks)
    with Ingestor(ctx.db, geolocator=ctx.geolocator, now=ctx.now, pause_gc=False) as ingestor:
        ingestor.feed(parse(format_name, data, year=year, now=ctx.now()))
    return ingestor.report.as_dict()


@router.post("/ingest/logins", responses={401: {"description": "unauthenticated"},
                                          403: {"description": "forbidden (no ingest scope)"},
                                          413: {"description": "body_too_large"},
                                          422: {"description": "validation_failed"}})
async def ingest_logins(request: Request,
                        format: str = Query(..., description="okta, entra, sshd, windows, "
                                            "generic, generic-csv or generic-ndjson"),
                        year: int | None = Query(None, ge=1970, le=2200)) -> dict[str, Any]:
    """Ingest sign-ins in the given format; reports accepted, duplicates, unmapped, rejected."""
    ctx = context(request)
    token = _bearer(request)
    try:
        get_parser(format)
    except UnknownFormat as exc:
        raise InvalidInput(str(exc), fields=[{"path": "format", "reason": "unknown format"}]
                           ) from None
    await to_thread.run_sync(_authenticate, ctx, token)
    stream = request.stream()

    async def next_chunk() -> bytes | None:
        try:
            return await stream.__anext__()
        except StopAsyncIteration:
            return None

    def chunks() -> Iterator[bytes]:
        # Runs in the worker thread: pulls the body from the event loop chunk by chunk, so
        # the body is parsed as it arrives and never held whole (line formats).
        while (chunk := from_thread.run(next_chunk)) is not None:
            if chunk:
                yield chunk

    return await to_thread.run_sync(_ingest, ctx, format, year, chunks())


@router.get("/admin/signins")
def list_signins(request: Request, employee: str | None = None, flagged: bool = False,
                 limit: int = Query(100, ge=1, le=MAX_PAGE), cursor: str | None = None,
                 principal: Principal = Depends(require("signins.read"))
                 ) -> dict[str, Any]:
    """Stored sign-ins newest first, with place, flags (and their details) and answers; the
    help desk sees those of employees who have a case."""
    ctx = context(request)
    with ctx.db.transaction() as session:
        employee_id = None
        if employee is not None:
            person = employee_store.get_by_email(session, employee)
            if person is None:
                raise NotFound(f"no employee {employee}")
            visibility.require_visible(session, principal.role, person.id)
            employee_id = person.id
        rows = signin_store.list_signins(session.connection(), employee_id=employee_id,
                                         flagged=flagged, limit=limit + 1,
                                         before=decode_cursor(cursor) if cursor else None,
                                         only=visibility.employee_filter(principal.role))
    more, rows = len(rows) > limit, rows[:limit]
    return {"signins": [{**signin_json(r, with_details=True), "identity": r["identity"],
                         "employee_id": r["employee_id"]} for r in rows],
            "next_cursor": encode_cursor(rows[-1]["occurred_at"], rows[-1]["id"])
            if more else None}


@router.get("/admin/geoip")
def geoip(request: Request, _: Principal = Depends(require("signins.read"))
          ) -> dict[str, Any]:
    """The geolocation databases in use, their build dates, and the 2018-demo warning."""
    ctx = context(request)
    if ctx.geolocator is None:
        return {"configured": False, "warning": "No GeoIP2 City database: sign-ins are stored "
                "without places. See docs/geoip.md.", "client_ip": client_ip(request)}
    return {"configured": True, **ctx.geolocator.describe()}
