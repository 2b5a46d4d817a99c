"""`PUT /api/v1/escrow`: an agent hands over its seal key, wrapped to the organisation's
recovery public key (docs/protocol.md). Thin: authenticate the device, let the service check
and store the blob in one transaction."""

from __future__ import annotations

from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from server.api.deps import client_ip, context
from server.services import device_auth, escrow
from server.services.protocol import Text

router = APIRouter(prefix="/api/v1", tags=["agent"])


class EscrowUpload(BaseModel):
    key_id: Text = Field(min_length=1, max_length=64,
                         description="The device key's id (32 hex characters).")
    escrow: Text = Field(min_length=1, max_length=escrow.MAX_BLOB_CHARS,
                         description="The escrow blob (rules.escrow) exactly as wrapped.")


class EscrowReceipt(BaseModel):
    device_id: str
    key_id: str
    recipient: str
    created: bool
    stored_at: str


@router.put("/escrow", response_model=EscrowReceipt, status_code=200,
            responses={201: {"description": "stored for the first time"},
                       401: {"description": "device_invalid"},
                       409: {"description": "recovery_key_not_configured / "
                                            "recovery_key_mismatch"},
                       422: {"description": "validation_failed"}})
def put_escrow(body: EscrowUpload, request: Request,
               authorization: str | None = Header(None)) -> JSONResponse:
    """Store this device's wrapped seal key (idempotent: 201 the first time, then 200)."""
    ctx = context(request)
    with ctx.db.transaction() as session:
        device = device_auth.authenticate(session.connection(), authorization)
        receipt = escrow.accept_upload(session, device_id=device.device_id, key_id=body.key_id,
                                       blob=body.escrow, recovery_key=ctx.recovery_key,
                                       source_ip=client_ip(request), now=ctx.now())
    return JSONResponse(receipt.as_dict(), status_code=201 if receipt.created else 200)
