"""The organisation's recovery key pair: making it, and loading the public half the server
hands to agents.

The pair is X25519 (`rules.escrow`). `heedful-server recovery keygen` writes the private key
(unencrypted PKCS#8 PEM, mode 0600: it belongs offline, with whoever does recoveries) and the
public key (base64 of its 32 raw bytes) into a folder; the server is then pointed at the public
file with the setting `recovery_public_key_path`. Agents learn the public key from the
enrolment and check-in replies and wrap their device seal key to it (docs/protocol.md,
"PUT /api/v1/escrow"). The server never sees the private key.
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass
from pathlib import Path

from rules import escrow

PRIVATE_FILE, PUBLIC_FILE = "recovery-private.pem", "recovery-public.key"


class RecoveryKeyError(ValueError):
    """The configured recovery key cannot be used, or key files would be overwritten."""


@dataclass(frozen=True)
class RecoveryPublicKey:
    """The configured recovery public key."""

    raw: bytes
    source: str = ""

    @property
    def text(self) -> str:
        """Base64 of the 32 raw bytes: what agents receive."""
        return base64.b64encode(self.raw).decode()

    @property
    def fingerprint(self) -> str:
        """The key's short name (`rules.escrow.fingerprint`), as escrow blobs carry it."""
        return escrow.fingerprint(self.raw)


def load_public_key(path: str | Path) -> RecoveryPublicKey:
    """The recovery public key in the file at `path` (base64 or PEM)."""
    where = Path(path).expanduser()
    try:
        data = where.read_bytes()
    except OSError as exc:
        raise RecoveryKeyError(f"cannot read the recovery public key {where}: "
                               f"{exc.strerror}") from None
    try:
        return RecoveryPublicKey(escrow.load_public_key(data), str(where))
    except (escrow.EscrowError, ValueError) as exc:
        raise RecoveryKeyError(f"the recovery public key {where} is not usable: {exc}") from None


def configured_public_key(path_setting: str) -> RecoveryPublicKey | None:
    """The key named by the setting `recovery_public_key_path`, None when it is empty."""
    return load_public_key(path_setting) if path_setting else None


@dataclass(frozen=True)
class KeyFiles:
    """Where `write_keypair` put the two halves."""

    private_path: Path
    public_path: Path
    fingerprint: str


def write_keypair(folder: Path, *, force: bool = False) -> KeyFiles:
    """Make a new recovery key pair in `folder`; existing files only replaced with `force`."""
    folder = Path(folder).expanduser()
    private_path, public_path = folder / PRIVATE_FILE, folder / PUBLIC_FILE
    existing = [str(p) for p in (private_path, public_path) if p.exists()]
    if existing and not force:
        raise RecoveryKeyError(f"{' and '.join(existing)} already exist; a new key pair would "
                               "make every escrowed key unrecoverable with the old private "
                               "key. Use --force only if that is what you want.")
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    pair = escrow.generate_recovery_keypair()
    _write(private_path, pair.private_pem(), 0o600)
    _write(public_path, (pair.public_text() + "\n").encode(), 0o644)
    return KeyFiles(private_path, public_path, escrow.fingerprint(pair.public_key))


def _write(path: Path, data: bytes, mode: int) -> None:
    """Write durably via a temporary file created exclusively with `mode`, then rename."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
