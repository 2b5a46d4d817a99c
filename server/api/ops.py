"""Operations endpoints: liveness, readiness (database reachable and at the newest migration)
and Prometheus metrics."""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from sqlalchemy.exc import SQLAlchemyError

from server.api.deps import context
from server.api.errors import error_response
from server.migrations import current_revision, head_revision

router = APIRouter(tags=["operations"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """Liveness: the process answers. Never touches the database."""
    return {"status": "ok"}


@router.get("/readyz")
def readyz(request: Request) -> Response:
    """Readiness: 200 when the database answers and its schema is at the newest migration."""
    ctx = context(request)
    head = head_revision()
    try:
        current = current_revision(ctx.db.engine)
    except SQLAlchemyError as exc:
        return error_response(request, 503, "database_unavailable",
                              f"The database is unreachable: {type(exc).__name__}.",
                              headers={"Retry-After": "5"})
    if current != head:
        return error_response(request, 503, "schema_outdated",
                              f"The database schema is at {current or 'nothing'}, the server "
                              f"needs {head}: run `heedful-server migrate`.")
    return JSONResponse({"status": "ready", "database": ctx.db.dialect, "schema": current})


@router.get("/metrics")
def metrics(request: Request) -> Response:
    """Prometheus text format; needs `Authorization: Bearer <metrics_token>` when it is set."""
    ctx = context(request)
    expected = ctx.settings.metrics_token
    if expected:
        presented = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(presented.encode(), expected.encode()):
            return error_response(request, 401, "unauthenticated", "Metrics need the "
                                  "metrics token (Authorization: Bearer ...).")
    return PlainTextResponse(ctx.metrics.render(),
                             media_type="text/plain; version=0.0.4; charset=utf-8")
