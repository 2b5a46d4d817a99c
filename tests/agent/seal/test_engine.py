"""Sealing and unsealing real files in place: round trips, names, busy files, injected faults."""

from __future__ import annotations

import errno
import io
import os
import sqlite3
import stat
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from agent.platform.files import file_in_use
from agent.seal import engine as eng
from agent.seal.db import SealDB
from agent.seal.fileops import FileOps
from agent.seal.format import BLOCK_BYTES, HEADER_LEN
from agent.seal.journal import Journal

from .conftest import KEY

SIZES = [0, 1, 65535, 65536, 65537, 300_000]
SPAN = 2 * BLOCK_BYTES + 12_345  # three blocks: three writes of the new copy


def make_file(path: Path, data: bytes, mode: int = 0o640, mtime_ns: int = 1_600_000_000_5 * 10**8):
    path.write_bytes(data)
    os.chmod(path, mode)
    os.utime(path, ns=(mtime_ns, mtime_ns))
    return data


def listing(folder: Path) -> list[str]:
    return sorted(os.listdir(folder))


class FaultOps(FileOps):
    """Raises `error` (an errno) at the n-th file-system step, once."""

    def __init__(self, step: int, error: int = errno.ENOSPC) -> None:
        self.step, self.error, self.count = step, error, 0

    def _tick(self, what: str) -> None:
        self.count += 1
        if self.count == self.step:
            raise OSError(self.error, os.strerror(self.error), what)

    def write(self, fd, data):
        self._tick("write")
        return super().write(fd, data)

    def fsync(self, fd):
        self._tick("fsync")
        super().fsync(fd)

    def rename(self, src, dst):
        self._tick("rename")
        super().rename(src, dst)

    def unlink(self, path):
        self._tick("unlink")
        super().unlink(path)

    def fsync_dir(self, path):
        self._tick("fsync_dir")
        super().fsync_dir(path)

    def chmod(self, path, mode):
        self._tick("chmod")
        super().chmod(path, mode)

    def set_mtime(self, path, mtime_ns):
        self._tick("set_mtime")
        super().set_mtime(path, mtime_ns)


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("mode", [0o640, 0o400, 0o755])
def test_round_trip_restores_bytes_mtime_and_mode(folder, make_engine, size, mode) -> None:
    engine = make_engine()
    path = folder / "report.docx"
    data = make_file(path, os.urandom(size), mode, 1_650_000_000_123_456_789)
    sealed = engine.seal_file(path)
    assert sealed.status == eng.SEALED and listing(folder) == ["report.docx.heedful"]
    blob = (folder / "report.docx.heedful").read_bytes()
    assert len(blob) == sealed.sealed_bytes and (size < 16 or data not in blob)
    assert stat.S_IMODE(os.stat(folder / "report.docx.heedful").st_mode) == 0o600
    back = engine.unseal_file(folder / "report.docx.heedful")
    assert back.status == eng.UNSEALED and listing(folder) == ["report.docx"]
    st = os.stat(path)
    assert path.read_bytes() == data
    assert (stat.S_IMODE(st.st_mode), st.st_mtime_ns) == (mode, 1_650_000_000_123_456_789)
    assert engine.journal.open_ops() == []


