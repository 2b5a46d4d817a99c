"""Bring one journalled operation to a safe end: roll it back or finish it.

Used at start-up for every operation a crash left open, and in-process after any failure.
The rules (docs/seal-format.md, "Crash safety") never delete the only complete copy of a file:

Seal (plaintext P -> temporary T -> sealed S):
- P still there, same inode: delete our T/S; P stays plaintext and pending.
- P gone (we removed it) and S is ours (inode recorded when T was verified): finish.
- P gone and a verified T exists: place T under a free sealed name and finish.
- P replaced by a different file: keep our verified copy as well (never lose either version).
Unseal (sealed S -> temporary U -> plaintext P):
- P is ours (inode of the verified U): delete S if still there, finish.
- otherwise, S still there: delete U; S stays sealed.
- S gone and a verified U exists: place U under a free name and finish.
"""

from __future__ import annotations

import os
from pathlib import Path

from agent.seal import names
from agent.seal.fileops import FileOps
from agent.seal.journal import VERIFIED, Journal, Op

ROLLED_BACK, SEALED, UNSEALED, GONE = "rolled_back", "sealed", "unsealed", "gone"


def _lstat(path: Path) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except FileNotFoundError:
        return None


def _is_ours(path: Path, op: Op) -> bool:
    st = _lstat(path)
    return op.state == VERIFIED and st is not None and st.st_ino == op.tmp_ino


def resolve(op: Op, journal: Journal, ops: FileOps) -> str:
    """Roll back or finish `op`; returns what happened. Raises OSError if the disk refuses."""
    if op.kind == "seal":
        return _resolve_seal(op, journal, ops)
    return _resolve_unseal(op, journal, ops)


def _place(op: Op, journal: Journal, ops: FileOps, target: Path) -> Op:
    """Rename a verified temporary file to `target` (or a free variant) durably."""
    if target != op.dst:
        op = journal.move_dst(op, target)
    ops.rename(op.tmp, op.dst)
    ops.fsync_dir(op.dst.parent)
    return op


def _resolve_seal(op: Op, journal: Journal, ops: FileOps) -> str:
    src = _lstat(op.src)
    replaced = src is not None and op.src_identity is not None and \
        src.st_ino != op.src_identity.ino
    dst_ours, tmp_there = _is_ours(op.dst, op), _lstat(op.tmp) is not None
    if src is not None and not replaced:
        for ours, path in ((tmp_there, op.tmp), (dst_ours, op.dst)):
            if ours:
                ops.unlink(path)
        ops.fsync_dir(op.src.parent)
        journal.abort(op)
        return ROLLED_BACK
    if not dst_ours and tmp_there and _is_ours(op.tmp, op):
        op = _place(op, journal, ops, names.sealed_target(op.src))
        dst_ours = True
    if dst_ours:
        ops.fsync_dir(op.src.parent)  # make the plaintext's removal durable before forgetting
        journal.finish_seal(op, keep_pending=replaced)
        return SEALED
    if tmp_there:
        ops.unlink(op.tmp)  # incomplete, and its plaintext was removed by someone else
    journal.abort(op)
    return GONE


def _resolve_unseal(op: Op, journal: Journal, ops: FileOps) -> str:
    if _is_ours(op.dst, op):
        return _finish_unseal(op, journal, ops)
    tmp_there = _lstat(op.tmp) is not None
    if _lstat(op.src) is not None:
        if tmp_there:
            ops.unlink(op.tmp)
            ops.fsync_dir(op.tmp.parent)
        journal.abort(op)
        return ROLLED_BACK
    if tmp_there and _is_ours(op.tmp, op):
        op = _place(op, journal, ops, names.plain_target(op.original or op.dst))
        return _finish_unseal(op, journal, ops)
    if tmp_there:
        ops.unlink(op.tmp)
    journal.abort(op)
    return GONE


def _finish_unseal(op: Op, journal: Journal, ops: FileOps) -> str:
    if _lstat(op.src) is not None:
        ops.unlink(op.src)
    ops.fsync_dir(op.src.parent)
    st = os.lstat(op.dst)
    journal.finish_unseal(op, mtime_ns=st.st_mtime_ns)
    return UNSEALED


def sweep_orphans(folder: Path, journal: Journal, ops: FileOps) -> list[Path]:
    """Delete temporary files in `folder` (not below) that no journal entry explains, when
    their source still exists.

    Only possible if the journal database was lost; a temporary file whose source is gone is
    left alone (it may be the only copy) and returned so it can be reported.
    """
    known = {op.tmp for op in journal.open_ops()}
    left: list[Path] = []
    for name in sorted(os.listdir(folder)):
        path = folder / name
        if not names.is_work_name(name) or path in known:
            continue
        base = name[1:].removesuffix(names.SEAL_TEMP_SUFFIX).removesuffix(
            names.UNSEAL_TEMP_SUFFIX)
        source = path.with_name(base if name.endswith(names.SEAL_TEMP_SUFFIX)
                                else base + names.SEALED_SUFFIX)
        if _lstat(source) is not None:
            ops.unlink(path)
        else:
            left.append(path)
    return left
