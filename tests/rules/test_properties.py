"""Property tests: canonical round trips, and no change to a signed bundle goes unnoticed."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rules import errors
from rules.canonical import canonical_bytes
from rules.countries import COUNTRY_NAMES
from rules.loader import parse_bundle, validate_bundle
from rules.signing import envelope_bytes, generate_private_key, sign_bundle, verify_envelope

KEY = generate_private_key()
NOW = datetime(2025, 6, 1, tzinfo=UTC)
SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])

labels = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?", fullmatch=True)
tlds = st.from_regex(r"[a-z]{2,6}", fullmatch=True)
domains = st.builds(lambda head, tld: ".".join([*head, tld]),
                    st.lists(labels, min_size=1, max_size=3), tlds)
names = st.from_regex(r"[a-z][a-z0-9_-]{0,12}", fullmatch=True)
countries = st.sampled_from(sorted(COUNTRY_NAMES))
text = st.text(st.characters(exclude_categories=["Cs"]), max_size=30)
moments = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1),
                       timezones=st.just(UTC))


@st.composite
def bundle_data(draw) -> dict:
    """A valid bundle mapping with random content in every section."""
    categories = draw(st.dictionaries(names, st.fixed_dictionaries({
        "title": text, "description": text,
        "domains": st.lists(domains, max_size=5),
        "reasons": st.dictionaries(countries, text.filter(str.strip), max_size=2)}),
        min_size=1, max_size=4))
    rules = draw(st.lists(st.fixed_dictionaries({
        "name": text,
        "categories": st.lists(st.sampled_from(sorted(categories)), min_size=1, max_size=3),
        "countries": st.one_of(st.sampled_from(["any", "outside_home"]),
                               st.lists(countries, min_size=1, max_size=3, unique=True)),
        "messages": st.lists(text.filter(str.strip).map(lambda t: t.replace("{", "{{")
                                                         .replace("}", "}}") + " {site}"),
                             min_size=1, max_size=3),
        "cooldown_minutes": st.integers(0, 600), "daily_cap": st.integers(1, 20),
        "heed_window_minutes": st.integers(1, 120)}), max_size=3))
    issued = draw(st.one_of(st.none(), moments))
    data = {"schema": 1, "version": draw(st.integers(1, 2**40)), "issued_at": issued,
            "categories": categories, "nudges": rules,
            "seal": {"idle_threshold_seconds": draw(st.integers(30, 900)),
                     "seal_on_lock": draw(st.booleans())},
            "login_alerts": {"impossible_travel_speed_kmh": draw(st.floats(1, 5000)),
                             "learning_days": draw(st.integers(0, 365))},
            "checkin": {"interval_seconds": draw(st.integers(15, 3600))}}
    return data


@SETTINGS
@given(bundle_data())
def test_canonical_round_trip(data):
    bundle = validate_bundle(data)
    first = canonical_bytes(bundle.to_dict())
    again = validate_bundle(json.loads(first))
    assert again == bundle
    assert canonical_bytes(again.to_dict()) == first
    # the YAML rendering and the JSON text of the same bundle validate to the same bytes
    assert canonical_bytes(parse_bundle(first).to_dict()) == first


def _leaves(value, path=()):
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _leaves(item, path + (key,))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _leaves(item, path + (index,))
    yield path


def _replace(value, path, new):
    if not path:
        return new
    head, rest = path[0], path[1:]
    copy = dict(value) if isinstance(value, dict) else list(value)
    copy[head] = _replace(value[head], rest, new)
    return copy


json_values = st.recursive(st.none() | st.booleans() | st.integers() | text |
                           st.floats(allow_nan=False, allow_infinity=False),
                           lambda inner: st.lists(inner, max_size=3) |
                           st.dictionaries(text, inner, max_size=3), max_leaves=5)


@SETTINGS
@given(bundle_data(), st.data())
def test_any_change_to_the_signed_bundle_is_detected(data, draw):
    envelope = sign_bundle(validate_bundle(data), KEY)
    signed = envelope["bundle"]
    paths = list(_leaves(signed))
    path = draw.draw(st.sampled_from(paths))
    changed = _replace(signed, path, draw.draw(json_values))
    if canonical_bytes(changed) == canonical_bytes(signed):
        return  # the same JSON value (e.g. a key reordered): nothing was changed
    expected = errors.SignatureInvalid if isinstance(changed, dict) else errors.MalformedEnvelope
    try:
        verify_envelope({**envelope, "bundle": changed}, [KEY], now=NOW)
    except expected:
        return
    raise AssertionError(f"change at {path} was not detected")


@SETTINGS
@given(bundle_data(), st.data())
def test_any_byte_flip_in_the_envelope_is_refused_or_harmless(data, draw):
    original = validate_bundle(data)
    blob = bytearray(envelope_bytes(sign_bundle(original, KEY)))
    position = draw.draw(st.integers(0, len(blob) - 1))
    blob[position] ^= draw.draw(st.integers(1, 255))
    try:
        verified = verify_envelope(bytes(blob), [KEY], now=NOW)
    except errors.VerificationError:
        return
    # Only a byte change that decodes to the very same bundle (e.g. 900.0 -> 900e0) may pass.
    assert verified == original
