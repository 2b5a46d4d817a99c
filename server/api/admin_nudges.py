"""Admin API for browsing nudges: heed rates and miscategorisation reports (docs/protocol.md,
"Admin API"). Read-only, so nothing is audited (as for every admin read)."""

from __future__ import annotations

from datetime import UTC, date
from typing import Any

from fastapi import APIRouter, Depends, Query, Request

from server.api.deps import Principal, context, require
from server.services import nudge_stats

router = APIRouter(prefix="/api/v1/admin/nudges", tags=["admin"])


@router.get("/heed-rates")
def heed_rates(request: Request,
               group_by: str = Query("category", description="category, country or day"),
               since: date | None = Query(None, description="first UTC day (default: 29 "
                                                             "days before until)"),
               until: date | None = Query(None, description="last UTC day (default: today)"),
               category: str | None = Query(None, max_length=64),
               country: str | None = Query(None, description="ISO alpha-2, or 'unknown'"),
               _: Principal = Depends(require("nudges.read"))) -> dict[str, Any]:
    """Nudge outcomes per category, country or day, with heed rate = heeded / (heeded +
    proceeded)."""
    ctx = context(request)
    with ctx.db.transaction() as session:
        return nudge_stats.heed_rates(session, group_by=group_by,
                                      today=ctx.now().astimezone(UTC).date(), since=since,
                                      until=until, category=category, country=country)


@router.get("/miscategorised")
def miscategorised(request: Request, category: str | None = Query(None, max_length=64),
                   limit: int = 100, offset: int = 0,
                   _: Principal = Depends(require("nudge_reports.read"))) -> dict[str, Any]:
    """Sites employees explicitly reported as wrongly categorised, most reported first."""
    with context(request).db.transaction() as session:
        return nudge_stats.miscategorised_sites(session, category=category, limit=limit,
                                                offset=offset)
