"""The agent protocol's routes (docs/protocol.md). Thin: authenticate, call the service inside
one transaction, shape the reply."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Header, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from server.api import checkin_hooks
from server.api.deps import client_ip, context
from server.api.errors import parse_body
from server.context import AppContext
from server.services import checkin, device_auth, enrollment, my_logins, notifications, publishing
from server.services.device_auth import AuthenticatedDevice
from server.services.errors import ServiceError
from server.services.protocol import (
    AckReply,
    AckRequest,
    CheckinReply,
    CheckinRequest,
    EnrollReply,
    EnrollRequest,
)

router = APIRouter(prefix="/api/v1", tags=["agent"])
ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "device_invalid"}, 413: {"description": "body_too_large"},
    422: {"description": "validation_failed"}, 503: {"description": "database_unavailable"}}


def json_bytes(body: object) -> bytes:
    """Compact UTF-8 JSON (serialised directly: no response-model validation on hot paths)."""
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


def _json(body: object, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json_bytes(body), status_code=status, media_type="application/json",
                    headers=headers)


@router.post("/enroll", status_code=201, response_model=EnrollReply,
             responses={401: {"description": "token_invalid"},
                        410: {"description": "token_used / token_expired / token_revoked"}})
def enroll(body: EnrollRequest, request: Request) -> Response:
    """Exchange a one-time enrolment token for a device credential."""
    ctx = context(request)
    try:
        with ctx.db.transaction() as session:
            reply = enrollment.enroll(session, body, now=ctx.now(), source_ip=client_ip(request),
                                      public_keys=[ctx.signing_key.public_entry()],
                                      checkin_interval=ctx.checkin_policy.interval_seconds,
                                      recovery_public_key=ctx.checkin_policy.recovery_public_key)
    except ServiceError as exc:
        ctx.metrics.enrollments.inc(exc.code)
        raise
    ctx.metrics.enrollments.inc("enrolled")
    return _json(reply, 201)


CHECKIN_BODY = {"required": True, "content": {"application/json": {
    "schema": CheckinRequest.model_json_schema(ref_template="#/components/schemas/{model}")}}}


@router.post("/checkin", response_model=CheckinReply, responses=ERRORS,
             openapi_extra={"requestBody": CHECKIN_BODY})
async def checkin_route(request: Request) -> Response:
    """Report state and events; receive rules version, location and notifications.

    In a running app `server.api.fastpath` answers this path before FastAPI routing (it is
    the hottest path); this route documents it and serves when the fast path is not installed.
    Both run `run_checkin`.
    """
    peer = request.client.host if request.client else None
    outcome = await run_checkin(context(request), await request.body(),
                                request.headers.get("authorization"), peer,
                                request.headers.get("x-forwarded-for"))
    return _json(outcome.reply)


async def run_checkin(ctx: AppContext, raw: bytes, authorization: str | None, peer: str | None,
                      forwarded_for: str | None) -> checkin.CheckinOutcome:
    """Validate, authenticate and record one check-in; raises the usual API errors."""
    body = parse_body(CheckinRequest, raw)
    ip = ctx.ip_resolver.resolve(peer, forwarded_for)
    place = ctx.locate(ip)
    location = checkin.location_of(place)
    now = ctx.now()
    if ctx.checkin_batcher is not None:  # PostgreSQL: on the event loop, batched statements
        device = await device_auth.authenticate_async(ctx.checkin_batcher.pool, authorization,
                                                      ctx.credential_cache)
        row = checkin_hooks.location_row(ctx, device, ip, place, now)
        outcome = await checkin.check_in_async(ctx.checkin_batcher, device, body, ip=ip,
                                               location=location, now=now,
                                               policy=ctx.checkin_policy,
                                               cache=ctx.credential_cache, location_row=row)
    else:
        device, row, outcome = await run_in_threadpool(_checkin_sync, ctx, body, authorization,
                                                       ip, place, location, now)
    ctx.metrics.checkins.inc()
    if outcome.events_received:
        ctx.metrics.events.inc("stored", amount=outcome.events_stored)
        ctx.metrics.events.inc("duplicate",
                               amount=len(outcome.reply["accepted_event_ids"])
                               - outcome.events_stored)
    await checkin_hooks.after_checkin(ctx, device, ip, body, row, now)  # sign-ins (issue 4)
    return outcome


def _checkin_sync(ctx: AppContext, body: CheckinRequest, authorization: str | None,
                  ip: str | None, place: Any, location: dict[str, Any], now: datetime,
                  ) -> tuple[AuthenticatedDevice, dict[str, Any] | None, checkin.CheckinOutcome]:
    with ctx.db.hot_path() as conn:
        device = device_auth.authenticate(conn, authorization, ctx.credential_cache)
        row = checkin_hooks.location_row(ctx, device, ip, place, now)
        return device, row, checkin.check_in(conn, device, body, ip=ip, location=location,
                                             policy=ctx.checkin_policy, now=now,
                                             cache=ctx.credential_cache, location_row=row)


def _etag_matches(header: str | None, etag: str) -> bool:
    if not header:
        return False
    candidates = [c.strip().removeprefix("W/") for c in header.split(",")]
    return "*" in candidates or etag in candidates


@router.get("/rules/current", responses={304: {"description": "not modified"},
                                         404: {"description": "rules_not_published"}, **ERRORS})
def rules_current(request: Request, authorization: str | None = Header(None),
                  if_none_match: str | None = Header(None)) -> Response:
    """The newest signed rule bundle envelope, with ETag / If-None-Match (304)."""
    ctx = context(request)
    with ctx.db.transaction() as session:
        device = device_auth.authenticate(session.connection(), authorization)
        if device.rules_version is not None:
            etag = f'"rules-v{device.rules_version}"'
            if _etag_matches(if_none_match, etag):
                return Response(status_code=304, headers={"ETag": etag})
        version, envelope = publishing.current_envelope(session)
    return Response(envelope.encode("utf-8"), media_type="application/json",
                    headers={"ETag": f'"rules-v{version}"', "Cache-Control": "no-cache"})


@router.post("/notifications/{notification_id}/ack", response_model=AckReply,
             responses={404: {"description": "not_found"}, **ERRORS})
def ack(notification_id: uuid.UUID, request: Request, body: AckRequest | None = None,
        authorization: str | None = Header(None)) -> Response:
    """Acknowledge (and optionally answer) one of this employee's notifications."""
    ctx = context(request)
    response = body.response if body else None
    with ctx.db.transaction() as session:
        device = device_auth.authenticate(session.connection(), authorization)
        reply = notifications.acknowledge(session, device, str(notification_id),
                                          response=response, now=ctx.now())
        # an answered "was this you?" notification answers its sign-in (issue 4)
        my_logins.answer_from_notification(session, employee_id=device.employee_id,
                                           device_id=device.device_id,
                                           notification_id=str(notification_id),
                                           response=reply["response"], now=ctx.now())
    return _json(reply)
