"""CategoryIndex: suffix matching on label boundaries, normalisation, IPs, unions."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rules.categories import CategoryIndex, Match
from rules.loader import validate_bundle

INDEX = CategoryIndex({
    "gambling": ["casino.com", "bet.example.org", "bücher.de", "10.1.2.3", "[2001:db8::1]"],
    "adult": ["example.org", "casino.com"],
    "tld": ["casino"],
})


@pytest.mark.parametrize(("host", "expected"), [
    ("casino.com", {"gambling", "adult"}),
    ("www.casino.com", {"gambling", "adult"}),
    ("a.b.c.casino.com", {"gambling", "adult"}),
    ("notcasino.com", set()),
    ("casino.com.evil.net", set()),
    ("casino.co", set()),
    ("com", set()),
    ("WWW.CaSiNo.CoM.", {"gambling", "adult"}),
    ("casino.com:8443", {"gambling", "adult"}),
    ("example.org", {"adult"}),
    ("bet.example.org", {"adult", "gambling"}),  # union of both listed suffixes
    ("x.bet.example.org", {"adult", "gambling"}),
    ("www.bücher.de", {"gambling"}),
    ("www.xn--bcher-kva.de", {"gambling"}),
    ("BÜCHER.DE", {"gambling"}),
    ("play.casino", {"tld"}),  # a listed top-level domain
    ("10.1.2.3", {"gambling"}),
    ("10.1.2.3:80", {"gambling"}),
    ("9.10.1.2.3", set()),
    ("10.1.2.4", set()),
    ("[2001:DB8:0:0::1]", {"gambling"}),
    ("2001:db8::1", {"gambling"}),
    ("[2001:db8::1]:443", {"gambling"}),
    ("[2001:db8::2]", set()),
    ("", set()),
    ("..", set()),
    ("not a host", set()),
])
def test_lookup(host, expected):
    assert INDEX.lookup(host) == frozenset(expected)
    assert (host in INDEX) == bool(expected)


def test_match_reports_the_broadest_listed_site():
    assert INDEX.match("x.bet.example.org") == Match("example.org",
                                                     frozenset({"adult", "gambling"}))
    assert INDEX.match("m.casino.com") == Match("casino.com", frozenset({"adult", "gambling"}))
    assert INDEX.match("[2001:db8::1]") == Match("2001:db8::1", frozenset({"gambling"}))
    assert INDEX.match("unlisted.net") is None


def test_size_categories_and_memory():
    assert len(INDEX) == 7  # casino.com is one entry with two categories
    assert INDEX.categories == ("adult", "gambling", "tld")
    assert 0 < INDEX.nbytes < 10_000
    assert len(CategoryIndex({})) == 0 and CategoryIndex({}).lookup("a.com") == frozenset()


def test_invalid_domains_are_rejected_unless_declared_normalised():
    with pytest.raises(ValueError) as info:
        CategoryIndex({"g": ["ok.com", "bad domain"]})
    assert str(info.value) == ("category 'g': 'bad domain': character ' ' is not allowed in a "
                               "host name")
    with pytest.raises(ValueError, match="at most 256"):
        CategoryIndex({f"c{i}": [] for i in range(257)})


def test_from_bundle_needs_a_resolved_bundle(make_data):
    bundle = validate_bundle(make_data())
    assert CategoryIndex.from_bundle(bundle).lookup("www.bet.example") == {"gambling"}
    source = validate_bundle(make_data(categories={"g": {"lists": ["g.txt"]}}, nudges=[]))
    with pytest.raises(ValueError, match="resolve it first"):
        CategoryIndex.from_bundle(source)


labels = st.from_regex(r"[a-z0-9]{1,6}", fullmatch=True)
names = st.builds(lambda head, tld: ".".join([*head, tld]),
                  st.lists(labels, min_size=0, max_size=3), st.sampled_from(["com", "org", "x"]))


def reference(listing: dict[str, list[str]], host: str) -> set[str]:
    """The obvious, slow definition of suffix matching."""
    labels = host.split(".")
    suffixes = {".".join(labels[i:]) for i in range(len(labels))}
    return {cat for cat, domains in listing.items() for d in domains if d in suffixes}


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(st.sampled_from(["a", "b", "c"]), st.lists(names, max_size=8)),
       st.lists(names, max_size=10))
def test_agrees_with_the_reference_definition(listing, hosts):
    index = CategoryIndex(listing)
    probes = hosts + [f"www.{d}" for group in listing.values() for d in group]
    for host in probes:
        assert index.lookup(host) == reference(listing, host), host
