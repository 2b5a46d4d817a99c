"""Admin API for lost devices: the evidence-based assessment and reporting a device lost
(docs/protocol.md, "Admin API"; docs/lost-devices.md). Both are audited by the service."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from server.api.deps import Principal, context, require
from server.services import lost_devices

router = APIRouter(prefix="/api/v1/admin/devices", tags=["admin"])


class LostReport(BaseModel):
    note: str | None = Field(None, max_length=1000,
                             description="Free text for the audit log, e.g. a ticket number.")


@router.get("/{device_id}/assessment")
def assessment(device_id: str, request: Request,
               principal: Principal = Depends(require("devices.assess"))) -> dict[str, Any]:
    """Verdict (no_fresh_plaintext, possible_exposure, likely_exposure, unknown), reasons,
    evidence and timeline for one device, as of now."""
    ctx = context(request)
    with ctx.db.transaction() as session:
        return lost_devices.assess_device(session, device_id, actor=principal.actor,
                                          now=ctx.now(),
                                          checkin_interval=ctx.settings.checkin_interval)


@router.post("/{device_id}/lost")
def mark_lost(device_id: str, request: Request, body: LostReport | None = None,
              principal: Principal = Depends(require("devices.mark_lost"))) -> dict[str, Any]:
    """Report a device lost: its credentials are revoked, its escrowed key is kept."""
    ctx = context(request)
    with ctx.db.transaction() as session:
        return lost_devices.mark_lost(session, device_id, actor=principal.actor, now=ctx.now(),
                                      note=body.note if body else None)
