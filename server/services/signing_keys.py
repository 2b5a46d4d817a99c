"""The server's Ed25519 rule-signing key: loaded from a configured file, or generated on first
start in the data folder (mode 0600).

Several workers may start at once: the key is written to a temporary file and linked into place
with `os.link`, which fails if another process won, so every process ends up with the same key.
"""

from __future__ import annotations

import contextlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from rules.signing import generate_private_key, key_id, load_private_key, private_key_to_pem
from rules.signing import public_key_pem as _public_key_pem

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SigningKey:
    """The private key, its id and public PEM (what agents are told to trust)."""

    private_key: Ed25519PrivateKey
    key_id: str
    public_key_pem: str
    path: Path

    def public_entry(self) -> dict[str, str]:
        """The `rules_public_keys` entry of the enrol reply."""
        return {"key_id": self.key_id, "public_key_pem": self.public_key_pem}


def _write_new_key(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(private_key_to_pem(generate_private_key()))
            handle.flush()
            os.fsync(handle.fileno())
        with contextlib.suppress(FileExistsError):  # another worker was first: use theirs
            os.link(temporary, path)
            log.warning("generated a new rule-signing key at %s", path)
    finally:
        temporary.unlink(missing_ok=True)


def load_or_create(path: Path, *, create: bool = True) -> SigningKey:
    """The signing key at `path`, generating it first when missing and `create` is true."""
    if not path.exists():
        if not create:
            raise FileNotFoundError(f"signing key {path} does not exist")
        _write_new_key(path)
    try:
        key = load_private_key(path.read_bytes())
    except OSError as exc:
        raise OSError(f"cannot read signing key {path}: {exc.strerror}") from exc
    return SigningKey(private_key=key, key_id=key_id(key),
                      public_key_pem=_public_key_pem(key).decode("ascii"), path=path)
