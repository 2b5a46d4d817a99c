"""Ed25519 signing keys: generate, serialise as PEM, load, and name by key id.

Private keys are PKCS#8 PEM (optionally encrypted with a password), public keys
SubjectPublicKeyInfo PEM — the forms `openssl pkey` reads. The key id is the first 16 hex
digits of SHA-256 over the 32 raw public-key bytes: short enough to read aloud, derived from the
key itself so it cannot disagree with it.
"""

from __future__ import annotations

import hashlib

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from rules.errors import KeyFormatError

PublicKeyLike = Ed25519PublicKey | Ed25519PrivateKey | bytes | str
"""Anything `as_public_key` accepts: a key object or public-key PEM."""


def generate_private_key() -> Ed25519PrivateKey:
    """A new random Ed25519 private key."""
    return Ed25519PrivateKey.generate()


def private_key_to_pem(key: Ed25519PrivateKey, password: bytes | None = None) -> bytes:
    """PKCS#8 PEM of `key`, encrypted with `password` when one is given."""
    encryption = (serialization.BestAvailableEncryption(password) if password
                  else serialization.NoEncryption())
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             encryption)


def load_private_key(pem: bytes | str, password: bytes | None = None) -> Ed25519PrivateKey:
    """An Ed25519 private key from PEM; KeyFormatError if it is anything else."""
    data = pem.encode() if isinstance(pem, str) else pem
    try:
        key = serialization.load_pem_private_key(data, password=password)
    except TypeError as exc:
        raise KeyFormatError(f"private key: {exc}") from None
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise KeyFormatError(f"not a PEM private key ({exc})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFormatError(f"expected an Ed25519 private key, got {type(key).__name__}")
    return key


def public_key_pem(key: Ed25519PrivateKey | Ed25519PublicKey) -> bytes:
    """SubjectPublicKeyInfo PEM of the public half of `key`."""
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return public.public_bytes(serialization.Encoding.PEM,
                               serialization.PublicFormat.SubjectPublicKeyInfo)


def load_public_key(pem: bytes | str) -> Ed25519PublicKey:
    """An Ed25519 public key from PEM; KeyFormatError if it is anything else."""
    data = pem.encode() if isinstance(pem, str) else pem
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise KeyFormatError(f"not a PEM public key ({exc})") from None
    if not isinstance(key, Ed25519PublicKey):
        raise KeyFormatError(f"expected an Ed25519 public key, got {type(key).__name__}")
    return key


def as_public_key(key: PublicKeyLike) -> Ed25519PublicKey:
    """Normalise a key object or PEM text/bytes to an Ed25519PublicKey."""
    if isinstance(key, Ed25519PublicKey):
        return key
    if isinstance(key, Ed25519PrivateKey):
        return key.public_key()
    if isinstance(key, bytes | str):
        return load_public_key(key)
    raise KeyFormatError(f"expected an Ed25519 key or PEM, got {type(key).__name__}")


def key_id(key: Ed25519PublicKey | Ed25519PrivateKey) -> str:
    """First 16 hex digits of SHA-256 over the raw 32-byte public key."""
    raw = as_public_key(key).public_bytes(serialization.Encoding.Raw,
                                          serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]
