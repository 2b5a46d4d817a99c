"""The lost-device assessment as people read it: verdict, figures, timeline, limits.

Pure, like `device_assessment`: the evidence and `now` in, a JSON-ready dict out (the reply of
`GET /api/v1/admin/devices/{id}/assessment` and `heedful-server devices assess --json`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from server.services.assessment_words import duration, files_and_bytes, size, when
from server.services.device_assessment import (
    Evidence,
    SealRecord,
    Verdict,
    decide,
    last_input_at,
    parse_time,
)

TIMELINE_EVENTS = 50
LIMITS = (
    "Seal event times and 'last seal' come from the laptop's clock; the last check-in and "
    "the last input are the server's (last input = check-in time minus the idle seconds the "
    "agent reported).",
    "The agent seals without a network too, but can only report it once it reaches the "
    "server: a laptop that sealed while offline still looks exposed here.",
    "Only files in the protected folders are covered; files written after the last report "
    "are unknown to the server.",
    "Disk encryption protects a laptop that is powered off; sealing is about one left awake "
    "or in standby.",
)


def _seal(evidence: Evidence) -> Mapping[str, Any]:
    seal = (evidence.state or {}).get("seal")
    return seal if isinstance(seal, Mapping) else {}


def facts(evidence: Evidence, verdict: Verdict, now: datetime) -> dict[str, Any]:
    """The figures behind the verdict (times in RFC 3339, durations in seconds)."""
    state, seal = evidence.state or {}, _seal(evidence)
    last_input = last_input_at(evidence)
    last = evidence.last_checkin_at
    keys = ("state", "away_reason", "pending_files", "pending_bytes", "busy_files",
            "busy_bytes", "failed_files", "unresolved_operations", "sealed_files",
            "sealed_bytes", "last_seal_at", "last_seal_reason", "last_unseal_at", "key_store",
            "key_store_weaker", "key_id", "pending_paths")
    return {
        "last_checkin_at": when(last) if last else None,
        "silent_seconds": round((now - last).total_seconds()) if last else None,
        "last_input_at": when(last_input) if last_input else None,
        "seconds_since_last_input": round((now - last_input).total_seconds())
        if last_input else None,
        "idle_seconds_at_last_checkin": state.get("idle_seconds"),
        "locked_at_last_checkin": state.get("locked"),
        "idle_threshold_seconds": evidence.idle_threshold_seconds,
        "idle_threshold_source": evidence.idle_threshold_source,
        "checkin_interval_seconds": evidence.checkin_interval_seconds,
        "seal_due_at": when(verdict.seal_due_at) if verdict.seal_due_at else None,
        "rules_version": state.get("rules_version"),
        "agent_version": state.get("agent_version"),
        "seal": {key: seal.get(key) for key in keys} if seal else None,
        "agent_escrow_status": state.get("escrow"),
        "escrowed_key_ids": list(evidence.escrowed_key_ids),
        "revoked_at": when(evidence.revoked_at) if evidence.revoked_at else None,
        "reported_lost_at": when(evidence.reported_lost_at) if evidence.reported_lost_at
        else None,
    }


def _event_text(record: SealRecord) -> str:
    if record.type == "seal_started":
        return (f"seal started ({record.reason or '?'}): "
                f"{files_and_bytes(record.files or 0, record.bytes or 0)} pending")
    if record.type == "seal_finished":
        text = (f"seal finished ({record.reason or '?'}): sealed "
                f"{files_and_bytes(record.files or 0, record.bytes or 0)}, "
                f"{record.remaining_files if record.remaining_files is not None else '?'} "
                f"still pending ({record.busy_files or 0} busy, {record.failed_files or 0} "
                "failed)")
        return text + (", interrupted" if record.interrupted else "")
    if record.type == "unseal_finished":
        return (f"unsealed ({record.reason or '?'}): "
                f"{files_and_bytes(record.files or 0, record.bytes or 0)}")
    d = record.detail
    return (f"seal error ({d.get('operation') or '?'}, {d.get('kind') or '?'}) in "
            f"{d.get('folder') or '?'}: {d.get('message') or ''}")


def _checkin_text(evidence: Evidence) -> str:
    seal = _seal(evidence)
    if not isinstance(seal.get("pending_files"), int):
        return "last check-in (no seal status)"
    pending = files_and_bytes(seal["pending_files"], seal.get("pending_bytes") or 0)
    text = (f"last check-in: {pending} pending, {seal.get('busy_files') or 0} busy, "
            f"{seal.get('sealed_files') or 0} sealed ({size(seal.get('sealed_bytes') or 0)})")
    return text + (f"; agent state {seal['state']}" if seal.get("state") else "")


def _entry(at: datetime, event: str, clock: str, detail: str) -> dict[str, Any]:
    return {"at": at, "event": event, "clock": clock, "detail": detail}


def timeline(evidence: Evidence, verdict: Verdict, now: datetime) -> list[dict[str, Any]]:
    """What happened to the device, oldest first (the newest seal events only)."""
    entries = [_entry(evidence.enrolled_at, "enrolled", "server", "device enrolled")]
    entries += [_entry(r.occurred_at, r.type, "agent", _event_text(r))
                for r in list(evidence.seal_events)[-TIMELINE_EVENTS:]]
    last_input = last_input_at(evidence)
    if last_input is not None:
        entries.append(_entry(last_input, "last_input", "server", "last keyboard/mouse input "
                              "(check-in time minus reported idle)"))
    if evidence.last_checkin_at is not None:
        entries.append(_entry(evidence.last_checkin_at, "last_checkin", "server",
                              _checkin_text(evidence)))
    if verdict.seal_due_at is not None:
        entries.append(_entry(verdict.seal_due_at, "seal_due", "server", "pending files due "
                              f"to be sealed (idle threshold "
                              f"{duration(evidence.idle_threshold_seconds)})"))
    if evidence.revoked_at is not None:
        entries.append(_entry(evidence.revoked_at, "revoked", "server", "credentials revoked"))
    if evidence.reported_lost_at is not None:
        entries.append(_entry(evidence.reported_lost_at, "reported_lost", "server",
                              "device reported lost"))
    entries.append(_entry(now, "assessed", "server", "this assessment"))
    entries.sort(key=lambda e: e["at"])
    return [{**e, "at": when(e["at"])} for e in entries]


def assess(evidence: Evidence, now: datetime) -> dict[str, Any]:
    """The full assessment of `evidence` as of `now`, JSON-ready."""
    verdict = decide(evidence, now)
    last_seal = parse_time(_seal(evidence).get("last_seal_at"))
    return {
        "device_id": evidence.device_id,
        "assessed_at": when(now),
        "verdict": verdict.verdict,
        "summary": verdict.summary,
        "reasons": list(verdict.reasons),
        "evidence": facts(evidence, verdict, now) | {
            "last_seal_at": when(last_seal) if last_seal else None},
        "timeline": timeline(evidence, verdict, now),
        "limits": list(LIMITS),
    }
