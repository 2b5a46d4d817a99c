"""The durable journal of seal and unseal operations, and the registry of sealed files.

An operation is recorded (`started`) before its temporary file is created, and marked
`verified` — with the temporary file's inode and the sizes — only once that file is complete,
fsynced and checked. The engine's `resolve` reads these two facts after a crash to
decide, file by file, whether to roll back or finish (docs/seal-format.md, "Crash safety").
Finishing an operation and updating the sealed/pending tables happen in one transaction.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
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

    def begin(self, kind: str, *, src: Path, dst: Path, tmp: Path, identity: Identity,
              original: Path | None = None, session: str | None = None) -> Op:
        """Record an operation before its temporary file exists (durable on return)."""
        with self.db.transaction() as conn:
            cur = conn.execute(
                "INSERT INTO seal_ops (kind, state, src, dst, tmp, original, src_ino, src_size,"
                " src_mtime_ns, src_ctime_ns, session, started_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (kind, STARTED, to_blob(src), to_blob(dst), to_blob(tmp),
                 to_blob(original) if original else None, identity.ino, identity.size,
                 identity.mtime_ns, identity.ctime_ns, session, self.clock()))
        return Op(int(cur.lastrowid or 0), kind, STARTED, src, dst, tmp, original, identity,
                  session=session)

    def mark_verified(self, op: Op, *, plain_size: int, sealed_size: int, tmp_ino: int,
                      digest: bytes | None = None) -> Op:
        """The temporary file is complete, durable and checked (`digest`: no longer recorded by
        the engine, which compares copies byte for byte; the column stays for old journals)."""
        with self.db.transaction() as conn:
            conn.execute("UPDATE seal_ops SET state = ?, digest = ?, plain_size = ?,"
                         " sealed_size = ?, tmp_ino = ? WHERE id = ?",
                         (VERIFIED, digest, plain_size, sealed_size, tmp_ino, op.id))
        return replace(op, state=VERIFIED, digest=digest, plain_size=plain_size,
                       sealed_size=sealed_size, tmp_ino=tmp_ino)

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
            conn.execute("DELETE FROM seal_ops WHERE id = ?", (op.id,))
            conn.execute("INSERT OR REPLACE INTO seal_files (path, original, plain_size,"
                         " sealed_size, sealed_at, session) VALUES (?, ?, ?, ?, ?, ?)",
                         (to_blob(op.dst), to_blob(op.original or op.src), op.plain_size,
                          op.sealed_size, self.clock(), op.session))
            if not keep_pending:
                conn.execute("DELETE FROM seal_pending WHERE path = ?", (to_blob(op.src),))

    def finish_unseal(self, op: Op, *, mtime_ns: int) -> None:
        """Unsealed: drop the operation and the registry entry; the plaintext is pending again."""
        now = self.clock()
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM seal_ops WHERE id = ?", (op.id,))
            conn.execute("DELETE FROM seal_files WHERE path = ?", (to_blob(op.src),))
            conn.execute(
                "INSERT INTO seal_pending (path, size, mtime_ns, first_seen, last_change)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT(path) DO UPDATE SET size = excluded.size,"
                " mtime_ns = excluded.mtime_ns, state = 'pending', reason = '', retry_at = 0",
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
