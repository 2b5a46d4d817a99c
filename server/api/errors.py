"""Every error reply is JSON: `{"error": code, "message": text, "request_id": id}` (+ `fields`
on validation errors). This module maps service errors, validation errors, HTTP errors and
database failures to those replies (docs/protocol.md, "Errors")."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException

from server.services.errors import RateLimited, ServiceError
from server.storage.db import is_unavailable

log = logging.getLogger(__name__)

STATUS = {
    "malformed_json": 400, "token_invalid": 401, "device_invalid": 401, "unauthenticated": 401,
    "forbidden": 403, "csrf_failed": 403, "not_found": 404, "rules_not_published": 404,
    "method_not_allowed": 405, "conflict": 409, "recovery_key_not_configured": 409,
    "recovery_key_mismatch": 409, "token_used": 410, "token_expired": 410,
    "token_revoked": 410, "body_too_large": 413, "validation_failed": 422,
    "bundle_invalid": 422, "rate_limited": 429, "internal_error": 500,
    "database_unavailable": 503,
}
HTTP_CODES = {400: "bad_request", 401: "unauthenticated", 403: "forbidden", 404: "not_found",
              405: "method_not_allowed", 413: "body_too_large", 415: "unsupported_media_type"}
RETRY_AFTER_SECONDS = "5"
M = TypeVar("M", bound=BaseModel)


class BodyTooLarge(StarletteHTTPException):
    """Raised while the body streams in, as soon as it passes the limit."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"Request body is larger than the limit of {limit} bytes.")


def parse_body(model: type[M], raw: bytes) -> M:
    """Validate a JSON body with `model`; errors become the usual 400/422 replies."""
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        errors = [dict(e, loc=("body", *e["loc"])) for e in exc.errors()]
        raise RequestValidationError(errors) from None


def request_id(request: Request) -> str:
    """The request id the middleware assigned (echoed as X-Request-ID)."""
    return getattr(request.state, "request_id", "")


def error_response(request: Request, status: int, code: str, message: str, *,
                   fields: list[dict[str, str]] | None = None,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    """The JSON error reply."""
    body: dict[str, Any] = {"error": code, "message": message, "request_id": request_id(request)}
    if fields is not None:
        body["fields"] = fields
    return JSONResponse(body, status_code=status, headers=headers)


def field_path(loc: tuple[Any, ...]) -> str:
    """`("body", "events", 3, "occurred_at")` -> `events[3].occurred_at`."""
    parts = list(loc[1:] if loc and loc[0] in ("body", "query", "path", "header") else loc)
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "body"


@dataclass(frozen=True)
class ErrorReply:
    """An error reply before it is bound to a request: status, code, message, extras."""

    status: int
    code: str
    message: str
    fields: list[dict[str, str]] | None = None
    headers: dict[str, str] | None = None

    def body(self, rid: str) -> dict[str, Any]:
        """The JSON body for request id `rid`."""
        out: dict[str, Any] = {"error": self.code, "message": self.message, "request_id": rid}
        if self.fields is not None:
            out["fields"] = self.fields
        return out


def service_error_reply(exc: ServiceError) -> ErrorReply:
    """The reply for a deliberate service error."""
    headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, RateLimited) else None
    return ErrorReply(STATUS.get(exc.code, 400), exc.code, exc.message, exc.fields, headers)


def validation_reply(errors: Sequence[Any]) -> ErrorReply:
    """400 malformed_json, or 422 validation_failed naming each field path."""
    if any(e.get("type") == "json_invalid" for e in errors):
        detail = "; ".join(str(e.get("ctx", {}).get("error", e["msg"])) for e in errors)
        return ErrorReply(400, "malformed_json", f"The request body is not valid JSON: {detail}")
    fields = [{"path": field_path(tuple(e["loc"])), "reason": e["msg"]} for e in errors]
    message = "; ".join(f"{f['path']}: {f['reason']}" for f in fields)
    return ErrorReply(422, "validation_failed", message, fields)


def database_reply(exc: Exception, rid: str) -> ErrorReply:
    """503 when the database is unreachable (logged), else 500."""
    if not is_unavailable(exc):
        return unexpected_reply(exc, rid)
    log.error("database unavailable: %s", type(exc).__name__,
              extra={"request_id": rid, "detail": str(exc).splitlines()[0] if str(exc) else ""})
    return ErrorReply(503, "database_unavailable", "The database is unavailable; nothing was "
                      "stored. Retry later.", headers={"Retry-After": RETRY_AFTER_SECONDS})


def unexpected_reply(exc: BaseException, rid: str) -> ErrorReply:
    """500, with the details logged (never shown)."""
    log.error("unhandled error", exc_info=exc, extra={"request_id": rid})
    return ErrorReply(500, "internal_error", "Unexpected server error; nothing was stored. "
                      f"Quote request id {rid}.")


def _respond(request: Request, reply: ErrorReply) -> JSONResponse:
    return JSONResponse(reply.body(request_id(request)), status_code=reply.status,
                        headers=reply.headers)


async def _service_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ServiceError)
    return _respond(request, service_error_reply(exc))


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return _respond(request, validation_reply(exc.errors()))


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = HTTP_CODES.get(exc.status_code, "http_error")
    default = {404: "No such resource.", 405: "Method not allowed for this resource."}
    message = exc.detail if isinstance(exc.detail, str) else default.get(exc.status_code, code)
    if exc.status_code in default and message in ("Not Found", "Method Not Allowed"):
        message = default[exc.status_code]
    return error_response(request, exc.status_code, code, message,
                          headers=getattr(exc, "headers", None))


async def _database_error(request: Request, exc: Exception) -> JSONResponse:
    return _respond(request, database_reply(exc, request_id(request)))


def install(app: FastAPI) -> None:
    """Register the handlers on `app`."""
    app.add_exception_handler(ServiceError, _service_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(SQLAlchemyError, _database_error)
    app.add_exception_handler(psycopg.Error, _database_error)  # the asyncio hot path
