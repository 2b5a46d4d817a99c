"""The check-in fast path: `POST /api/v1/checkin` answered straight from ASGI.

Check-ins are nearly all of the server's traffic (every laptop, every minute). Going through
FastAPI's routing, dependency solving and request/response wrappers cost about a quarter of the
server's CPU per check-in (measured, benchmarks/checkin.py), so this middleware — installed
inside the request-id/body-limit/metrics middleware — runs the same `run_checkin` as the
documented FastAPI route and writes the reply itself, with the same JSON error replies.
"""

from __future__ import annotations

import json
from typing import Any

import psycopg
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import SQLAlchemyError

from server.api.agent import json_bytes, run_checkin
from server.api.errors import (
    ErrorReply,
    database_reply,
    service_error_reply,
    validation_reply,
)
from server.context import AppContext
from server.services.errors import ServiceError

PATH = "/api/v1/checkin"


class _Route:
    """What the metrics middleware reads to label the request (like a FastAPI route)."""

    path_format = PATH


class CheckinFastPath:
    """Pure ASGI middleware; everything but POST /api/v1/checkin passes through."""

    def __init__(self, app: Any, ctx: AppContext) -> None:
        self.app, self.ctx = app, ctx

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] != PATH or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        scope["route"] = _Route
        authorization = forwarded = None
        for key, value in scope["headers"]:
            if key == b"authorization":
                authorization = value.decode("latin-1")
            elif key == b"x-forwarded-for":
                forwarded = value.decode("latin-1")
        raw = await _read_body(receive)
        rid = scope.get("state", {}).get("request_id", "")
        peer = scope["client"][0] if scope.get("client") else None
        try:
            outcome = await run_checkin(self.ctx, raw, authorization, peer, forwarded)
        except ServiceError as exc:
            await _send(send, service_error_reply(exc), rid)
        except RequestValidationError as exc:
            await _send(send, validation_reply(exc.errors()), rid)
        except (SQLAlchemyError, psycopg.Error) as exc:
            await _send(send, database_reply(exc, rid), rid)
        else:
            await _respond(send, 200, json_bytes(outcome.reply))


async def _read_body(receive: Any) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    return b"".join(chunks)


async def _send(send: Any, reply: ErrorReply, rid: str) -> None:
    extra = [(k.lower().encode(), v.encode()) for k, v in (reply.headers or {}).items()]
    await _respond(send, reply.status, json.dumps(reply.body(rid)).encode(), extra)


async def _respond(send: Any, status: int, body: bytes,
                   extra: list[tuple[bytes, bytes]] | None = None) -> None:
    headers = [(b"content-type", b"application/json"),
               (b"content-length", str(len(body)).encode()), *(extra or [])]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
