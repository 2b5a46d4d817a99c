"""Key escrow: wrap a device's seal key to the organisation's recovery X25519 public key.

Shared by the agent (wraps at enrolment, unwraps in the offline `recover` tool) and the server
(`heedful-server recovery keygen`, stores the wrapped blob as opaque bytes). Pure: no clock, no
network, no global state; randomness comes from the OS through `cryptography`.

Construction (ECIES-like, as in age's X25519 recipient; byte-exact in docs/seal-format.md):
an ephemeral X25519 key pair meets the recipient's public key; the shared secret goes through
HKDF-SHA256 (salt = ephemeral public || recipient public, info = "heedful-escrow v1") to a
one-time AES-256-GCM key; the secret is encrypted with a zero nonce (the key is never reused)
and associated data binding the ephemeral key, the recipient, the key id and the device id.
The blob is UTF-8 JSON with base64 fields, so it can be stored and shown as text.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import struct
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

ESCROW_FORMAT = "heedful-escrow"
ESCROW_VERSION = 1
SUITE = "X25519-HKDF-SHA256-AES-256-GCM"
INFO = b"heedful-escrow v1"
NONCE = b"\0" * 12


class EscrowError(ValueError):
    """A blob or key that cannot be used, with what is wrong in words."""


@dataclass(frozen=True)
class RecoveryKeyPair:
    """The organisation's recovery key pair (raw 32-byte X25519 keys)."""

    private_key: bytes
    public_key: bytes

    def private_pem(self) -> bytes:
        """The private key as unencrypted PKCS#8 PEM (keep it offline)."""
        key = X25519PrivateKey.from_private_bytes(self.private_key)
        return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption())

    def public_text(self) -> str:
        """The public key as base64 of its 32 raw bytes (what agents are configured with)."""
        return base64.b64encode(self.public_key).decode()


@dataclass(frozen=True)
class UnwrappedKey:
    """What a blob held: the secret and the identifiers it was bound to."""

    secret: bytes
    key_id: str
    device_id: str


def generate_recovery_keypair() -> RecoveryKeyPair:
    """A fresh recovery key pair."""
    private = X25519PrivateKey.generate()
    return RecoveryKeyPair(private.private_bytes_raw(), private.public_key().public_bytes_raw())


def fingerprint(public_key: bytes) -> str:
    """A short, stable name for a recovery public key: hex of SHA-256(raw key)[:16]."""
    return hashlib.sha256(public_key).hexdigest()[:32]


def load_public_key(text: str | bytes) -> bytes:
    """A recovery public key from base64 of 32 raw bytes or a PEM SubjectPublicKeyInfo."""
    data = text.encode() if isinstance(text, str) else text
    if b"-----BEGIN" in data:
        key = serialization.load_pem_public_key(data)
        if not isinstance(key, X25519PublicKey):
            raise EscrowError("the PEM public key is not an X25519 key")
        return key.public_bytes_raw()
    return _raw32(data, "recovery public key")


def load_private_key(data: str | bytes) -> bytes:
    """A recovery private key from PKCS#8 PEM or base64 of 32 raw bytes."""
    data = data.encode() if isinstance(data, str) else data
    if b"-----BEGIN" in data:
        key = serialization.load_pem_private_key(data, password=None)
        if not isinstance(key, X25519PrivateKey):
            raise EscrowError("the PEM private key is not an X25519 key")
        return key.private_bytes_raw()
    return _raw32(data, "recovery private key")


def _raw32(data: bytes, what: str) -> bytes:
    try:
        raw = base64.b64decode(data.strip(), validate=True)
    except binascii.Error as exc:
        raise EscrowError(f"the {what} is neither PEM nor base64: {exc}") from None
    if len(raw) != 32:
        raise EscrowError(f"the {what} must be 32 bytes, got {len(raw)}")
    return raw


def _associated_data(ephemeral: bytes, recipient: bytes, key_id: str, device_id: str) -> bytes:
    kid, dev = key_id.encode(), device_id.encode()
    return (INFO + b"\0" + ephemeral + recipient + struct.pack(">H", len(kid)) + kid
            + struct.pack(">H", len(dev)) + dev)


