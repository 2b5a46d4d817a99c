"""Verifying and applying rule bundles with the real `rules.signing`, on a real state file."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from agent.outbox import Outbox
from agent.rulebook import Rulebook
from agent.store import Store
from rules.errors import BundleExpired, RollbackRefused, SignatureInvalid, UnknownKey
from rules.model import Bundle
from rules.signing import envelope_bytes, generate_private_key, public_key_pem, sign_bundle

NOW = datetime(2024, 5, 2, 12, 0, tzinfo=UTC)
KEY = generate_private_key()
TRUSTED = [public_key_pem(KEY).decode()]
BUILT_IN = Bundle(version=1)


def envelope(version: int, *, key=KEY, threshold: int = 300, expires=None) -> bytes:
    bundle = Bundle.model_validate({"version": version, "issued_at": NOW - timedelta(hours=1),
                                    "expires_at": expires, "seal": {
                                        "idle_threshold_seconds": threshold}})
    return envelope_bytes(sign_bundle(bundle, key))


@pytest.fixture
def book(tmp_path: Path):
    store = Store(tmp_path)
    rulebook = Rulebook(store, clock=lambda: NOW.timestamp(), defaults=lambda: BUILT_IN)
    return rulebook, Outbox(store), store


def test_defaults_until_a_bundle_is_applied_then_it_survives_a_restart(book, tmp_path):
    rulebook, outbox, store = book
    assert rulebook.load(TRUSTED) is BUILT_IN and rulebook.version is None
    applied = rulebook.offer(envelope(3, threshold=120), '"rules-v3"', TRUSTED, 3, outbox)
    assert applied.seal.idle_threshold_seconds == 120 and rulebook.version == 3
    assert [e.type for e in outbox.peek(5)] == ["rules.applied"]
    again = Rulebook(Store(tmp_path), clock=lambda: NOW.timestamp(), defaults=lambda: BUILT_IN)
    assert again.load(TRUSTED).version == 3 and again.etag == '"rules-v3"'


@pytest.mark.parametrize("make, error", [
    (lambda: envelope(2), RollbackRefused),  # older than the applied v3
    (lambda: envelope(3), RollbackRefused),  # the same version is not newer either
    (lambda: envelope(9, key=generate_private_key()), UnknownKey),
    (lambda: envelope(9, expires=NOW - timedelta(minutes=1)), BundleExpired),
])
def test_bad_bundles_are_refused_reported_and_the_previous_stays(book, make, error):
    rulebook, outbox, store = book
    rulebook.load(TRUSTED)
    rulebook.offer(envelope(3), None, TRUSTED, 3, outbox)
    with pytest.raises(error):
        rulebook.offer(make(), None, TRUSTED, 9, outbox)
    assert rulebook.version == 3 and rulebook.bundle.version == 3
    refused = outbox.peek(5)[-1]
    assert refused.type == "rules.refused" and refused.data["reason"] == error.__name__
    assert store.get_state("rules_refused")["reason"] == error.__name__
    assert rulebook.status()["refused"]["version"] == 9


def test_a_tampered_bundle_is_refused(book):
    rulebook, outbox, _ = book
    rulebook.load(TRUSTED)
    data = json.loads(envelope(4, threshold=600))
    data["bundle"]["seal"]["idle_threshold_seconds"] = 900  # changed after signing
    with pytest.raises(SignatureInvalid):
        rulebook.offer(json.dumps(data).encode(), None, TRUSTED, 4, outbox)
    assert rulebook.version is None and rulebook.bundle is BUILT_IN


def test_a_refused_version_is_downloaded_again_only_after_the_retry_delay(book):
    rulebook, outbox, _ = book
    rulebook.load(TRUSTED)
    with pytest.raises(UnknownKey):
        rulebook.offer(envelope(5, key=generate_private_key()), None, TRUSTED, 5, outbox)
    assert rulebook.should_download(5, retry_after=900) is False
    assert rulebook.should_download(6, retry_after=900) is True
    assert rulebook.should_download(5, retry_after=0) is True
    assert rulebook.should_download(None, retry_after=0) is False


def test_a_state_file_edited_by_hand_is_not_trusted_at_start(book, tmp_path):
    rulebook, outbox, store = book
    rulebook.load(TRUSTED)
    rulebook.offer(envelope(3), None, TRUSTED, 3, outbox)
    forged = json.loads(envelope(3))
    forged["bundle"]["seal"]["idle_threshold_seconds"] = 900
    with store.transaction() as conn:
        conn.execute("UPDATE rules_applied SET envelope = ?", (json.dumps(forged),))
    again = Rulebook(Store(tmp_path), clock=lambda: NOW.timestamp(), defaults=lambda: BUILT_IN)
    assert again.load(TRUSTED) is BUILT_IN
    assert again.refused["reason"] == "SignatureInvalid" and again.refused["source"] == "stored"
