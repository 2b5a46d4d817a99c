"""Does a lost laptop still hold fresh plaintext? A pure verdict over the evidence.

Pure: no clock (`now` is passed in), no database, no I/O. `server.services.lost_devices`
gathers the evidence; `server.services.assessment_report` turns a verdict into the timeline
and figures people read. The rules, in the order they are tried (docs/lost-devices.md):

1. never checked in -> *unknown*: no evidence at all;
2. the last check-in had no seal status (an agent that predates sealing, or sealing not
   running) -> *unknown*;
3. the agent was unsealing at the last report (the employee had come back) -> *possible*;
4. nothing pending and no unfinished seal operation at the last report -> *no fresh
   plaintext*;
5. nothing pending but seal operations left unfinished by a crash -> *possible*;
6. files pending and a seal pass running at the last report -> *possible* (it may have
   finished after the device went silent);
7. files pending but the seal not due yet (last input + idle threshold is still ahead)
   -> *possible* (a running laptop will still seal them);
8. files pending, the seal due, nothing reported since -> *likely exposure*.

"Pending" includes files that are busy (held open by another program) or failed to seal: all
are plaintext. Times from the laptop (seal events, `last_seal_at`) are its own clock; the
last input is the server's check-in time minus the idle seconds the agent reported.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from server.services.assessment_words import duration, files_and_bytes, when

NO_FRESH_PLAINTEXT, POSSIBLE_EXPOSURE = "no_fresh_plaintext", "possible_exposure"
LIKELY_EXPOSURE, UNKNOWN = "likely_exposure", "unknown"
VERDICTS = (NO_FRESH_PLAINTEXT, POSSIBLE_EXPOSURE, LIKELY_EXPOSURE, UNKNOWN)


@dataclass(frozen=True)
class SealRecord:
    """One entry of the device's seal timeline (`occurred_at` by the laptop's clock)."""

    type: str
    occurred_at: datetime
    session: str | None = None
    reason: str | None = None
    files: int | None = None
    bytes: int | None = None
    remaining_files: int | None = None
    busy_files: int | None = None
    failed_files: int | None = None
    duration_seconds: float | None = None
    interrupted: bool | None = None
    detail: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Evidence:
    """Everything the server knows that bears on the verdict."""

    device_id: str
    enrolled_at: datetime
    last_checkin_at: datetime | None
    state: Mapping[str, Any] | None  # the last check-in's `state`, as stored
    idle_threshold_seconds: float
    idle_threshold_source: str  # "rules v7", "reported by the agent", "built-in default"
    checkin_interval_seconds: float = 60
    seal_events: Sequence[SealRecord] = ()  # oldest first
    revoked_at: datetime | None = None
    reported_lost_at: datetime | None = None
    escrowed_key_ids: Sequence[str] = ()


@dataclass(frozen=True)
class Snapshot:
    """The seal status of the last report, read defensively."""

    pending_files: int
    pending_bytes: int
    busy_files: int
    failed_files: int
    unresolved: int
    sealed_files: int
    state: str | None
    last_seal_at: datetime | None


@dataclass(frozen=True)
class Verdict:
    """The verdict, a one-line summary and the reasons behind it."""

    verdict: str
    summary: str
    reasons: tuple[str, ...]
    seal_due_at: datetime | None = None


def _int(mapping: Mapping[str, Any], key: str) -> int:
    value = mapping.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def parse_time(value: Any) -> datetime | None:
    """An RFC 3339 text from the stored state as an aware datetime (None if unusable)."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def snapshot(state: Mapping[str, Any] | None) -> Snapshot | None:
    """The seal status of a stored state, None when it has none (no pending count)."""
    seal = (state or {}).get("seal")
    if not isinstance(seal, Mapping) or not isinstance(seal.get("pending_files"), int):
        return None
    return Snapshot(_int(seal, "pending_files"), _int(seal, "pending_bytes"),
                    _int(seal, "busy_files"), _int(seal, "failed_files"),
                    _int(seal, "unresolved_operations"), _int(seal, "sealed_files"),
                    seal.get("state") if isinstance(seal.get("state"), str) else None,
                    parse_time(seal.get("last_seal_at")))


def last_input_at(evidence: Evidence) -> datetime | None:
    """The last keyboard/mouse input: check-in time minus the idle seconds reported then."""
    idle = (evidence.state or {}).get("idle_seconds")
    if evidence.last_checkin_at is None or not isinstance(idle, (int, float)) or idle < 0:
        return None
    return evidence.last_checkin_at - timedelta(seconds=float(idle))


def seal_running(snap: Snapshot, events: Sequence[SealRecord],
                 since: datetime | None) -> tuple[bool, datetime | None]:
    """(whether a seal pass was running at the last report, when it started if known).

    The agent's own `state` decides when it sent one; for an older agent its events decide:
    a `seal_started` after the last input with no `seal_finished` of its session.
    """
    starts = [e for e in events if e.type == "seal_started"
              and (since is None or e.occurred_at >= since)]
    last = starts[-1] if starts else None
    started = last.occurred_at if last is not None else None
    if snap.state is not None:
        return snap.state == "sealing", started if snap.state == "sealing" else None
    if last is None:
        return False, None
    finished = any(e.type == "seal_finished" and e.session == last.session
                   and e.occurred_at >= last.occurred_at for e in events)
    return (False, None) if finished else (True, started)


