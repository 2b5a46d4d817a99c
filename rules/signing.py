"""Sign bundles and verify signed envelopes.

The envelope (what the server publishes and agents download)::

    {"format": "heedful-signed-bundle/1", "algorithm": "ed25519",
     "key_id": "3f0c...16 hex", "bundle": {...resolved bundle...}, "signature": "<base64>"}

The signature is Ed25519 over `rules.canonical.canonical_bytes(envelope["bundle"])`.
`verify_envelope` refuses, each with its own exception (all `VerificationError`):

* `MalformedEnvelope` — not JSON, missing/extra fields, unknown format or algorithm, bad
  base64, or a signed bundle that does not validate;
* `UnknownKey` — `key_id` is not one of the trusted keys;
* `SignatureInvalid` — the signature does not match the bundle bytes;
* `RollbackRefused` — `version <= min_version` (pass the version already applied: a bundle
  that is not *newer* is refused, including the same version);
* `BundleNotYetValid` — `now` is before `issued_at` by more than `clock_skew`;
* `BundleExpired` — `now` is at or after `expires_at`.

Key handling (generate, PEM, key id) lives in `rules.keys` and is re-exported here.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from rules.canonical import canonical_bytes
from rules.errors import (
    BundleError,
    BundleExpired,
    BundleNotYetValid,
    MalformedEnvelope,
    Problem,
    RollbackRefused,
    SignatureInvalid,
    UnknownKey,
)
from rules.keys import (  # noqa: F401  (re-exported: the signing API in one place)
    PublicKeyLike,
    as_public_key,
    generate_private_key,
    key_id,
    load_private_key,
    load_public_key,
    private_key_to_pem,
    public_key_pem,
)
from rules.loader import validate_bundle
from rules.model import Bundle
from rules.types import format_rfc3339

ENVELOPE_FORMAT = "heedful-signed-bundle/1"
ALGORITHM = "ed25519"
ENVELOPE_FIELDS = ("format", "algorithm", "key_id", "bundle", "signature")
DEFAULT_CLOCK_SKEW = timedelta(minutes=5)


def sign_bundle(bundle: Bundle, private_key: Ed25519PrivateKey) -> dict[str, Any]:
    """The signed envelope of a *resolved* bundle (no list-file references left)."""
    unresolved = [name for name, c in bundle.categories.items() if c.lists]
    if unresolved:
        raise BundleError([Problem(f"categories.{name}.lists", "list files must be resolved "
                                   "(inlined) before signing; see rules.loader.resolve_bundle")
                           for name in unresolved])
    data = bundle.to_dict()
    signature = private_key.sign(canonical_bytes(data))
    return {"format": ENVELOPE_FORMAT, "algorithm": ALGORITHM, "key_id": key_id(private_key),
            "bundle": data, "signature": base64.b64encode(signature).decode("ascii")}


def envelope_bytes(envelope: Mapping[str, Any]) -> bytes:
    """The envelope as compact canonical JSON plus a newline, ready to write or serve."""
    return canonical_bytes(envelope) + b"\n"


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _load_json(envelope: bytes | str) -> Any:
    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        keys = [k for k, _ in pairs]
        dupes = sorted({k for k in keys if keys.count(k) > 1})
        if dupes:
            raise ValueError(f"duplicate key {dupes[0]!r}")
        return dict(pairs)

    try:
        text = envelope.decode("utf-8") if isinstance(envelope, bytes) else envelope
        return json.loads(text, object_pairs_hook=no_duplicates, parse_constant=_reject_constant)
    except UnicodeDecodeError as exc:
        raise MalformedEnvelope(f"envelope is not UTF-8 text (byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise MalformedEnvelope(f"envelope is not JSON: line {exc.lineno}, column {exc.colno}: "
                                f"{exc.msg}") from None
    except ValueError as exc:
        raise MalformedEnvelope(f"envelope is not valid JSON: {exc}") from None


def parse_envelope(envelope: bytes | str | Mapping[str, Any]) -> dict[str, Any]:
    """Check the envelope's shape (not its signature); MalformedEnvelope says what is wrong."""
    data = envelope if isinstance(envelope, Mapping) else _load_json(envelope)
    if not isinstance(data, Mapping):
        raise MalformedEnvelope(f"envelope must be a JSON object, got {type(data).__name__}")
    missing = [f for f in ENVELOPE_FIELDS if f not in data]
    extra = sorted(str(k) for k in data if k not in ENVELOPE_FIELDS)
    if missing or extra:
        parts = ([f"missing field(s) {', '.join(missing)}"] if missing else []) + (
            [f"unexpected field(s) {', '.join(extra)}"] if extra else [])
        raise MalformedEnvelope("envelope has " + " and ".join(parts))
    if data["format"] != ENVELOPE_FORMAT:
        raise MalformedEnvelope(f"unsupported envelope format {data['format']!r}; "
                                f"expected {ENVELOPE_FORMAT!r}")
    if data["algorithm"] != ALGORITHM:
        raise MalformedEnvelope(f"unsupported signature algorithm {data['algorithm']!r}; "
                                f"only {ALGORITHM!r} is accepted")
    if not isinstance(data["key_id"], str) or not isinstance(data["bundle"], Mapping):
        raise MalformedEnvelope("envelope key_id must be a string and bundle an object")
    return dict(data)