def _wrapping_key(shared: bytes, ephemeral: bytes, recipient: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=ephemeral + recipient,
                info=INFO).derive(shared)


def wrap_key(secret: bytes, recovery_public: bytes, *, key_id: str, device_id: str = "",
             ephemeral_private: bytes | None = None) -> bytes:
    """Encrypt `secret` to the recovery public key; returns the JSON blob (UTF-8 bytes).

    `ephemeral_private` is for test vectors only; leave it None (a fresh key every time).
    """
    if len(key_id.encode()) > 0xFFFF or len(device_id.encode()) > 0xFFFF:
        raise EscrowError("key_id and device_id must each be under 64 KiB")
    ephemeral = (X25519PrivateKey.generate() if ephemeral_private is None
                 else X25519PrivateKey.from_private_bytes(ephemeral_private))
    eph_pub = ephemeral.public_key().public_bytes_raw()
    shared = ephemeral.exchange(X25519PublicKey.from_public_bytes(recovery_public))
    aead = AESGCM(_wrapping_key(shared, eph_pub, recovery_public))
    ciphertext = aead.encrypt(NONCE, secret, _associated_data(eph_pub, recovery_public, key_id,
                                                              device_id))
    return json.dumps({
        "format": ESCROW_FORMAT, "version": ESCROW_VERSION, "suite": SUITE,
        "recipient": fingerprint(recovery_public), "key_id": key_id, "device_id": device_id,
        "ephemeral": base64.b64encode(eph_pub).decode(),
        "ciphertext": base64.b64encode(ciphertext).decode(),
    }, sort_keys=True).encode()


def describe(blob: bytes) -> dict[str, Any]:
    """The blob's public fields (no private key needed); raises EscrowError if malformed."""
    try:
        doc = json.loads(blob)
    except (ValueError, UnicodeDecodeError) as exc:
        raise EscrowError(f"not an escrow blob (not JSON: {exc})") from None
    if not isinstance(doc, dict) or doc.get("format") != ESCROW_FORMAT:
        raise EscrowError("not an escrow blob (format is not 'heedful-escrow')")
    if doc.get("version") != ESCROW_VERSION or doc.get("suite") != SUITE:
        raise EscrowError(f"unsupported escrow version {doc.get('version')!r} / suite "
                          f"{doc.get('suite')!r}")
    for name in ("recipient", "key_id", "device_id", "ephemeral", "ciphertext"):
        if not isinstance(doc.get(name), str):
            raise EscrowError(f"escrow blob field {name!r} is missing or not text")
    return doc


def unwrap_key(blob: bytes, recovery_private: bytes) -> UnwrappedKey:
    """Decrypt a blob with the recovery private key; EscrowError says why it cannot."""
    doc = describe(blob)
    private = X25519PrivateKey.from_private_bytes(recovery_private)
    recipient = private.public_key().public_bytes_raw()
    if doc["recipient"] != fingerprint(recipient):
        raise EscrowError(f"wrapped for recovery key {doc['recipient']}, but this private key "
                          f"is {fingerprint(recipient)}")
    try:
        eph_pub = base64.b64decode(doc["ephemeral"], validate=True)
        ciphertext = base64.b64decode(doc["ciphertext"], validate=True)
        shared = private.exchange(X25519PublicKey.from_public_bytes(eph_pub))
    except (binascii.Error, ValueError) as exc:
        raise EscrowError(f"damaged escrow blob: {exc}") from None
    aead = AESGCM(_wrapping_key(shared, eph_pub, recipient))
    try:
        secret = aead.decrypt(NONCE, ciphertext, _associated_data(
            eph_pub, recipient, doc["key_id"], doc["device_id"]))
    except InvalidTag:
        raise EscrowError("the escrow blob does not authenticate: it was modified") from None
    return UnwrappedKey(secret, doc["key_id"], doc["device_id"])
