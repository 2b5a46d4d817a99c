"""The agent protocol's request and reply bodies (docs/protocol.md), as pydantic models.

Unknown keys are ignored so that a newer agent can talk to an older server. Replies are
documented here for OpenAPI; the hot check-in path builds its reply as a plain dict.
"""

from __future__ import annotations

import json
import uuid
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    Field,
    field_validator,
)

MAX_EVENT_DATA_BYTES = 16 * 1024
EVENT_TYPE_PATTERN = r"^[a-z][a-z0-9_.-]*$"


def _no_nul(value: str) -> str:
    # PostgreSQL text and jsonb cannot hold NUL; refuse it here rather than fail on storage.
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


Text = Annotated[str, AfterValidator(_no_nul)]


def _label(value: Any) -> Any:
    # Informational strings in the state (seal state, key store, escrow status) are cut to
    # 200 characters and lose NULs instead of failing: the state is in every check-in, and a
    # 422 on it would stop the device from ever checking in again.
    return value.replace("\x00", "")[:200] if isinstance(value, str) else value


Label = Annotated[str, BeforeValidator(_label)]


def _at_most(limit: int) -> Any:
    return BeforeValidator(lambda value: value[:limit] if isinstance(value, list) else value)


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


class EnrollRequest(BaseModel):
    token: Text = Field(min_length=1, max_length=200)
    name: Text = Field(min_length=1, max_length=200)
    os: Text = Field(min_length=1, max_length=32)
    os_version: Text | None = Field(None, max_length=200)
    agent_version: Text = Field(min_length=1, max_length=64)
    hardware_id: Text | None = Field(None, max_length=200)


class PublicKey(BaseModel):
    key_id: str
    public_key_pem: str


class EmployeeRef(BaseModel):
    email: str
    home_country: str


class EnrollReply(BaseModel):
    device_id: str
    device_secret: str
    employee: EmployeeRef
    rules_public_keys: list[PublicKey]
    checkin_interval_seconds: int
    server_time: str
    recovery_public_key: str | None = None


class SealFolder(BaseModel):
    folder: Label
    exists: bool | None = None


class SealPath(BaseModel):
    folder: Label
    path: Label | None = None


class SealState(BaseModel):
    """`state.seal` (docs/seal-format.md, "Events and status"); every key optional."""

    state: Label | None = None
    away_reason: Label | None = None
    pending_files: int | None = Field(None, ge=0)
    pending_bytes: int | None = Field(None, ge=0)
    busy_files: int | None = Field(None, ge=0)
    busy_bytes: int | None = Field(None, ge=0)
    failed_files: int | None = Field(None, ge=0)
    sealed_files: int | None = Field(None, ge=0)
    sealed_bytes: int | None = Field(None, ge=0)
    sealed_disk_bytes: int | None = Field(None, ge=0)
    last_seal_at: AwareDatetime | None = None
    last_seal_reason: Label | None = None
    last_unseal_at: AwareDatetime | None = None
    key_store: Label | None = None
    key_store_weaker: bool | None = None
    key_id: Label | None = None
    unresolved_operations: int | None = Field(None, ge=0)
    idle_threshold_seconds: float | None = Field(None, ge=0)
    unseal_on_return: bool | None = None
    folders: Annotated[list[SealFolder], _at_most(50)] | None = None
    pending_paths: Annotated[list[SealPath], _at_most(200)] | None = None


class Footprint(BaseModel):
    cpu_percent: float | None = Field(None, ge=0)
    rss_bytes: int | None = Field(None, ge=0)


class DeviceStateIn(BaseModel):
    agent_version: Text = Field(min_length=1, max_length=64)
    rules_version: int | None = Field(None, ge=0)
    os: Text | None = Field(None, max_length=200)
    idle_seconds: float | None = Field(None, ge=0)
    locked: bool | None = None
    asleep_since: AwareDatetime | None = None
    seal: SealState | None = None
    footprint: Footprint | None = None
    escrow: Label | None = None  # the agent's escrow status, e.g. "escrowed", "not configured"


class EventIn(BaseModel):
    id: uuid.UUID
    type: str = Field(min_length=1, max_length=64, pattern=EVENT_TYPE_PATTERN)
    occurred_at: AwareDatetime
    data: dict[str, Any] = Field(default_factory=dict)

    @field_validator("data")
    @classmethod
    def _small_enough(cls, value: dict[str, Any]) -> dict[str, Any]:
        try:  # NaN/Infinity are not JSON (and PostgreSQL's jsonb refuses them)
            text = json.dumps(value, separators=(",", ":"), allow_nan=False)
        except ValueError:
            raise ValueError("must not contain NaN or Infinity") from None
        if len(text) > MAX_EVENT_DATA_BYTES:
            raise ValueError(f"data is {len(text)} bytes as JSON; at most {MAX_EVENT_DATA_BYTES}")
        if _has_nul(value):
            raise ValueError("must not contain NUL characters")
        return value


class CheckinRequest(BaseModel):
    state: DeviceStateIn
    events: list[EventIn] = Field(default_factory=list)
    batch_id: uuid.UUID | None = None


class Location(BaseModel):
    kind: str
    country_code: str | None
    country_name: str | None
    city: str | None
    source: str = "request_ip"


class NotificationOut(BaseModel):
    id: str
    kind: str
    title: str
    body: str
    created_at: str
    data: dict[str, Any]


class CheckinReply(BaseModel):
    rules_version: int | None
    location: Location
    notifications: list[NotificationOut]
    next_checkin_seconds: int
    max_batch_size: int
    accepted_event_ids: list[str]
    server_time: str
    recovery_public_key: str | None = None


class AckRequest(BaseModel):
    response: Text | None = Field(None, min_length=1, max_length=64)


class AckReply(BaseModel):
    id: str
    acked_at: str
    response: str | None