def decide(evidence: Evidence, now: datetime) -> Verdict:
    """The verdict for `evidence` as of `now` (rules in the module docstring)."""
    last = evidence.last_checkin_at
    if last is None:
        return Verdict(UNKNOWN, "Unknown: the device never checked in.",
                       ("The server has no report from this device, so nothing is known about "
                        "the files on it.",))
    snap = snapshot(evidence.state)
    reported = when(last)
    if snap is None:
        version = (evidence.state or {}).get("agent_version") or "unknown"
        return Verdict(UNKNOWN, "Unknown: the last check-in carried no seal status.",
                       (f"Its last check-in ({reported}, agent {version}) had no seal counts: "
                        "the agent predates seal reporting, or sealing was not running.",))
    last_input = last_input_at(evidence)
    if snap.state == "unsealing" and snap.sealed_files:
        return Verdict(POSSIBLE_EXPOSURE, "Possible exposure: it was unsealing files at its "
                       "last report.", (f"At {reported} the employee had come back and "
                                        f"{snap.sealed_files} sealed files were being turned "
                                        "back into plaintext.",))
    if snap.pending_files == 0:
        return _nothing_pending(evidence, snap, last_input, reported)
    return _pending(evidence, snap, last, last_input, now)


def _nothing_pending(evidence: Evidence, snap: Snapshot, last_input: datetime | None,
                     reported: str) -> Verdict:
    if snap.unresolved:
        return Verdict(POSSIBLE_EXPOSURE, "Possible exposure: seal operations were left "
                       "unfinished.", (f"At {reported} nothing was waiting, but "
                                       f"{snap.unresolved} seal operations had been cut short "
                                       "(the agent stopped mid-way); each of those files is "
                                       "plaintext or sealed until the agent starts again.",))
    reasons = [f"Nothing was waiting to be sealed at its last report ({reported}): every file "
               "written to the protected folders before then was sealed."]
    if last_input is not None and snap.last_seal_at is not None \
            and snap.last_seal_at >= last_input:
        reasons.append(f"It had been left since its last input ({when(last_input)}) and "
                       f"sealed after it ({when(snap.last_seal_at)}, laptop clock).")
    elif snap.state == "away":
        reasons.append("It had been left (the agent's state was 'away') at that report.")
    elif last_input is not None:
        reasons.append(f"It was in use at that report (last input {when(last_input)}): files "
                       "written after the report, while offline, are unknown to the server; "
                       "the agent seals them once the laptop is left for the idle threshold "
                       f"({duration(evidence.idle_threshold_seconds)}).")
    return Verdict(NO_FRESH_PLAINTEXT, "No fresh plaintext at its last report.", tuple(reasons))


def _pending(evidence: Evidence, snap: Snapshot, last: datetime, last_input: datetime | None,
             now: datetime) -> Verdict:
    """Files were pending at the last report (`last`): rules 6 to 8."""
    what, reported = files_and_bytes(snap.pending_files, snap.pending_bytes), when(last)
    due = (last_input or last) + timedelta(seconds=evidence.idle_threshold_seconds)
    notes = _pending_notes(snap)
    running, started_at = seal_running(snap, evidence.seal_events, last_input)
    if running:
        started = f" (started {when(started_at)}, laptop clock)" if started_at else ""
        return Verdict(POSSIBLE_EXPOSURE, "Possible exposure: a seal pass was running at its "
                       "last report.", (f"{what} were waiting at {reported} while a seal pass "
                                        f"was running{started}; it may have finished after "
                                        "the device went silent.", *notes), due)
    if now < due:
        return Verdict(POSSIBLE_EXPOSURE, "Possible exposure: files were pending and the seal "
                       "was not due yet.", (f"{what} were waiting at {reported}. The seal falls "
                                            f"due at {when(due)} (last input + idle threshold "
                                            f"{duration(evidence.idle_threshold_seconds)}): a "
                                            "laptop still running seals them then. Assess "
                                            "again after that time.", *notes), due)
    silent = duration((now - last).total_seconds())
    reasons = [f"{what} were plaintext at its last report ({reported}), the seal fell due at "
               f"{when(due)}, and the device has reported nothing since (silent for {silent}; "
               f"idle threshold {duration(evidence.idle_threshold_seconds)}), so nothing shows "
               "they were sealed."]
    if due <= last:
        reasons.append("They were still plaintext although the seal was already due when it "
                       "reported: something kept them from being sealed.")
    return Verdict(LIKELY_EXPOSURE, f"Likely exposure: {what} not known to be sealed.",
                   (*reasons, *notes), due)


def _pending_notes(snap: Snapshot) -> tuple[str, ...]:
    notes = []
    if snap.busy_files:
        notes.append(f"{snap.busy_files} of them were held open by another program, which "
                     "keeps them from being sealed until it closes them.")
    if snap.failed_files:
        notes.append(f"{snap.failed_files} of them had failed to seal (see the seal errors "
                     "in the timeline).")
    return tuple(notes)