def _signature(envelope: Mapping[str, Any]) -> bytes:
    text = envelope["signature"]
    try:
        raw = base64.b64decode(text, validate=True) if isinstance(text, str) else b""
    except (binascii.Error, ValueError):
        raise MalformedEnvelope("signature is not valid base64") from None
    if len(raw) != 64:
        raise MalformedEnvelope(f"signature must be 64 bytes of base64, got {len(raw)} bytes")
    return raw


def _trusted_by_id(trusted_keys: Iterable[PublicKeyLike] | PublicKeyLike
                   ) -> dict[str, Ed25519PublicKey]:
    # A single PEM string is iterable too; treat it as one key rather than as characters.
    if isinstance(trusted_keys, str | bytes | Ed25519PublicKey | Ed25519PrivateKey):
        trusted_keys = [trusted_keys]
    keys = [as_public_key(k) for k in trusted_keys]
    return {key_id(k): k for k in keys}


def verify_envelope(envelope: bytes | str | Mapping[str, Any],
                    trusted_keys: Iterable[PublicKeyLike] | PublicKeyLike, *, now: datetime,
                    min_version: int | None = None,
                    clock_skew: timedelta = DEFAULT_CLOCK_SKEW) -> Bundle:
    """Verify a signed envelope and return its bundle, or raise a VerificationError subclass.

    `now` must be timezone-aware. `min_version` is the version already applied: the bundle
    must be strictly newer. `clock_skew` tolerates a laptop clock running behind the
    server's when checking `issued_at`; expiry is checked without tolerance.
    """
    if now.tzinfo is None:
        raise ValueError("now must be a timezone-aware datetime")
    data = parse_envelope(envelope)
    trusted = _trusted_by_id(trusted_keys)
    kid = data["key_id"]
    if kid not in trusted:
        known = ", ".join(sorted(trusted)) or "none configured"
        raise UnknownKey(f"bundle is signed by key {kid!r}, which is not trusted "
                         f"(trusted key ids: {known})")
    signature = _signature(data)
    try:
        signed = canonical_bytes(data["bundle"])
        trusted[kid].verify(signature, signed)
    except (InvalidSignature, ValueError, TypeError):
        raise SignatureInvalid(f"signature does not match the bundle (key {kid}): the bundle "
                               "was changed after signing or signed with another key") from None
    bundle = _signed_bundle(data["bundle"])
    _check_version_and_time(bundle, now, min_version, clock_skew)
    return bundle


def _signed_bundle(data: Mapping[str, Any]) -> Bundle:
    try:
        bundle = validate_bundle(data, source="signed bundle")
    except BundleError as exc:
        raise MalformedEnvelope("signed bundle is not valid for this version of Heedful: "
                                + "; ".join(exc.errors)) from None
    if not bundle.is_resolved():
        raise MalformedEnvelope("signed bundle still refers to list files; agents need every "
                                "domain inline")
    return bundle


def _check_version_and_time(bundle: Bundle, now: datetime, min_version: int | None,
                            clock_skew: timedelta) -> None:
    if min_version is not None and bundle.version <= min_version:
        raise RollbackRefused(f"bundle version {bundle.version} is not newer than version "
                              f"{min_version} already applied; refusing to roll back")
    if bundle.issued_at is not None and now + clock_skew < bundle.issued_at:
        raise BundleNotYetValid(f"bundle version {bundle.version} is not valid before "
                                f"{format_rfc3339(bundle.issued_at)} (now is "
                                f"{format_rfc3339(now)}); check this computer's clock")
    if bundle.expires_at is not None and now >= bundle.expires_at:
        raise BundleExpired(f"bundle version {bundle.version} expired at "
                            f"{format_rfc3339(bundle.expires_at)} (now is "
                            f"{format_rfc3339(now)})")


def read_envelope_unverified(envelope: bytes | str | Mapping[str, Any]) -> Bundle:
    """The bundle inside an envelope WITHOUT checking its signature (display, debugging)."""
    return _signed_bundle(parse_envelope(envelope)["bundle"])
