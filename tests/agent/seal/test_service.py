"""The seal service: away and return, lock, sleep, seal now, busy files, events and status."""

from __future__ import annotations

import errno
import os
import threading
from pathlib import Path

import pytest

from agent.seal.events import SealErrorEvent, SealFinished, SealStarted, UnsealFinished
from agent.seal.fileops import FileOps
from agent.seal.folders import resolve_protected_folders
from agent.seal.pending import PendingJournal
from agent.seal.policy import SealPolicy
from agent.seal.service import SealService

THRESHOLD = 60


def listing(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


@pytest.fixture
def setup(tmp_path, db, make_engine):
    root = tmp_path / "Sensitive"
    (root / "clients").mkdir(parents=True)
    files = {"a.txt": b"alpha", "clients/b.pdf": os.urandom(70_000), "c.docx": b"gamma"}
    for name, data in files.items():
        (root / name).write_bytes(data)
    folders = resolve_protected_folders(["~/Sensitive"], {}, tmp_path)

    def make(ops: FileOps | None = None, **policy) -> SealService:
        service = SealService(make_engine(ops), PendingJournal(db), folders,
                              policy=SealPolicy(idle_threshold_seconds=THRESHOLD, **policy),
                              key_status={"store": "file (weaker: no OS key store)",
                                          "weaker": True, "key_id": "ab" * 16})
        service.start_up(watch=False)
        return service

    return root, files, make


def test_idle_seals_and_return_unseals(setup) -> None:
    root, files, make = setup
    service = make()
    assert service.observe(10, False) is None
    assert service.observe(THRESHOLD, False) == "seal:idle"
    assert listing(root) == ["a.txt.heedful", "c.docx.heedful", "clients/b.pdf.heedful"]
    status = service.status()
    assert (status.state, status.pending_files, status.sealed_files) == ("away", 0, 3)
    assert status.sealed_bytes == sum(map(len, files.values()))
    assert service.observe(THRESHOLD + 30, False) is None  # still away, nothing new
    assert service.observe(1, False) == "unseal:return"
    assert listing(root) == sorted(files)
    assert all((root / n).read_bytes() == d for n, d in files.items())
    started, finished, unsealed = service.drain_events()
    assert isinstance(started, SealStarted) and started.pending_files == 3
    assert isinstance(finished, SealFinished)
    assert (finished.sealed_files, finished.sealed_bytes, finished.remaining_files) == (
        3, sum(map(len, files.values())), 0)
    assert isinstance(unsealed, UnsealFinished) and unsealed.unsealed_files == 3
    assert finished.session == unsealed.session == started.session
    assert finished.as_dict()["at"].endswith("Z") and finished.as_dict()["paths"] == []
    assert service.status().pending_files == 3  # plaintext again: sealed at the next idle


def test_lock_seals_and_unlock_with_input_unseals(setup) -> None:
    root, files, make = setup
    service = make()
    assert service.observe(0, True) == "seal:lock"
    assert service.observe(2, True) is None
    assert service.observe(1, False) == "unseal:return"
    assert listing(root) == sorted(files)


def test_lock_does_nothing_when_the_rules_say_so(setup) -> None:
    root, files, make = setup
    service = make(seal_on_lock=False)
    assert service.observe(0, True) is None
    assert listing(root) == sorted(files)


def test_policy_can_keep_files_sealed_until_the_employee_unseals(setup) -> None:
    root, files, make = setup
    service = make(unseal_on_return=False)
    service.observe(THRESHOLD, False)
    assert service.observe(0, False) == "return:kept_sealed"
    assert all(n.endswith(".heedful") for n in listing(root))
    assert service.unseal_now().unsealed_files == 3
    assert listing(root) == sorted(files)


def test_return_unseals_only_that_idle_period(setup) -> None:
    root, files, make = setup
    service = make()
    service.pending.forget([root / "a.txt", root / "clients/b.pdf"])
    assert service.seal_now().sealed_files == 1  # c.docx, sealed on request
    service.pending.record([(root / "a.txt", os.lstat(root / "a.txt"), False)])
    service.observe(THRESHOLD, False)
    service.observe(0, False)
    assert listing(root) == ["a.txt", "c.docx.heedful", "clients/b.pdf"]


def test_busy_files_are_counted_and_retried(setup, make_engine) -> None:
    root, files, make = setup
    service = make()
    service.engine.busy_probe = lambda p: "open in another process" if p.name == "a.txt" else None
    service.observe(THRESHOLD, False)
    assert "a.txt" in listing(root)
    status = service.status()
    assert (status.busy_files, status.busy_bytes, status.pending_files) == (1, 5, 1)
    assert service.drain_events()[-1].busy_files == 1
    service.engine.busy_probe = lambda p: None
    assert service.observe(THRESHOLD + 5, False) is None  # retried only after busy_retry_seconds
    service.pending.mark(root / "a.txt", "busy", "", 0)
    assert service.observe(THRESHOLD + 20, False) == "seal:idle"
    assert "a.txt.heedful" in listing(root)


def test_a_new_file_while_away_is_sealed_on_a_later_tick(setup) -> None:
    root, files, make = setup
    service = make()
    service.observe(THRESHOLD, False)
    (root / "late.zip").write_bytes(b"download finished while away")
    service.notes.note(root / "late.zip", False)  # what the watcher would note
    assert service.observe(THRESHOLD + 5, False) == "seal:idle"
    assert "late.zip.heedful" in listing(root)
    service.observe(0, False)
    assert "late.zip" in listing(root)


def test_errors_are_reported_without_paths_unless_allowed(setup) -> None:
    root, files, make = setup

    class DiskFull(FileOps):
        def write(self, fd, data):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    for report_paths in (False, True):
        service = make(DiskFull(), report_paths=report_paths)
        service.seal_now()
        errors = [e for e in service.drain_events() if isinstance(e, SealErrorEvent)]
        assert len(errors) == 3 and {e.kind for e in errors} == {"disk_full"}
        assert all(e.folder == "~/Sensitive" and str(root) not in e.message for e in errors)
        paths = sorted(e.path for e in errors) if report_paths else [e.path for e in errors]
        assert paths == (sorted(files) if report_paths else [None] * 3)
        assert service.status().failed_files == 3
        for name in files:
            service.pending.mark(root / name, "pending", "", 0)


def test_checkin_state_has_counts_and_only_allowed_relative_paths(setup) -> None:
    root, files, make = setup
    quiet, chatty = make().checkin_state(), make(report_paths=True).checkin_state()
    assert quiet["pending_files"] == 3 and "pending_paths" not in quiet
    assert quiet["key_store"] == "file (weaker: no OS key store)" and quiet["key_store_weaker"]
    assert quiet["folders"] == [{"folder": "~/Sensitive", "exists": True}]
    assert str(root) not in repr(quiet) and str(root) not in repr(chatty)
    assert sorted(p["path"] for p in chatty["pending_paths"]) == sorted(files)


def test_sleep_pass_stops_at_its_deadline(setup) -> None:
    root, files, make = setup
    now = [1_000_000.0]

    class EachFileTakesASecondAndAHalf(FileOps):
        def barrier(self, label: str) -> None:
            if label == "seal.finished":
                now[0] += 1.5

    # one file per group: the pass checks its deadline before each group
    service = make(EachFileTakesASecondAndAHalf(), sleep_budget_seconds=2, parallel_files=1,
                   group_files=1)
    service.clock = lambda: now[0]
    finished = service.before_sleep()
    assert finished.interrupted and finished.reason == "sleep"
    assert (finished.sealed_files, finished.remaining_files) == (2, 1)


def test_sleep_pass_uses_the_budget_the_os_allows_and_what_the_watcher_saw(setup) -> None:
    root, files, make = setup
    now = [1_000_000.0]

    class EachFileTakesASecondAndAHalf(FileOps):
        def barrier(self, label: str) -> None:
            if label == "seal.finished":
                now[0] += 1.5

    service = make(EachFileTakesASecondAndAHalf(), sleep_budget_seconds=2, parallel_files=1)
    service.clock = lambda: now[0]
    (root / "fresh.txt").write_bytes(b"saved a moment ago")
    service.notes.note(root / "fresh.txt", True)  # seen by the watcher, not yet recorded
    finished = service.before_sleep(7.0)  # e.g. logind's 5 s plus an administrator's extra
    assert not finished.interrupted and finished.reason == "sleep"
    assert (finished.sealed_files, finished.remaining_files) == (4, 0)
    assert "fresh.txt.heedful" in listing(root)


def test_return_interrupts_a_running_seal_pass(setup) -> None:
    root, files, make = setup
    entered, release = threading.Event(), threading.Event()

    class Slow(FileOps):
        def barrier(self, label: str) -> None:
            if label == "seal.finished":
                entered.set()
                release.wait(10)

    service = make(Slow(), parallel_files=1)  # groups: a.txt and c.docx, then clients/b.pdf
    service.start()
    try:
        assert service.observe(THRESHOLD, False) == "seal:idle"
        assert entered.wait(10)
        assert service.status().state == "sealing"
        assert service.observe(0, False) == "unseal:return"
        release.set()
        assert service.wait(20)
    finally:
        service.stop()
    finished = next(e for e in service.drain_events() if isinstance(e, SealFinished))
    # the group in progress completes; the next group never starts
    assert finished.interrupted and finished.sealed_files == 2
    assert finished.remaining_files == 1
    assert listing(root) == sorted(files)


def test_a_file_that_stays_busy_while_away_does_not_flood_the_outbox(setup) -> None:
    root, files, make = setup
    service = make(busy_retry_seconds=0)
    service.engine.busy_probe = lambda p: "open in another process" if p.name == "a.txt" else None
    service.observe(THRESHOLD, False)
    assert len(service.drain_events()) == 2  # started, finished (1 busy)
    for second in range(5):
        (root / "a.txt").write_bytes(b"still being written " * second)
        service.notes.note(root / "a.txt", True)
        assert service.observe(THRESHOLD + 5 + second, False) == "seal:idle"  # retried...
    assert service.drain_events() == []  # ...silently
    assert service.status().busy_files == 1
    service.engine.busy_probe = lambda p: None
    service.observe(THRESHOLD + 20, False)
    started, finished = service.drain_events()
    assert (started.name, finished.sealed_files, finished.busy_files) == ("seal_started", 1, 0)


def test_the_state_folder_is_never_sealed_even_inside_a_protected_folder(tmp_path) -> None:
    from agent.seal.folders import ProtectedFolder
    from agent.seal.setup import build

    root = tmp_path / "exports"
    state = root / ".heedful-agent"
    state.mkdir(parents=True)
    (root / "data.csv").write_bytes(b"a,b\n")
    os.utime(root / "data.csv", (1, 1))
    stack = build(state, folders=[ProtectedFolder("/exports", root)], policy=SealPolicy(),
                  busy_probe=lambda p: None)
    try:
        stack.service.start_up(watch=False)
        assert [p.path.name for p in stack.service.pending.all()] == ["data.csv"]
        assert stack.service.seal_now().sealed_files == 1
        assert (state / "seal.db").exists() and (state / "seal-device.key").exists()
    finally:
        stack.close()


def test_files_sealed_before_a_restart_are_unsealed_when_the_agent_starts_again(setup) -> None:
    root, files, make = setup
    first = make()
    first.observe(THRESHOLD, False)  # away; then the agent stops (crash, reboot, logout)
    assert all(n.endswith(".heedful") for n in listing(root))
    second = make()  # start_up() runs in make()
    assert listing(root) == sorted(files)
    assert [e.reason for e in second.drain_events()] == ["restart"]
    third = make()
    assert third.drain_events() == []  # nothing left over


def test_start_up_sweeps_temporary_files_a_lost_journal_left_behind(setup) -> None:
    root, files, make = setup
    (root / "clients" / ".b.pdf.heedful-seal.tmp").write_bytes(b"torn, journal lost")
    (root / ".gone.txt.heedful-unseal.tmp").write_bytes(b"maybe the only copy")
    make()
    assert listing(root) == sorted([*files, ".gone.txt.heedful-unseal.tmp"])
