"""Keys, canonical bytes, signing and every distinct way verification refuses a bundle."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest

from rules import errors
from rules.canonical import canonical_bytes
from rules.loader import validate_bundle
from rules.signing import (
    envelope_bytes,
    generate_private_key,
    key_id,
    load_private_key,
    load_public_key,
    parse_envelope,
    private_key_to_pem,
    public_key_pem,
    read_envelope_unverified,
    sign_bundle,
    verify_envelope,
)

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
KEY = generate_private_key()
OTHER = generate_private_key()


@pytest.fixture
def bundle(make_data):
    return validate_bundle(make_data(version=5, issued_at="2025-06-01T00:00:00Z",
                                     expires_at="2025-07-01T00:00:00Z"))


def test_canonical_bytes_rules():
    value = {"b": [1, 2.5, None, True], "a": {"é": "ü", "z": datetime(2025, 1, 2, 3, 4, 5,
                                                                          tzinfo=UTC)}}
    assert canonical_bytes(value) == ('{"a":{"z":"2025-01-02T03:04:05Z","é":"ü"},'
                                      '"b":[1,2.5,null,true]}').encode()
    with pytest.raises(ValueError):
        canonical_bytes({"x": float("nan")})
    with pytest.raises(ValueError):
        canonical_bytes({"x": datetime(2025, 1, 1)})
    with pytest.raises(TypeError):
        canonical_bytes({1: "non-string key"})


def test_key_pem_round_trip_and_key_id():
    pem = private_key_to_pem(KEY)
    assert pem.startswith(b"-----BEGIN PRIVATE KEY-----")
    again = load_private_key(pem)
    assert key_id(again) == key_id(KEY) == key_id(load_public_key(public_key_pem(KEY)))
    assert len(key_id(KEY)) == 16 and key_id(KEY) != key_id(OTHER)
    encrypted = private_key_to_pem(KEY, password=b"pw")
    assert key_id(load_private_key(encrypted, password=b"pw")) == key_id(KEY)
    with pytest.raises(errors.KeyFormatError):
        load_private_key(encrypted)
    with pytest.raises(errors.KeyFormatError, match="not a PEM public key"):
        load_public_key(b"garbage")
    with pytest.raises(errors.KeyFormatError, match="not a PEM private key"):
        load_private_key(public_key_pem(KEY))


def test_envelope_shape_and_round_trip(bundle):
    envelope = sign_bundle(bundle, KEY)
    assert set(envelope) == {"format", "algorithm", "key_id", "bundle", "signature"}
    assert envelope["format"] == "heedful-signed-bundle/1" and envelope["algorithm"] == "ed25519"
    assert envelope["key_id"] == key_id(KEY)
    assert len(base64.b64decode(envelope["signature"])) == 64
    data = envelope_bytes(envelope)
    for form in (data, data.decode(), json.loads(data), json.dumps(envelope, indent=4)):
        assert verify_envelope(form, [public_key_pem(KEY)], now=NOW) == bundle


def test_trusted_keys_in_any_form_and_rotation(bundle):
    data = envelope_bytes(sign_bundle(bundle, KEY))
    for trusted in ([KEY.public_key()], [OTHER.public_key(), public_key_pem(KEY).decode()],
                    public_key_pem(KEY), [KEY]):
        assert verify_envelope(data, trusted, now=NOW).version == 5


def test_unknown_key(bundle):
    data = envelope_bytes(sign_bundle(bundle, KEY))
    with pytest.raises(errors.UnknownKey, match=f"signed by key '{key_id(KEY)}', which is not "
                                                f"trusted \\(trusted key ids: {key_id(OTHER)}"):
        verify_envelope(data, [OTHER.public_key()], now=NOW)
    with pytest.raises(errors.UnknownKey, match="none configured"):
        verify_envelope(data, [], now=NOW)


def test_signature_invalid_when_bundle_changed_or_key_id_forged(bundle):
    envelope = sign_bundle(bundle, KEY)
    envelope["bundle"]["seal"]["idle_threshold_seconds"] = 900
    with pytest.raises(errors.SignatureInvalid, match="changed after signing"):
        verify_envelope(envelope, [KEY.public_key()], now=NOW)
    forged = sign_bundle(bundle, OTHER)
    forged["key_id"] = key_id(KEY)  # claims a trusted key it was not signed with
    with pytest.raises(errors.SignatureInvalid):
        verify_envelope(forged, [KEY.public_key(), OTHER.public_key()], now=NOW)


def test_rollback_refuses_versions_not_newer(bundle):
    data = envelope_bytes(sign_bundle(bundle, KEY))
    assert verify_envelope(data, [KEY], now=NOW, min_version=4).version == 5
    for applied in (5, 9):
        with pytest.raises(errors.RollbackRefused, match=f"version 5 is not newer than version "
                                                         f"{applied} already applied"):
            verify_envelope(data, [KEY], now=NOW, min_version=applied)


def test_expiry_and_not_yet_valid_with_clock_skew(bundle):
    data = envelope_bytes(sign_bundle(bundle, KEY))
    with pytest.raises(errors.BundleExpired, match="expired at 2025-07-01T00:00:00Z"):
        verify_envelope(data, [KEY], now=datetime(2025, 7, 1, tzinfo=UTC))
    early = datetime(2025, 6, 1, tzinfo=UTC) - timedelta(minutes=6)
    with pytest.raises(errors.BundleNotYetValid, match="not valid before 2025-06-01T00:00:00Z"):
        verify_envelope(data, [KEY], now=early)
    slightly_behind = datetime(2025, 6, 1, tzinfo=UTC) - timedelta(minutes=4)
    assert verify_envelope(data, [KEY], now=slightly_behind).version == 5
    assert verify_envelope(data, [KEY], now=early, clock_skew=timedelta(minutes=10))
    with pytest.raises(ValueError, match="timezone-aware"):
        verify_envelope(data, [KEY], now=datetime(2025, 6, 1))


@pytest.mark.parametrize(("mutate", "reason"), [
    (lambda e: b"not json", "envelope is not JSON: line 1, column 1"),
    (lambda e: b"\xff\xfe", "not UTF-8"),
    (lambda e: b"[1, 2]", "must be a JSON object, got list"),
    (lambda e: {k: v for k, v in e.items() if k != "signature"}, "missing field(s) signature"),
    (lambda e: {**e, "extra": 1}, "unexpected field(s) extra"),
    (lambda e: {**e, "format": "heedful-signed-bundle/2"}, "unsupported envelope format"),
    (lambda e: {**e, "algorithm": "rsa"}, "unsupported signature algorithm 'rsa'"),
    (lambda e: {**e, "signature": "%%%"}, "signature is not valid base64"),
    (lambda e: {**e, "signature": base64.b64encode(b"x" * 10).decode()}, "must be 64 bytes"),
    (lambda e: {**e, "bundle": []}, "bundle an object"),
    (lambda e: envelope_bytes(e).replace(b'{"algorithm"', b'{"key_id":"x","algorithm"'),
     "duplicate key 'key_id'"),
    (lambda e: envelope_bytes(e).replace(b'"version":5', b'"version":NaN'), "NaN is not valid"),
])
def test_malformed_envelopes(bundle, mutate, reason):
    with pytest.raises(errors.MalformedEnvelope) as info:
        verify_envelope(mutate(sign_bundle(bundle, KEY)), [KEY], now=NOW)
    assert reason in str(info.value)


def test_signed_but_invalid_bundle_is_malformed(bundle):
    data = bundle.to_dict()
    data["schema"] = 2  # e.g. a newer server's format
    envelope = {**sign_bundle(bundle, KEY), "bundle": data}
    envelope["signature"] = base64.b64encode(KEY.sign(canonical_bytes(data))).decode()
    with pytest.raises(errors.MalformedEnvelope, match="schema: unsupported schema 2"):
        verify_envelope(envelope, [KEY], now=NOW)


def test_unresolved_bundles_are_not_signed(make_data):
    source = validate_bundle(make_data(categories={"g": {"lists": ["g.txt"]}}, nudges=[]))
    with pytest.raises(errors.BundleError, match="must be resolved"):
        sign_bundle(source, KEY)


def test_every_refusal_is_a_verification_error():
    for cls in (errors.SignatureInvalid, errors.UnknownKey, errors.RollbackRefused,
                errors.BundleExpired, errors.BundleNotYetValid, errors.MalformedEnvelope):
        assert issubclass(cls, errors.VerificationError)
    assert len({errors.SignatureInvalid, errors.UnknownKey, errors.RollbackRefused,
                errors.BundleExpired, errors.BundleNotYetValid, errors.MalformedEnvelope}) == 6


def test_read_unverified_and_parse_envelope(bundle):
    envelope = sign_bundle(bundle, OTHER)
    assert read_envelope_unverified(envelope_bytes(envelope)) == bundle
    assert parse_envelope(envelope_bytes(envelope))["key_id"] == key_id(OTHER)
