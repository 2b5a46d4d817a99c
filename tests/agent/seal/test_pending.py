"""The pending journal: protected folders, a real watchdog observer on real files, the scan."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from agent.seal.fileops import FileOps
from agent.seal.folders import resolve_protected_folders
from agent.seal.journal import Journal
from agent.seal.pending import Notes, PendingJournal, apply_notes
from agent.seal.recovery import sweep_orphans
from agent.seal.watcher import FolderWatcher, scan


def test_folder_entries_resolve_with_the_known_folders_mapping(tmp_path: Path) -> None:
    home = tmp_path / "home"
    known = {"Downloads": tmp_path / "dl", "Documents": tmp_path / "docs"}
    folders = resolve_protected_folders(
        ["~/Sensitive", "Downloads", "Documents/Contracts", "Desktop", "/srv/exports", "~",
         "Downloads/sub", "nonsense"], known, home)
    assert [(f.spec, f.path) for f in folders] == [
        ("~/Sensitive", home / "Sensitive"), ("Downloads", tmp_path / "dl"),
        ("Documents/Contracts", tmp_path / "docs" / "Contracts"),
        ("Desktop", home / "Desktop"), ("/srv/exports", Path("/srv/exports"))]
    downloads = folders[1]
    assert downloads.contains(tmp_path / "dl" / "a" / "b.pdf")
    assert not downloads.contains(tmp_path / "dl2" / "x")
    assert downloads.relative(tmp_path / "dl" / "a" / "b.pdf") == "a/b.pdf"


def wait_for(pending: PendingJournal, folders, notes: Notes, expected: set[str], root: Path):
    """Apply watcher notes until the pending set matches (watchdog delivers asynchronously)."""
    deadline = time.monotonic() + 10
    while True:
        apply_notes(pending, folders, notes)
        got = {p.path.relative_to(root).as_posix() for p in pending.all()}
        if got == expected or time.monotonic() > deadline:
            return got
        time.sleep(0.05)


def test_watchdog_records_created_changed_moved_and_deleted_files(db, tmp_path: Path) -> None:
    root = tmp_path / "Downloads"
    outside = tmp_path / "elsewhere"
    root.mkdir()
    outside.mkdir()
    folders = resolve_protected_folders(["Downloads"], {"Downloads": root}, tmp_path)
    pending, notes = PendingJournal(db), Notes()
    watcher = FolderWatcher(notes)
    assert watcher.refresh([root]) == [root]
    try:
        (root / "report.pdf").write_bytes(b"pdf")
        (root / "movie.mp4.part").write_bytes(b"partial")
        (root / "gone.txt").write_bytes(b"temporary")
        assert wait_for(pending, folders, notes, {"report.pdf", "movie.mp4.part", "gone.txt"},
                        root) == {"report.pdf", "movie.mp4.part", "gone.txt"}
        os.rename(root / "movie.mp4.part", root / "movie.mp4")  # download finished
        (root / "gone.txt").unlink()
        shutil.move(str(root / "report.pdf"), outside / "report.pdf")  # moved out
        (outside / "project").mkdir()
        (outside / "project" / "plan.txt").write_bytes(b"plan")
        shutil.move(str(outside / "project"), root / "project")  # a folder moved in
        (root / "a.heedful").write_bytes(b"sealed files are not pending")
        assert wait_for(pending, folders, notes, {"movie.mp4", "project/plan.txt"},
                        root) == {"movie.mp4", "project/plan.txt"}
        with open(root / "movie.mp4", "ab") as handle:
            handle.write(b" more")
        deadline = time.monotonic() + 10
        while pending.all()[0].size != len(b"partial more") and time.monotonic() < deadline:
            apply_notes(pending, folders, notes)
            time.sleep(0.05)
        entry = next(p for p in pending.all() if p.path.name == "movie.mp4")
        assert entry.size == len(b"partial more") and entry.last_change > 0
    finally:
        watcher.stop()


def test_one_flush_per_burst_of_writes(db, tmp_path: Path) -> None:
    root = tmp_path / "Sensitive"
    root.mkdir()
    folders = resolve_protected_folders(["~/Sensitive"], {}, tmp_path)
    notes, pending = Notes(), PendingJournal(db)
    for _ in range(500):
        notes.note(root / "log.txt", True)
    (root / "log.txt").write_bytes(b"x")
    assert apply_notes(pending, folders, notes) == 1
    assert apply_notes(pending, folders, notes) == 0


def test_scan_catches_what_changed_while_stopped(db, tmp_path: Path) -> None:
    root = tmp_path / "Sensitive"
    (root / "sub").mkdir(parents=True)
    pending, journal = PendingJournal(db), Journal(db)
    for name in ("a.txt", "b.txt", "sub/c.txt"):
        (root / name).write_bytes(b"v1")
    first = scan([root], pending, journal)
    assert first.recorded == 3
    assert scan([root], pending, journal).recorded == 0  # nothing changed: nothing rewritten
    (root / "a.txt").write_bytes(b"version two")
    (root / "b.txt").unlink()
    (root / "d.txt").write_bytes(b"new")
    again = scan([root], pending, journal)
    assert (again.recorded, again.forgotten) == (2, 1)
    assert sorted(p.path.relative_to(root).as_posix() for p in pending.all()) == [
        "a.txt", "d.txt", "sub/c.txt"]
    assert next(p for p in pending.all() if p.path.name == "a.txt").size == 11


def test_scan_reconciles_sealed_files(db, tmp_path: Path, make_engine) -> None:
    root = tmp_path / "Sensitive"
    root.mkdir()
    engine = make_engine()
    (root / "x.txt").write_bytes(b"x" * 10)
    engine.seal_file(root / "x.txt")
    engine.journal.forget_sealed(root / "x.txt.heedful")  # e.g. the database was replaced
    (root / "junk.heedful").write_bytes(b"not really sealed")
    result = scan([root], PendingJournal(db), engine.journal)
    assert result.sealed_registered == 1
    [entry] = engine.journal.sealed_files()
    assert (entry.path.name, entry.original.name, entry.plain_size) == ("x.txt.heedful",
                                                                        "x.txt", 10)
    (root / "x.txt.heedful").unlink()
    assert scan([root], PendingJournal(db), engine.journal).sealed_forgotten == 1


def test_orphan_work_files_are_swept_only_when_their_source_exists(db, tmp_path: Path) -> None:
    root = tmp_path / "Sensitive"
    root.mkdir()
    (root / "a.txt").write_bytes(b"source")
    (root / ".a.txt.heedful-seal.tmp").write_bytes(b"torn")
    (root / ".b.txt.heedful-unseal.tmp").write_bytes(b"maybe the only copy")
    left = sweep_orphans(root, Journal(db), FileOps())
    assert sorted(os.listdir(root)) == [".b.txt.heedful-unseal.tmp", "a.txt"]
    assert left == [root / ".b.txt.heedful-unseal.tmp"]


@pytest.mark.parametrize("name", ["~$report.docx", ".#notes.org", "x.swp", "a.crdownload"])
def test_partial_names(name: str) -> None:
    from agent.seal.names import is_partial_name

    assert is_partial_name(name) and not is_partial_name("report.docx")


def test_a_partial_scan_leaves_other_folders_alone(db, tmp_path: Path) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    for folder in (one, two):
        folder.mkdir()
        (folder / "f.txt").write_bytes(b"x")
    pending, journal = PendingJournal(db), Journal(db)
    scan([one, two], pending, journal)
    assert scan([two], pending, journal, complete=False).forgotten == 0
    assert scan([], pending, journal, complete=False).forgotten == 0
    assert len(pending.all()) == 2
    assert scan([one], pending, journal).forgotten == 1  # complete: "two" left the rules
