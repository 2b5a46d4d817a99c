"""The durable journal of seal and unseal operations, and the registry of sealed files.

An operation is recorded (`started`) before its temporary file is created, and marked
`verified` — with the temporary file's inode and the sizes — only once that file is complete,
fsynced and checked. `recovery.resolve` reads these two facts after a crash to decide, file by
file, whether to roll back or finish (docs/seal-format.md, "Crash safety"). Finishing an
operation and updating the sealed/pending tables happen in one transaction. The engine works on
a group of files at a time and records each of these steps for the whole group in one
transaction (`begin_all`, `record_verified`, `finish_seals`/`finish_unseals`): a commit per
group instead of three per file, with the same facts recorded in the same order.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from agent.seal.db import SealDB, to_blob, to_optional_path, to_path

STARTED, VERIFIED = "started", "verified"
_OP_COLUMNS = ("id, kind, state, src, dst, tmp, original, src_ino, src_size, src_mtime_ns, "
               "src_ctime_ns, tmp_ino, digest, plain_size, sealed_size, session")


@dataclass(frozen=True)
class Identity:
    """What tells us a file was not touched: inode, size, mtime and ctime."""

    ino: int
    size: int
    mtime_ns: int
    ctime_ns: int

    @classmethod
    def of(cls, st: os.stat_result) -> Identity:
        """The identity of a stat result."""
        return cls(st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


@dataclass(frozen=True)
class Op:
    """One journalled operation (`kind` "seal" or "unseal")."""

    id: int
    kind: str
    state: str
    src: Path
    dst: Path
    tmp: Path
    original: Path | None = None
    src_identity: Identity | None = None
    tmp_ino: int | None = None
    digest: bytes | None = None
    plain_size: int = 0
    sealed_size: int = 0
    session: str | None = None


@dataclass(frozen=True)
class SealedFile:
    """A sealed file this agent made or found."""

    path: Path
    original: Path
    plain_size: int
    sealed_size: int
    sealed_at: float
    session: str | None


def verified(op: Op, *, plain_size: int, sealed_size: int, tmp_ino: int) -> Op:
    """`op` once its temporary file (inode `tmp_ino`) is complete, durable and checked; the
    journal learns it with `Journal.record_verified`. (The engine compares copies byte for
    byte and records no digest; the column stays for old journals.)"""
    return replace(op, state=VERIFIED, plain_size=plain_size, sealed_size=sealed_size,
                   tmp_ino=tmp_ino)


def _op_from_row(row: tuple) -> Op:
    (op_id, kind, state, src, dst, tmp, original, ino, size, mtime_ns, ctime_ns, tmp_ino, digest,
     plain_size, sealed_size, session) = row
    identity = Identity(ino, size, mtime_ns, ctime_ns) if ino is not None else None
    return Op(op_id, kind, state, to_path(src), to_path(dst), to_path(tmp),
              to_optional_path(original),
              identity, tmp_ino, digest, plain_size or 0, sealed_size or 0, session)


class Journal:
    """Operations in progress plus the sealed-file registry, in a `SealDB`."""

    def __init__(self, db: SealDB, clock: Callable[[], float] = time.time) -> None:
        self.db, self.clock = db, clock

    def begin_all(self, ops: Sequence[Op]) -> list[Op]:
        """Record operations before their temporary files exist, in one transaction; returns
        them with their ids (`ops` carry everything but the id; survives a kill on return)."""
        begun, now = [], self.clock()
        with self.db.transaction() as conn:
            for op in ops:
                ident = op.src_identity
                if ident is None:  # recovery tells "ours" from "replaced" by it
                    raise ValueError("an operation needs the identity of its source")
                cur = conn.execute(
                    "INSERT INTO seal_ops (kind, state, src, dst, tmp, original, src_ino,"
                    " src_size, src_mtime_ns, src_ctime_ns, session, started_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (op.kind, STARTED, to_blob(op.src), to_blob(op.dst), to_blob(op.tmp),
                     to_blob(op.original) if op.original else None, ident.ino, ident.size,
                     ident.mtime_ns, ident.ctime_ns, op.session, now))
                begun.append(replace(op, id=int(cur.lastrowid or 0), state=STARTED))
        return begun

    def record_verified(self, ops: Sequence[Op]) -> None:
        """Their temporary files are complete, durable and checked: record each one's inode
        and sizes (see `verified`), all in one transaction."""
        with self.db.transaction() as conn:
            conn.executemany("UPDATE seal_ops SET state = ?, digest = ?, plain_size = ?,"
                             " sealed_size = ?, tmp_ino = ? WHERE id = ?",
                             [(VERIFIED, op.digest, op.plain_size, op.sealed_size, op.tmp_ino,
                               op.id) for op in ops])

    def move_dst(self, op: Op, dst: Path) -> Op:
        """Change the destination (its name was taken by the time recovery placed the file)."""
        with self.db.transaction() as conn:
            conn.execute("UPDATE seal_ops SET dst = ? WHERE id = ?", (to_blob(dst), op.id))
        return replace(op, dst=dst)

    def abort(self, op: Op) -> None:
        """Forget a rolled-back operation."""
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM seal_ops WHERE id = ?", (op.id,))

    def get(self, op_id: int) -> Op | None:
        """The operation's current row (None once finished or aborted)."""
        rows = self.db.query(f"SELECT {_OP_COLUMNS} FROM seal_ops WHERE id = ?", (op_id,))
        return _op_from_row(rows[0]) if rows else None

    def finish_seal(self, op: Op, *, keep_pending: bool = False) -> None:
        """Sealed: drop the operation, register the sealed file, drop the pending entry.

        `keep_pending` when a different file has since taken the plaintext's name.
        """
        with self.db.transaction() as conn:
            self._finish_seal(conn, op, keep_pending)

    def finish_seals(self, ops: Sequence[Op]) -> None:
        """`finish_seal` for a group of operations, in one transaction."""
        with self.db.transaction() as conn:
            for op in ops:
                self._finish_seal(conn, op, False)

    def _finish_seal(self, conn: sqlite3.Connection, op: Op, keep_pending: bool) -> None:
        conn.execute("DELETE FROM seal_ops WHERE id = ?", (op.id,))
        conn.execute("INSERT OR REPLACE INTO seal_files (path, original, plain_size,"
                     " sealed_size, sealed_at, session) VALUES (?, ?, ?, ?, ?, ?)",
                     (to_blob(op.dst), to_blob(op.original or op.src), op.plain_size,
                      op.sealed_size, self.clock(), op.session))
        if not keep_pending:
            conn.execute("DELETE FROM seal_pending WHERE path = ?", (to_blob(op.src),))

    def finish_unseal(self, op: Op, *, mtime_ns: int) -> None:
        """Unsealed: drop the operation and the registry entry; the plaintext is pending again."""
        self.finish_unseals([(op, mtime_ns)])

    def finish_unseals(self, done: Sequence[tuple[Op, int]]) -> None:
        """`finish_unseal` for a group of (operation, restored mtime), in one transaction."""
        now = self.clock()
        with self.db.transaction() as conn:
            for op, mtime_ns in done:
                conn.execute("DELETE FROM seal_ops WHERE id = ?", (op.id,))
                conn.execute("DELETE FROM seal_files WHERE path = ?", (to_blob(op.src),))
                conn.execute(
                    "INSERT INTO seal_pending (path, size, mtime_ns, first_seen, last_change)"
                    " VALUES (?, ?, ?, ?, ?) ON CONFLICT(path) DO UPDATE SET"
                    " size = excluded.size, mtime_ns = excluded.mtime_ns, state = 'pending',"
                    " reason = '', retry_at = 0",
                    (to_blob(op.dst), op.plain_size, mtime_ns, now, mtime_ns / 1e9))

    def open_ops(self) -> list[Op]:
        """Operations a crash left unfinished, oldest first."""
        return [_op_from_row(r) for r in
                self.db.query(f"SELECT {_OP_COLUMNS} FROM seal_ops ORDER BY id")]

    # -- the sealed-file registry ------------------------------------------------------------
    def sealed_files(self, session: str | None = None) -> list[SealedFile]:
        """Registered sealed files (of one idle period when `session` is given)."""
        sql = "SELECT path, original, plain_size, sealed_size, sealed_at, session FROM seal_files"
        rows = (self.db.query(sql + " WHERE session = ? ORDER BY sealed_at", (session,))
                if session is not None else self.db.query(sql + " ORDER BY sealed_at"))
        return [SealedFile(to_path(p), to_path(o), ps, ss, at, s) for p, o, ps, ss, at, s in rows]

    def sealed_original(self, path: Path) -> Path | None:
        """The original plaintext path of a registered sealed file."""
        rows = self.db.query("SELECT original FROM seal_files WHERE path = ?", (to_blob(path),))
        return to_path(rows[0][0]) if rows else None

    def register_sealed(self, path: Path, *, original: Path, plain_size: int,
                        sealed_size: int, sealed_at: float, session: str | None = None) -> None:
        """Record a sealed file found on disk (start-up scan) or renamed by the user."""
        with self.db.transaction() as conn:
            conn.execute("INSERT OR REPLACE INTO seal_files (path, original, plain_size,"
                         " sealed_size, sealed_at, session) VALUES (?, ?, ?, ?, ?, ?)",
                         (to_blob(path), to_blob(original), plain_size, sealed_size,
                          sealed_at, session))

    def forget_sealed(self, path: Path) -> None:
        """Drop a registry entry whose file is gone."""
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM seal_files WHERE path = ?", (to_blob(path),))

    def sealed_totals(self) -> tuple[int, int, int]:
        """(files, plaintext bytes, sealed bytes) over the registry."""
        count, plain, sealed = self.db.query(
            "SELECT COUNT(*), COALESCE(SUM(plain_size), 0), COALESCE(SUM(sealed_size), 0)"
            " FROM seal_files")[0]
        return count, plain, sealed