def test_one_engine_reuses_its_buffers_across_sizes_and_chunk_sizes(folder, make_engine):
    """Blocks of one file are never mixed with what a previous, larger file left in the
    reused buffers; files sealed with another chunk size (another agent's) open too."""
    engine = make_engine()
    sizes = [SPAN, 0, 1, 70_000, SPAN - 1, 5, BLOCK_BYTES]
    originals = {}
    for i, size in enumerate(sizes):
        originals[f"f{i}.bin"] = make_file(folder / f"f{i}.bin", os.urandom(size))
        assert engine.seal_file(folder / f"f{i}.bin").status == eng.SEALED
    for chunk_size in (16, 300_000):
        other = make_engine(chunk_size=chunk_size)
        originals[f"c{chunk_size}.bin"] = make_file(folder / f"c{chunk_size}.bin",
                                                    os.urandom(SPAN // 3))
        assert other.seal_file(folder / f"c{chunk_size}.bin").status == eng.SEALED
    for name in sorted(originals, reverse=True):
        assert engine.unseal_file(folder / f"{name}.heedful").status == eng.UNSEALED, name
        assert (folder / name).read_bytes() == originals[name], name


def test_registry_and_pending_follow_the_file(folder, make_engine) -> None:
    engine = make_engine()
    make_file(folder / "a.txt", b"alpha")
    engine.seal_file(folder / "a.txt", session="idle-1")
    [entry] = engine.journal.sealed_files("idle-1")
    assert (entry.path.name, entry.original.name, entry.plain_size) == ("a.txt.heedful",
                                                                        "a.txt", 5)
    engine.unseal_file(entry.path)
    assert engine.journal.sealed_files() == []
    pending = engine.journal.db.query("SELECT path FROM seal_pending")
    assert [os.fsdecode(p) for (p,) in pending] == [str(folder / "a.txt")]


def test_name_conflicts_never_overwrite(folder, make_engine) -> None:
    engine = make_engine()
    make_file(folder / "a.txt", b"version one")
    engine.seal_file(folder / "a.txt")
    make_file(folder / "a.txt", b"version two")
    second = engine.seal_file(folder / "a.txt")
    assert second.result_path.name == "a (2).txt.heedful"
    assert listing(folder) == ["a (2).txt.heedful", "a.txt.heedful"]
    engine.unseal_file(folder / "a.txt.heedful")
    make_file(folder / "b.txt", b"unrelated")
    engine.unseal_file(folder / "a (2).txt.heedful")
    assert (folder / "a.txt").read_bytes() == b"version one"
    assert (folder / "a (2).txt").read_bytes() == b"version two"


def test_unseal_keeps_a_plaintext_created_meanwhile(folder, make_engine) -> None:
    engine = make_engine()
    make_file(folder / "notes.md", b"old")
    engine.seal_file(folder / "notes.md")
    make_file(folder / "notes.md", b"new, written while sealed")
    out = engine.unseal_file(folder / "notes.md.heedful")
    assert out.result_path.name == "notes (2).md"
    assert (folder / "notes.md").read_bytes() == b"new, written while sealed"
    assert (folder / "notes (2).md").read_bytes() == b"old"


def test_non_utf8_file_name(folder, make_engine) -> None:
    if sys.platform != "linux":
        pytest.skip("POSIX byte file names")
    engine = make_engine()
    path = Path(os.fsdecode(os.fsencode(str(folder)) + b"/caf\xe9.txt"))
    make_file(path, b"latin-1 name")
    assert engine.seal_file(path).status == eng.SEALED
    [sealed] = engine.journal.sealed_files()
    assert engine.unseal_file(sealed.path).status == eng.UNSEALED
    assert path.read_bytes() == b"latin-1 name"


def test_symlinks_and_folders_are_skipped(folder, make_engine) -> None:
    engine = make_engine()
    make_file(folder / "target", b"x")
    (folder / "link").symlink_to(folder / "target")
    (folder / "sub").mkdir()
    assert engine.seal_file(folder / "link").status == eng.SKIPPED
    assert engine.seal_file(folder / "sub").status == eng.SKIPPED
    assert engine.seal_file(folder / "missing").status == eng.GONE


# -- waiting for files to settle ---------------------------------------------------------------
def test_recently_changed_files_settle_first(folder, make_engine) -> None:
    now = [time.time()]
    engine = make_engine(settle_seconds=10, partial_settle_seconds=600, clock=lambda: now[0])
    (folder / "fresh.txt").write_bytes(b"just written")
    (folder / "movie.mp4.crdownload").write_bytes(b"partial")
    (folder / "~$budget.xlsx").write_bytes(b"owner file")
    out = engine.seal_file(folder / "fresh.txt")
    assert out.status == eng.BUSY and "settling" in out.reason
    now[0] += 20
    assert engine.seal_file(folder / "fresh.txt").status == eng.SEALED
    for name in ("movie.mp4.crdownload", "~$budget.xlsx"):
        assert engine.seal_file(folder / name).status == eng.BUSY
    now[0] += 600
    assert engine.seal_file(folder / "movie.mp4.crdownload").status == eng.SEALED


def test_download_placeholder_waits_for_its_part_file(folder, make_engine) -> None:
    now = [time.time() + 60]
    engine = make_engine(settle_seconds=10, clock=lambda: now[0])
    (folder / "setup.iso").write_bytes(b"")
    (folder / "setup.iso.part").write_bytes(b"downloading")
    assert engine.seal_file(folder / "setup.iso").status == eng.BUSY


def test_file_held_open_by_another_process_is_busy(folder, make_engine) -> None:
    engine = make_engine(busy_probe=file_in_use)
    path = folder / "open.txt"
    make_file(path, b"held open")
    holder = subprocess.Popen([sys.executable, "-c",
                               "import sys,time; f=open(sys.argv[1],'rb'); print('ok', flush=True);"
                               " time.sleep(60)", str(path)], stdout=subprocess.PIPE)
    try:
        assert holder.stdout.readline().strip() == b"ok"
        out = engine.seal_file(path)
        assert out.status == eng.BUSY and "another process" in out.reason
        assert listing(folder) == ["open.txt"]
    finally:
        holder.kill()
        holder.wait()
    assert engine.seal_file(path).status == eng.SEALED


def test_file_locked_by_another_process_is_busy(folder) -> None:
    path = folder / "locked.db"
    make_file(path, b"locked")
    holder = subprocess.Popen([sys.executable, "-c",
                               "import fcntl,os,sys,time; fd=os.open(sys.argv[1], os.O_RDONLY);"
                               " fcntl.flock(fd, fcntl.LOCK_EX); os.close(os.dup(fd));"
                               " print('ok', flush=True); time.sleep(60)", str(path)],
                              stdout=subprocess.PIPE)
    try:
        assert holder.stdout.readline().strip() == b"ok"
        assert file_in_use(path) is not None
    finally:
        holder.kill()
        holder.wait()
    assert file_in_use(path) is None


# -- faults ------------------------------------------------------------------------------------
def test_disk_full_at_the_write_seam_stops_cleanly(folder, make_engine) -> None:
    engine = make_engine(FaultOps(step=2, error=errno.ENOSPC))  # the second block's write
    data = make_file(folder / "big.bin", os.urandom(SPAN))
    out = engine.seal_file(folder / "big.bin")
    assert (out.status, out.error_kind) == (eng.FAILED, "disk_full")
    assert "No space left" in out.reason and str(folder) not in out.reason
    assert listing(folder) == ["big.bin"] and (folder / "big.bin").read_bytes() == data
    assert engine.journal.open_ops() == []


def test_permission_error_stops_cleanly(folder, make_engine) -> None:
    engine = make_engine(FaultOps(step=1, error=errno.EACCES))
    data = make_file(folder / "a.txt", b"private")
    out = engine.seal_file(folder / "a.txt")
    assert (out.status, out.error_kind) == (eng.FAILED, "permission")
    assert listing(folder) == ["a.txt"] and (folder / "a.txt").read_bytes() == data


# -- verification: a copy that does not read back as its source is never put in place -------
class LyingDisk(FileOps):
    """The n-th write stores one flipped bit yet reports success (a disk that lies)."""

    def __init__(self, nth: int) -> None:
        self.nth, self.count = nth, 0

    def write(self, fd, data):
        self.count += 1
        if self.count == self.nth:
            bad = bytearray(data)
            bad[len(bad) // 2] ^= 0x01
            return super().write(fd, memoryview(bad))
        return super().write(fd, data)


class MisreadingReader(io.FileIO):
    """Its first read returns one flipped bit (a bad read or bad memory), later reads are true."""

    def __init__(self, fd: int) -> None:
        super().__init__(fd, "rb")
        self.misread = False

    def readinto(self, buffer) -> int:
        n = super().readinto(buffer)
        if n and not self.misread:
            self.misread = True
            buffer[n // 2] ^= 0x10
        return n


class MisreadOnce(FileOps):
    def open_read(self, path: Path) -> io.FileIO:
        return MisreadingReader(os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)))


def assert_refused(engine, folder: Path, out, name: str, data: bytes) -> None:
    assert (out.status, out.error_kind) == (eng.FAILED, "verification_failed"), out
    assert listing(folder) == [name] and (folder / name).read_bytes() == data
    assert engine.journal.open_ops() == []


@pytest.mark.parametrize("nth", [1, 2, 3])
def test_a_sealed_copy_damaged_on_disk_is_not_put_in_place(folder, make_engine, nth) -> None:
    engine = make_engine(LyingDisk(nth))
    data = make_file(folder / "report.pdf", os.urandom(SPAN))
    out = engine.seal_file(folder / "report.pdf")
    assert_refused(engine, folder, out, "report.pdf", data)


def test_a_plaintext_misread_before_encryption_is_caught(folder, make_engine) -> None:
    """The sealed copy is authentic (every tag checks) but of the wrong bytes: only comparing
    it with the file itself catches that; a digest of what was read would match."""
    engine = make_engine(MisreadOnce())
    data = make_file(folder / "notes.txt", os.urandom(100_000))
    out = engine.seal_file(folder / "notes.txt")
    assert_refused(engine, folder, out, "notes.txt", data)
    engine.ops = FileOps()
    assert engine.seal_file(folder / "notes.txt").status == eng.SEALED


@pytest.mark.parametrize("nth", [1, 3])
def test_a_restored_copy_damaged_on_disk_is_not_put_in_place(folder, make_engine, nth) -> None:
    data = make_file(folder / "plan.odt", os.urandom(SPAN))
    assert make_engine().seal_file(folder / "plan.odt").status == eng.SEALED
    sealed = (folder / "plan.odt.heedful").read_bytes()
    engine = make_engine(LyingDisk(nth))
    out = engine.unseal_file(folder / "plan.odt.heedful")
    assert_refused(engine, folder, out, "plan.odt.heedful", sealed)
    engine.ops = FileOps()
    assert engine.unseal_file(folder / "plan.odt.heedful").status == eng.UNSEALED
    assert (folder / "plan.odt").read_bytes() == data


def _count_steps(make_engine, folder: Path, operation: str) -> int:
    counter = FaultOps(step=-1)
    engine = make_engine(counter)
    make_file(folder / "probe.bin", os.urandom(SPAN))
    engine.seal_file(folder / "probe.bin")
    if operation == "unseal":
        counter.count = 0
        engine.unseal_file(folder / "probe.bin.heedful")
    (folder / "probe.bin").unlink(missing_ok=True)
    (folder / "probe.bin.heedful").unlink(missing_ok=True)
    return counter.count


@pytest.mark.parametrize("operation", ["seal", "unseal"])
def test_a_failure_at_every_step_leaves_one_complete_copy(folder, make_engine, operation):
    steps = _count_steps(make_engine, folder, operation)
    # seal: 3 writes, fsync, rename, fsync_dir, unlink; unseal adds set_mtime and chmod
    assert steps == (7 if operation == "seal" else 9)
    for step in range(1, steps + 1):
        ops = FaultOps(step=-1)
        engine = make_engine(ops)
        data = make_file(folder / "f.bin", os.urandom(SPAN), 0o644, 1_500_000_000 * 10**9)
        if operation == "unseal":
            engine.seal_file(folder / "f.bin")
        ops.count, ops.step = 0, step
        out = (engine.seal_file(folder / "f.bin") if operation == "seal"
               else engine.unseal_file(folder / "f.bin.heedful"))
        assert out.status in (eng.FAILED, eng.SEALED, eng.UNSEALED), (step, out)
        names = listing(folder)
        assert names in (["f.bin"], ["f.bin.heedful"]), (step, names)
        assert engine.journal.open_ops() == [], step
        ops.step = -1
        if names == ["f.bin.heedful"]:
            assert engine.unseal_file(folder / "f.bin.heedful").status == eng.UNSEALED
        assert (folder / "f.bin").read_bytes() == data, step
        assert os.stat(folder / "f.bin").st_mtime_ns == 1_500_000_000 * 10**9
        (folder / "f.bin").unlink()


def test_source_changing_during_sealing_is_retried_not_lost(folder, make_engine) -> None:
    path = folder / "live.log"

    class Appender(FileOps):
        def barrier(self, label: str) -> None:
            if label == "seal.written":
                with open(path, "ab") as handle:
                    handle.write(b" and more")

    engine = make_engine(Appender())
    make_file(path, b"first line")
    out = engine.seal_file(path)
    assert out.status == eng.CHANGED
    assert listing(folder) == ["live.log"] and path.read_bytes() == b"first line and more"


def test_source_replaced_after_verification_keeps_both_versions(folder, make_engine) -> None:
    path = folder / "doc.txt"

    class Replacer(FileOps):
        def barrier(self, label: str) -> None:
            if label == "seal.renamed":
                tmp = folder / "doc.txt.new"
                tmp.write_bytes(b"saved by an editor")
                os.replace(tmp, path)

    engine = make_engine(Replacer())
    make_file(path, b"original")
    out = engine.seal_file(path)
    assert out.status == eng.SEALED
    assert listing(folder) == ["doc.txt", "doc.txt.heedful"]
    assert path.read_bytes() == b"saved by an editor"
    engine.ops = FileOps()
    assert engine.unseal_file(folder / "doc.txt.heedful").result_path.name == "doc (2).txt"
    assert (folder / "doc (2).txt").read_bytes() == b"original"


def test_tampered_sealed_file_is_left_untouched(folder, make_engine) -> None:
    engine = make_engine()
    make_file(folder / "x.bin", os.urandom(1000))
    engine.seal_file(folder / "x.bin")
    sealed = folder / "x.bin.heedful"
    blob = bytearray(sealed.read_bytes())
    blob[HEADER_LEN + 10] ^= 1
    sealed.write_bytes(bytes(blob))
    out = engine.unseal_file(sealed)
    assert (out.status, out.error_kind) == (eng.FAILED, "header_mismatch")
    assert listing(folder) == ["x.bin.heedful"] and sealed.read_bytes() == bytes(blob)


def test_wrong_device_key_cannot_unseal(folder, make_engine, db) -> None:
    make_engine().seal_file(make_file(folder / "k.txt", b"k") and folder / "k.txt")
    other = eng.SealEngine(make_engine().journal, os.urandom(32), busy_probe=lambda p: None)
    out = other.unseal_file(folder / "k.txt.heedful")
    assert (out.status, out.error_kind) == (eng.FAILED, "wrong_key")
    assert listing(folder) == ["k.txt.heedful"]


def test_a_name_taken_at_the_last_moment_moves_to_the_next_free_one(folder, make_engine):
    class Squatter(FileOps):
        def barrier(self, label: str) -> None:
            if label == "unseal.verified":
                (folder / "a.txt").write_bytes(b"created a moment ago")

    make_file(folder / "a.txt", b"sealed version")
    make_engine().seal_file(folder / "a.txt")
    out = make_engine(Squatter()).unseal_file(folder / "a.txt.heedful")
    assert out.status == eng.UNSEALED and out.result_path.name == "a (2).txt"
    assert (folder / "a.txt").read_bytes() == b"created a moment ago"
    assert (folder / "a (2).txt").read_bytes() == b"sealed version"


def test_two_versions_of_one_file_unseal_in_parallel(folder, make_engine) -> None:
    from agent.seal.worker import run_bounded

    engine = make_engine()
    for version in range(6):
        make_file(folder / "plan.txt", f"version {version}".encode())
        engine.seal_file(folder / "plan.txt")
    outcomes = []
    run_bounded(engine.journal.sealed_files(), lambda f: engine.unseal_file(
        f.path, original=f.original), workers=3, stop=lambda: False, done=outcomes.append)
    assert {o.status for o in outcomes} == {eng.UNSEALED}
    contents = sorted(p.read_bytes() for p in folder.iterdir())
    assert contents == [f"version {v}".encode() for v in range(6)]


# -- groups: files of one folder share the journal commits and the folder fsync ----------------
GROUP = {"a.bin": SPAN, "b.bin": 10, "c.bin": 70_000}
GROUP_MTIME = 1_400_000_000 * 10**9


def make_group(folder: Path) -> dict[str, bytes]:
    return {name: make_file(folder / name, os.urandom(size), 0o640, GROUP_MTIME)
            for name, size in GROUP.items()}


def run_group(engine, folder: Path, operation: str) -> list[eng.Outcome]:
    if operation == "seal":
        return engine.seal_files([(folder / name, 0.0) for name in GROUP])
    return engine.unseal_files([(folder / f"{name}.heedful", None) for name in GROUP])


class CountingDB(SealDB):
    """Counts committed transactions (the journal's durable steps)."""

    commits = 0

    @contextmanager
    def transaction(self):
        with super().transaction() as conn:
            yield conn
        self.commits += 1


@pytest.mark.parametrize("operation", ["seal", "unseal"])
def test_a_group_costs_one_folder_fsync_and_three_commits(tmp_path, folder, operation):
    db = CountingDB(tmp_path / "group.db")
    counter = FaultOps(step=-1)
    engine = eng.SealEngine(Journal(db), KEY, ops=counter, settle_seconds=0,
                            busy_probe=lambda p: None)
    data = make_group(folder)
    if operation == "unseal":
        run_group(engine, folder, "seal")
    counted, db.commits = FaultOps(step=-1), 0
    engine.ops = counted
    fsyncs = []
    counted.fsync_dir = lambda path: fsyncs.append(path) or FileOps.fsync_dir(counted, path)
    outcomes = run_group(engine, folder, operation)
    assert {o.status for o in outcomes} == {eng.SEALED if operation == "seal" else eng.UNSEALED}
    assert fsyncs == [folder] and db.commits == 3  # started, verified, done: for all three
    if operation == "unseal":
        assert all((folder / n).read_bytes() == d for n, d in data.items())
    db.close()


@pytest.mark.parametrize("operation", ["seal", "unseal"])
def test_a_failure_at_every_step_of_a_group_leaves_each_file_once(folder, make_engine,
                                                                    operation):
    """Every write, fsync, rename, the folder fsync and every removal of a three-file group
    fails in turn; each file must then exist exactly once, complete, and unseal exactly."""
    counter = FaultOps(step=-1)
    engine = make_engine(counter)
    make_group(folder)
    if operation == "unseal":
        run_group(engine, folder, "seal")
        counter.count = 0
    run_group(engine, folder, operation)
    steps = counter.count
    # seal: 5 writes, 3 fsyncs, 3 renames, 1 folder fsync, 3 removals; unseal adds 3 set_mtime
    # and 3 chmod (one file of three blocks, two of one)
    assert steps == (15 if operation == "seal" else 21)
    for name in listing(folder):
        (folder / name).unlink()
    for step in range(1, steps + 1):
        ops = FaultOps(step=-1)
        engine = make_engine(ops)
        data = make_group(folder)
        if operation == "unseal":
            run_group(engine, folder, "seal")
        ops.count, ops.step = 0, step
        outcomes = run_group(engine, folder, operation)
        assert {o.status for o in outcomes} <= {eng.FAILED, eng.SEALED, eng.UNSEALED}, step
        assert any(o.error_kind == "disk_full" for o in outcomes), (step, outcomes)
        present = listing(folder)
        for name in GROUP:
            assert (name in present) + (f"{name}.heedful" in present) == 1, (step, present)
        assert len(present) == len(GROUP) and engine.journal.open_ops() == [], step
        ops.step = -1
        for name in GROUP:
            if f"{name}.heedful" in present:
                assert engine.unseal_file(folder / f"{name}.heedful").status == eng.UNSEALED
            assert (folder / name).read_bytes() == data[name], (step, name)
            assert os.stat(folder / name).st_mtime_ns == GROUP_MTIME, (step, name)
            (folder / name).unlink()


class FailingJournal(Journal):
    """A journal whose named group step fails once, as a full or damaged disk would."""

    def __init__(self, db, step: str) -> None:
        super().__init__(db)
        self.step = step

    def _fail(self, step: str) -> None:
        if step == self.step:
            self.step = ""
            raise sqlite3.OperationalError("disk I/O error")

    def begin_all(self, ops):
        self._fail("begin_all")
        return super().begin_all(ops)

    def record_verified(self, ops):
        self._fail("record_verified")
        return super().record_verified(ops)

    def finish_seals(self, ops):
        self._fail("finish_seals")
        return super().finish_seals(ops)

    def finish_unseals(self, done):
        self._fail("finish_unseals")
        return super().finish_unseals(done)


@pytest.mark.parametrize(("operation", "step", "status"), [
    ("seal", "begin_all", eng.FAILED), ("seal", "record_verified", eng.FAILED),
    ("seal", "finish_seals", eng.SEALED), ("unseal", "begin_all", eng.FAILED),
    ("unseal", "record_verified", eng.FAILED), ("unseal", "finish_unseals", eng.UNSEALED)])
def test_a_failed_group_commit_settles_every_file_of_the_group(db, folder, operation, step,
                                                                 status):
    """Before the plaintexts are removed a failed commit rolls the group back; after, each
    file's operation is finished on its own (the removal already happened)."""
    data = make_group(folder)
    engine = eng.SealEngine(FailingJournal(db, ""), KEY, settle_seconds=0,
                            busy_probe=lambda p: None)
    if operation == "unseal":
        run_group(engine, folder, "seal")
    engine.journal.step = step
    outcomes = run_group(engine, folder, operation)
    assert [o.status for o in outcomes] == [status] * len(GROUP)
    assert {o.error_kind for o in outcomes} == {"journal"}
    sealed = (status == eng.SEALED) or (operation == "unseal" and status == eng.FAILED)
    assert listing(folder) == sorted(f"{n}.heedful" if sealed else n for n in GROUP)
    assert engine.journal.open_ops() == []
    assert len(engine.journal.sealed_files()) == (len(GROUP) if sealed else 0)
    for name in GROUP:
        if sealed:
            assert engine.unseal_file(folder / f"{name}.heedful").status == eng.UNSEALED
        assert (folder / name).read_bytes() == data[name]


def test_groups_keep_each_folder_together_within_their_bounds() -> None:
    from agent.seal.worker import groups

    items = [("x", 1), ("y", 5), ("x", 2), ("x", 100), ("x", 3), ("y", 6), ("x", 4), ("x", 5)]
    made = list(groups(items, folder=lambda i: i[0], size=lambda i: i[1], max_files=3,
                       max_bytes=50))
    assert made == [[("x", 1), ("x", 2)], [("x", 100)], [("x", 3), ("x", 4), ("x", 5)],
                    [("y", 5), ("y", 6)]]
