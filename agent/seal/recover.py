"""Offline recovery for the help desk: open sealed files with the organisation's recovery key.

Needs no agent state: the escrow blob (from `heedful-server recovery export DEVICE_ID`) is
unwrapped with the recovery private key, giving the device key; each sealed file is then
decrypted next to itself (or into `output`) under its original name, with its original
modification time and permission bits. The sealed files are left as they are. A plaintext is
written to a hidden temporary file, fsynced, checked and only then renamed into place (never
over an existing file), so a failure leaves no partial output.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

from agent.platform.files import fsync_directory, rename_noreplace
from agent.seal import names
from agent.seal.engine import error_kind, hash_file, message
from agent.seal.errors import SealError
from agent.seal.fileops import FileOps
from agent.seal.format import open_stream
from agent.seal.keys import key_from_escrow


@dataclass(frozen=True)
class Recovered:
    """One file: where the plaintext went, or why it could not be recovered."""

    sealed: Path
    output: Path | None = None
    size: int = 0
    error_kind: str = ""
    error: str = ""


def recover_files(wrapped: bytes, recovery_private: bytes | str, files: list[Path], *,
                  output: Path | None = None) -> list[Recovered]:
    """Decrypt every sealed file in `files`; raises EscrowError if the key cannot be unwrapped."""
    device_key = key_from_escrow(wrapped, recovery_private)
    return [recover_one(Path(f), device_key, output=output) for f in files]


def recover_one(sealed: Path, device_key: bytes, *, output: Path | None = None,
                ops: FileOps | None = None) -> Recovered:
    """Decrypt one sealed file with the device key."""
    ops = ops or FileOps()
    folder = Path(output) if output else sealed.parent
    name = names.original_name(sealed).name if names.is_sealed_name(sealed.name) \
        else sealed.name + ".recovered"
    try:
        target = names.plain_target(folder / name)
    except OSError as exc:
        return Recovered(sealed, error_kind=error_kind(exc), error=message(exc))
    tmp = names.unseal_temp_for(sealed, folder)
    try:
        _decrypt(sealed, tmp, device_key, ops)
        rename_noreplace(tmp, target)
        fsync_directory(folder)
    except (OSError, SealError) as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)  # a partial or unverified plaintext must not stay behind
        return Recovered(sealed, error_kind=error_kind(exc), error=message(exc))
    return Recovered(sealed, target, target.stat().st_size)


def _decrypt(sealed: Path, tmp: Path, device_key: bytes, ops: FileOps) -> None:
    with ops.open_read(sealed) as src, ops.create(tmp) as out:
        result = open_stream(src, device_key, out)
        out.fsync()
        if hash_file(ops, tmp) != result.digest:
            raise OSError(5, "the recovered copy does not read back as decrypted")
        ops.set_mtime(tmp, result.header.mtime_ns)
        ops.chmod(tmp, result.header.mode)
        out.fsync()
