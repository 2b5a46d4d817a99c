"""Lost devices: gather the evidence, assess it (audited), and mark a device lost.

The verdict itself is pure (`device_assessment`, `assessment_report`); this module reads what
it needs: the device, its last check-in state (`device_states`), its seal timeline, the idle
threshold of the rules version it had applied, its escrowed keys and any loss report. Marking
a device lost revokes its credentials in the same transaction (its next request gets
`device_invalid`) and keeps its escrowed key for recovery.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from rules.errors import RulesError
from rules.model import SealSettings
from rules.signing import read_envelope_unverified
from server.services import audit, escrow
from server.services.assessment_report import assess
from server.services.audit import Actor
from server.services.clock import rfc3339
from server.services.device_assessment import Evidence, SealRecord
from server.services.errors import Conflict, NotFound
from server.storage import devices as device_store
from server.storage import employees as employee_store
from server.storage import lost_devices as loss_store
from server.storage import rulesets
from server.storage import seal_timeline as timeline_store

log = logging.getLogger(__name__)


def idle_threshold(session: Session, state: dict[str, Any] | None) -> tuple[float, str]:
    """(seconds, where it came from): the applied rules version's, else what the agent
    reported, else the built-in default."""
    state = state or {}
    version = state.get("rules_version")
    row = rulesets.get(session, version) if isinstance(version, int) else None
    if row is not None:
        try:
            seal = read_envelope_unverified(row.envelope).seal
            return float(seal.idle_threshold_seconds), f"rules v{version}"
        except (RulesError, ValueError) as exc:  # stored by us, so this is a bug: say so
            log.error("cannot read rules v%s for the idle threshold: %s", version, exc)
    reported = (state.get("seal") or {}).get("idle_threshold_seconds")
    if isinstance(reported, (int, float)) and reported > 0:
        return float(reported), "reported by the agent"
    return float(SealSettings().idle_threshold_seconds), "built-in default"


def _record(row: Any) -> SealRecord:
    return SealRecord(row.type, row.occurred_at, row.session, row.reason, row.files, row.bytes,
                      row.remaining_files, row.busy_files, row.failed_files,
                      row.duration_seconds, row.interrupted, row.detail or {})


def gather_evidence(session: Session, device_id: str, *,
                    checkin_interval: float) -> tuple[Evidence, dict[str, Any]]:
    """The evidence about a device and a short description of it; NotFound if unknown."""
    device = device_store.get_device(session, device_id)
    if device is None:
        raise NotFound(f"no device {device_id}")
    current = device_store.get_state(session, device_id)
    state = current.state if current is not None else None
    seconds, source = idle_threshold(session, state)
    loss = loss_store.get(session, device_id)
    employee = employee_store.get_employee(session, device.employee_id)
    evidence = Evidence(
        device_id=device_id, enrolled_at=device.enrolled_at,
        last_checkin_at=current.last_checkin_at if current is not None else None,
        state=state, idle_threshold_seconds=seconds, idle_threshold_source=source,
        checkin_interval_seconds=checkin_interval,
        seal_events=tuple(_record(r) for r in timeline_store.timeline_of(session, device_id)),
        revoked_at=device.revoked_at, reported_lost_at=loss.reported_at if loss else None,
        escrowed_key_ids=tuple(e["key_id"] for e in escrow.held_key_ids(session, device_id)))
    about = {"id": device.id, "name": device.name, "os": device.os,
             "employee": employee.email if employee else None,
             "hardware_id": device.hardware_id, "enrolled_at": rfc3339(device.enrolled_at)}
    return evidence, about


def assess_device(session: Session, device_id: str, *, actor: Actor, now: datetime,
                  checkin_interval: float) -> dict[str, Any]:
    """The assessment of a device as of `now`; every assessment is audited."""
    evidence, about = gather_evidence(session, device_id, checkin_interval=checkin_interval)
    result = {"device": about, **assess(evidence, now)}
    audit.record(session, actor, "device.assess", target=device_id, now=now,
                 details={"verdict": result["verdict"],
                          "last_checkin_at": result["evidence"]["last_checkin_at"]})
    return result


def mark_lost(session: Session, device_id: str, *, actor: Actor, now: datetime,
              note: str | None = None) -> dict[str, Any]:
    """Report a device lost: revoke its credentials, keep its escrowed key (audited)."""
    device = device_store.get_device(session, device_id)
    if device is None:
        raise NotFound(f"no device {device_id}")
    if not loss_store.mark(session, device_id, by=actor.name, note=note, now=now):
        raise Conflict(f"device {device_id} was reported lost already")
    revoked_now = device_store.revoke_device(session, device_id, by=actor.name, now=now)
    keys = [e["key_id"] for e in escrow.held_key_ids(session, device_id)]
    audit.record(session, actor, "device.mark_lost", target=device_id, now=now,
                 details={"name": device.name, "revoked_now": revoked_now,
                          "escrowed_key_ids": keys, "note": note})
    revoked_at = now if revoked_now else device.revoked_at
    return {"id": device_id, "reported_lost_at": rfc3339(now),
            "revoked_at": rfc3339(revoked_at) if revoked_at else None,
            "escrowed_key_ids": keys}
