"""The FastAPI application factory.

`create_app(settings, now=..., geolocator=...)` builds an app for tests and embedding;
`app_from_environment()` is the factory uvicorn calls in each worker (`heedful-server run`),
reading settings from HEEDFUL_* and HEEDFUL_CONFIG and configuring JSON logs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from anyio import to_thread
from fastapi import FastAPI
from fastapi.responses import RedirectResponse

from server.api import (
    admin,
    admin_lost_devices,
    admin_nudges,
    admin_rules,
    agent,
    cases,
    errors,
    escrow,
    me,
    ops,
    signins,
)
from server.api.fastpath import CheckinFastPath
from server.api.middleware import RequestMiddleware
from server.console import router as console_router
from server.context import DEFAULT, AppContext, build_context
from server.logs import configure_logging
from server.services.clock import Clock
from server.settings import Settings, load_settings
from server.storage.db import Database


def create_app(settings: Settings | None = None, *, now: Clock | None = None,
               geolocator: Any = DEFAULT, database: Database | None = None,
               checkin_fast_path: bool = True) -> FastAPI:
    """A complete Heedful server app. The database must already be migrated (`/readyz`).

    `checkin_fast_path=False` leaves check-ins to the ordinary FastAPI route (same behaviour,
    more CPU); tests use it to prove the two agree.
    """
    settings = settings or load_settings()
    ctx = build_context(settings, now=now, geolocator=geolocator, database=database)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # Request threads = pooled connections: more threads would only queue for (or open
        # and close) connections; fewer would leave connections idle.
        to_thread.current_default_thread_limiter().total_tokens = settings.db_pool_size
        yield
        ctx.close()

    app = FastAPI(title="Heedful server", version="0.1.0", lifespan=lifespan,
                  docs_url="/api/docs", openapi_url="/api/openapi.json", redoc_url=None,
                  description="Agent protocol and admin API; see docs/protocol.md.")
    app.state.ctx = ctx
    errors.install(app)
    for router in (agent.router, admin.router, admin_rules.router, ops.router, console_router):
        app.include_router(router)
    app.include_router(admin_nudges.router)  # browsing nudges' heed rates (issue 7)
    app.include_router(escrow.router)  # seal on idle: key escrow, lost devices (issue 6)
    app.include_router(admin_lost_devices.router)
    for router in (signins.router, me.router, cases.router):  # sign-ins, cases (issue 4)
        app.include_router(router)

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/console/", status_code=303)

    # Starlette runs the last added middleware first: RequestMiddleware wraps the fast path.
    if checkin_fast_path:
        app.add_middleware(CheckinFastPath, ctx=ctx)
    app.add_middleware(RequestMiddleware, max_body_bytes=settings.max_body_bytes,
                       metrics=ctx.metrics, log_requests=settings.access_log,
                       path_limits={"/api/v1/ingest/": settings.max_ingest_bytes})
    return app


def context_of(app: FastAPI) -> AppContext:
    """The context of an app made by create_app (for tests and the CLI)."""
    return app.state.ctx


def app_from_environment() -> FastAPI:
    """uvicorn's factory: settings from the environment, JSON logs."""
    settings = load_settings()
    configure_logging(settings.log_level)
    return create_app(settings)
