"""Consistent private copies: WAL replayed, hot journals rolled back, live files untouched."""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
from pathlib import Path

import pytest

from agent.browsing import snapshot as s


def digest(path: Path) -> tuple[str, int]:
    return hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns


def live_files(db: Path) -> dict[str, tuple[str, int]]:
    return {p.name: digest(p) for p in db.parent.iterdir() if p.name.startswith(db.name)}


def test_rows_only_in_the_wal_are_seen_and_live_files_are_untouched(firefox_db, tmp_path):
    db = firefox_db()
    db.visit("https://in-the-wal.example/")
    main_only = tmp_path / "main-only.sqlite"
    main_only.write_bytes(db.path.read_bytes())  # what a copy without the WAL would see
    with sqlite3.connect(main_only) as conn:
        assert conn.execute("SELECT count(*) FROM moz_historyvisits").fetchone()[0] == 0
    before = live_files(db.path)
    with s.open_snapshot(db.path) as conn:
        assert conn.execute("SELECT count(*) FROM moz_historyvisits").fetchone()[0] == 1
    assert live_files(db.path) == before


def test_copy_lives_in_a_private_folder_that_is_removed(firefox_db, tmp_path):
    db = firefox_db()
    db.visit("https://x.example/")
    temp_root = tmp_path / "tmp"
    temp_root.mkdir()
    with s.open_snapshot(db.path, temp_root=temp_root) as conn:
        (folder,) = list(temp_root.iterdir())
        assert folder.stat().st_mode & 0o777 == 0o700
        assert sorted(p.name for p in folder.iterdir())[0] == "places.sqlite"
        assert not (folder / "places.sqlite-shm").exists() or conn  # never copied from live
    assert list(temp_root.iterdir()) == []


def test_unfinished_transaction_behind_a_hot_journal_is_rolled_back(tmp_path):
    db = tmp_path / "History"
    with sqlite3.connect(db) as setup:
        setup.execute("CREATE TABLE visits (id INTEGER PRIMARY KEY, pad TEXT)")
        setup.executemany("INSERT INTO visits (pad) VALUES (?)", [("x" * 500,)] * 50)
    writer = sqlite3.connect(db, isolation_level=None)
    writer.execute("PRAGMA cache_size=1")  # spill pages into the main file mid-transaction
    writer.execute("BEGIN")
    writer.executemany("INSERT INTO visits (pad) VALUES (?)", [("y" * 500,)] * 400)
    journal = db.with_name("History-journal")
    assert journal.stat().st_size > 0
    try:
        with s.open_snapshot(db) as conn:
            assert conn.execute("SELECT count(*) FROM visits").fetchone()[0] == 50
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        writer.execute("ROLLBACK")
        writer.close()


def test_corrupt_and_missing_databases_are_clear_errors(tmp_path):
    bad = tmp_path / "History"
    bad.write_bytes(b"SQLite format 3\x00" + os.urandom(4000))
    with pytest.raises(s.SnapshotCorrupt, match="History: not a readable SQLite database"), \
            s.open_snapshot(bad):
        pass
    with pytest.raises(s.SnapshotMissing, match="database file not found"), \
            s.open_snapshot(tmp_path / "nope" / "places.sqlite"):
        pass


def test_a_query_failing_on_the_copy_becomes_snapshot_corrupt(tmp_path):
    db = tmp_path / "History"
    sqlite3.connect(db).close()
    with pytest.raises(s.SnapshotCorrupt, match="no such table"), s.open_snapshot(db) as conn:
        conn.execute("SELECT * FROM visits")


def test_database_that_keeps_changing_is_retried_then_busy(chromium_db):
    db = chromium_db()
    db.visit("https://a.example/")
    pauses = []

    def browser_keeps_writing(seconds: float) -> None:
        pauses.append(seconds)
        db.visit(f"https://b{len(pauses)}.example/")

    def copy_while_writing(src, dst):
        shutil.copyfile(src, dst)
        db.visit("https://during-copy.example/")  # the browser commits mid-copy

    with pytest.raises(s.SnapshotBusy, match="kept changing while copied"), \
            s.open_snapshot(db.path, attempts=3, sleep=browser_keeps_writing,
                            copy=copy_while_writing):
        pass
    assert len(pauses) == 2


def test_a_commit_between_attempts_then_quiet_gives_a_good_copy(chromium_db):
    db = chromium_db()
    db.visit("https://a.example/")
    calls = []

    def copy_first_time_disturbed(src, dst):
        shutil.copyfile(src, dst)
        calls.append(src)
        if len(calls) == 1:
            db.visit("https://b.example/")

    with s.open_snapshot(db.path, sleep=lambda _: None, copy=copy_first_time_disturbed) as conn:
        assert conn.execute("SELECT count(*) FROM visits").fetchone()[0] == 2
