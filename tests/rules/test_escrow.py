"""rules.escrow: recovery key pairs, wrapping to X25519 and unwrapping, every refusal."""

from __future__ import annotations

import base64
import json
import os

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from rules import escrow


@pytest.fixture(scope="module")
def pair() -> escrow.RecoveryKeyPair:
    return escrow.generate_recovery_keypair()


def test_key_pair_serialisations_load_back(pair: escrow.RecoveryKeyPair) -> None:
    assert escrow.load_private_key(pair.private_pem()) == pair.private_key
    assert escrow.load_private_key(base64.b64encode(pair.private_key)) == pair.private_key
    assert escrow.load_public_key(pair.public_text()) == pair.public_key
    pem = X25519PrivateKey.from_private_bytes(pair.private_key).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert escrow.load_public_key(pem) == pair.public_key
    assert b"PRIVATE KEY" in pair.private_pem()


def test_wrap_unwrap(pair: escrow.RecoveryKeyPair) -> None:
    secret = os.urandom(32)
    blob = escrow.wrap_key(secret, pair.public_key, key_id="ab" * 8, device_id="laptop-7")
    doc = json.loads(blob)
    assert doc["format"] == "heedful-escrow" and doc["version"] == 1
    assert doc["recipient"] == escrow.fingerprint(pair.public_key)
    assert secret.hex() not in blob.decode()
    out = escrow.unwrap_key(blob, pair.private_key)
    assert (out.secret, out.key_id, out.device_id) == (secret, "ab" * 8, "laptop-7")


def test_each_wrap_is_fresh(pair: escrow.RecoveryKeyPair) -> None:
    one = escrow.wrap_key(b"s" * 32, pair.public_key, key_id="k")
    two = escrow.wrap_key(b"s" * 32, pair.public_key, key_id="k")
    assert json.loads(one)["ephemeral"] != json.loads(two)["ephemeral"]


@pytest.mark.parametrize("field", ["key_id", "device_id", "ephemeral", "ciphertext"])
def test_any_edit_is_refused(pair: escrow.RecoveryKeyPair, field: str) -> None:
    doc = json.loads(escrow.wrap_key(b"s" * 32, pair.public_key, key_id="k", device_id="d"))
    if field in ("ephemeral", "ciphertext"):
        raw = bytearray(base64.b64decode(doc[field]))
        raw[0] ^= 1
        doc[field] = base64.b64encode(bytes(raw)).decode()
    else:
        doc[field] += "x"
    with pytest.raises(escrow.EscrowError):
        escrow.unwrap_key(json.dumps(doc).encode(), pair.private_key)


def test_wrong_recovery_key_is_named(pair: escrow.RecoveryKeyPair) -> None:
    blob = escrow.wrap_key(b"s" * 32, pair.public_key, key_id="k")
    other = escrow.generate_recovery_keypair()
    with pytest.raises(escrow.EscrowError, match=escrow.fingerprint(pair.public_key)):
        escrow.unwrap_key(blob, other.private_key)


@pytest.mark.parametrize("blob", [b"not json", b"[]", b'{"format": "other"}',
                                  b'{"format": "heedful-escrow", "version": 9}'])
def test_malformed_blobs(pair: escrow.RecoveryKeyPair, blob: bytes) -> None:
    with pytest.raises(escrow.EscrowError):
        escrow.unwrap_key(blob, pair.private_key)


def test_bad_key_text() -> None:
    with pytest.raises(escrow.EscrowError, match="32 bytes"):
        escrow.load_public_key(base64.b64encode(b"short"))
    with pytest.raises(escrow.EscrowError, match="neither PEM nor base64"):
        escrow.load_private_key("not base64 !!")


def test_documented_escrow_vector() -> None:
    """docs/seal-format.md's escrow blob is reproduced and unwraps to the device key."""
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "seal-format.md").read_text()
    blob = doc.split("```text\nescrow blob\n", 1)[1].split("\n```", 1)[0].encode()
    recovery_private = bytes(range(200, 232))
    public = X25519PrivateKey.from_private_bytes(recovery_private).public_key().public_bytes_raw()
    again = escrow.wrap_key(bytes(range(32)), public, key_id="32a231fa4f08dbdd025188fc69884cb7",
                            device_id="laptop-0001", ephemeral_private=bytes(range(64, 96)))
    assert again == blob
    assert escrow.unwrap_key(blob, recovery_private).secret == bytes(range(32))
