"""The verdict rules of the lost-device assessment, on hand-built evidence (pure: no database,
no clock but the `now` passed in)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from server.services.assessment_report import assess
from server.services.assessment_words import duration, size
from server.services.device_assessment import (
    LIKELY_EXPOSURE,
    NO_FRESH_PLAINTEXT,
    POSSIBLE_EXPOSURE,
    UNKNOWN,
    Evidence,
    SealRecord,
    decide,
)

T = datetime(2024, 5, 2, 9, 0, tzinfo=UTC)


def stamp(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def evidence(*, seal: dict | None = None, idle: float | None = 5, checked_in: bool = True,
             events: tuple[SealRecord, ...] = (), threshold: float = 300) -> Evidence:
    state = {"agent_version": "0.1.0", "idle_seconds": idle}
    if seal is not None:
        state["seal"] = {"pending_files": 0, "pending_bytes": 0, **seal}
    return Evidence("dev-1", T - timedelta(days=30), T if checked_in else None,
                    state if checked_in else None, threshold, "rules v3", 60, events)


def at(minutes: float) -> datetime:
    return T + timedelta(minutes=minutes)


def test_never_checked_in_and_no_seal_status_are_unknown():
    assert decide(evidence(checked_in=False), at(1)).verdict == UNKNOWN
    old = decide(evidence(seal=None), at(1))
    assert old.verdict == UNKNOWN and "agent 0.1.0" in old.reasons[0]


def test_nothing_pending_is_no_fresh_plaintext_and_says_whether_it_was_left():
    left = decide(evidence(idle=600, seal={"state": "away",
                                          "last_seal_at": stamp(T - timedelta(minutes=4))}),
                  at(600))
    assert left.verdict == NO_FRESH_PLAINTEXT
    assert "sealed after it" in left.reasons[1]
    in_use = decide(evidence(idle=5, seal={"state": "active"}), at(600))
    assert in_use.verdict == NO_FRESH_PLAINTEXT and "in use" in in_use.reasons[1]


def test_unfinished_operations_and_unsealing_are_possible_exposure():
    crashed = decide(evidence(seal={"unresolved_operations": 2}), at(60))
    assert crashed.verdict == POSSIBLE_EXPOSURE and "2 seal operations" in crashed.reasons[0]
    back = decide(evidence(seal={"state": "unsealing", "sealed_files": 7}), at(60))
    assert back.verdict == POSSIBLE_EXPOSURE and "7 sealed files" in back.reasons[0]


def test_pending_files_before_the_seal_is_due_are_possible_then_likely():
    pending = evidence(idle=60, seal={"pending_files": 3, "pending_bytes": 3 * 1024**2})
    early = decide(pending, at(2))  # last input T-1 min, due T+4 min
    assert early.verdict == POSSIBLE_EXPOSURE
    assert early.seal_due_at == T + timedelta(minutes=4)
    late = decide(pending, at(4))
    assert late.verdict == LIKELY_EXPOSURE
    assert "3 files (3.0 MiB)" in late.summary and "silent for 4 min" in late.reasons[0]


def test_pending_while_a_pass_runs_is_possible_by_state_or_by_events():
    running = decide(evidence(idle=400, seal={"pending_files": 2, "state": "sealing"}), at(90))
    assert running.verdict == POSSIBLE_EXPOSURE
    started = SealRecord("seal_started", T - timedelta(seconds=50), session="s1", files=2)
    by_events = evidence(idle=400, seal={"pending_files": 2}, events=(started,))
    assert decide(by_events, at(90)).verdict == POSSIBLE_EXPOSURE  # older agent: no `state`
    done = SealRecord("seal_finished", T - timedelta(seconds=40), session="s1",
                      remaining_files=2)
    finished = evidence(idle=400, seal={"pending_files": 2}, events=(started, done))
    assert decide(finished, at(90)).verdict == LIKELY_EXPOSURE
    before_input = SealRecord("seal_started", T - timedelta(hours=1), session="s0")
    stale = evidence(idle=400, seal={"pending_files": 2}, events=(before_input,))
    assert decide(stale, at(90)).verdict == LIKELY_EXPOSURE  # that pass was another period


def test_files_that_resisted_a_due_seal_are_likely_at_once_with_the_reason():
    verdict = decide(evidence(idle=900, seal={"pending_files": 2, "busy_files": 1,
                                              "failed_files": 1, "state": "away"}), at(0.5))
    assert verdict.verdict == LIKELY_EXPOSURE
    text = " ".join(verdict.reasons)
    assert "already due" in text and "held open" in text and "failed to seal" in text


def test_unknown_idle_counts_from_the_last_checkin():
    verdict = decide(evidence(idle=None, seal={"pending_files": 1}), at(4))
    assert verdict.verdict == POSSIBLE_EXPOSURE
    assert verdict.seal_due_at == T + timedelta(minutes=5)


def test_the_report_has_figures_timeline_and_limits():
    events = (SealRecord("seal_started", T - timedelta(minutes=3), session="s", files=1,
                         bytes=10, reason="idle"),
              SealRecord("seal_error", T - timedelta(minutes=2),
                         detail={"operation": "seal", "kind": "disk_full",
                                 "message": "no space", "folder": "Downloads"}))
    report = assess(evidence(idle=240, seal={"pending_files": 1, "pending_bytes": 10,
                                             "state": "away"},
                             events=events), at(10))
    assert report["verdict"] == LIKELY_EXPOSURE
    facts = report["evidence"]
    assert facts["last_input_at"] == "2024-05-02T08:56:00Z"
    assert facts["silent_seconds"] == 600 and facts["seconds_since_last_input"] == 840
    assert facts["idle_threshold_source"] == "rules v3"
    assert facts["seal_due_at"] == "2024-05-02T09:01:00Z"
    order = [e["event"] for e in report["timeline"]]
    assert order == ["enrolled", "last_input", "seal_started", "seal_error", "last_checkin",
                     "seal_due", "assessed"]
    assert "disk_full" in report["timeline"][3]["detail"]
    assert report["timeline"][2]["clock"] == "agent" and report["limits"]


@pytest.mark.parametrize(("seconds", "text"), [(45, "45 s"), (600, "10 min"),
                                               (3900, "1 h 5 min"), (90000, "1 d 1 h")])
def test_durations_read_naturally(seconds, text):
    assert duration(seconds) == text


def test_sizes_use_binary_units():
    assert (size(512), size(1536), size(5 * 1024**3)) == ("512 B", "1.5 KiB", "5.0 GiB")
