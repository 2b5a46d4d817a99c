"""Host normalisation, our list-file format, and resolving list files into a bundle."""

from __future__ import annotations

import json
import os

import pytest

from rules.domains import normalize_domain, normalize_host
from rules.errors import BundleError
from rules.listfile import format_list, parse_list
from rules.loader import bundle_to_yaml, load_bundle_file, parse_bundle, resolve_bundle


@pytest.mark.parametrize(("raw", "normal"), [
    ("Example.COM", "example.com"),
    ("example.com.", "example.com"),
    ("  www.example.com  ", "www.example.com"),
    ("bücher.de", "xn--bcher-kva.de"),
    ("BÜCHER.de", "xn--bcher-kva.de"),
    ("i❤.ws", "xn--i-7iq.ws"),  # IDNA 2008 rejects the emoji; the IDNA 2003 fallback takes it
    ("例え。テスト", "xn--r8jz45g.xn--zckzah"),  # ideographic full stop
    ("clan_ubh.tripod.com", "clan_ubh.tripod.com"),  # real UT1 entry with an underscore
    ("10.0.0.1", "10.0.0.1"),
    ("[2001:DB8:0::1]", "2001:db8::1"),
    ("2001:db8::1", "2001:db8::1"),
])
def test_normalize_domain_accepts(raw, normal):
    assert normalize_domain(raw) == normal


@pytest.mark.parametrize(("raw", "reason"), [
    ("", "empty domain"),
    ("http://casino.com/x", "looks like a URL"),
    ("*.casino.com", "wildcards are not needed, 'casino.com' already matches"),
    ("casino..com", "empty label"),
    ("casino.com:8080", "not a valid host name or IP address"),
    ("300.1.1.1", "not a valid IPv4 address"),
    ("a" * 64 + ".com", "label longer than 63"),
    ("a." * 127 + "com", "longer than 253"),
    ("bad!.com", "character '!' is not allowed"),
])
def test_normalize_domain_refuses_with_a_reason(raw, reason):
    with pytest.raises(ValueError) as info:
        normalize_domain(raw)
    assert reason in str(info.value)


@pytest.mark.parametrize(("host", "key"), [
    ("WWW.Casino.Com.", "www.casino.com"),
    ("casino.com:443", "casino.com"),
    ("[2001:db8::1]:8443", "ip:2001:db8::1"),
    ("[2001:DB8::1]", "ip:2001:db8::1"),
    ("2001:db8:0:0::1", "ip:2001:db8::1"),
    ("127.0.0.1", "ip:127.0.0.1"),
    ("127.0.0.1:8080", "ip:127.0.0.1"),
    ("münchen.de", "xn--mnchen-3ya.de"),
    ("", None),
    ("...", None),
    ("999.1.1.1", None),
    ("host:port", None),
])
def test_normalize_host_for_lookups(host, key):
    assert normalize_host(host) == key


def test_list_format_comments_blanks_errors_with_file_and_line():
    text = ("# header\n\ncasino.com\nWWW.Bet.example.   # inline comment\n"
            "casino.com\nnot a domain\n\t# indented comment\nhttp://x.com/\n")
    domains, errors = parse_list(text, "lists/g.txt")
    assert domains == ["casino.com", "www.bet.example"]
    assert errors == ["lists/g.txt:6: 'not a domain': character ' ' is not allowed in a host name",
                      "lists/g.txt:8: 'http://x.com/' looks like a URL; list only the host name"]


def test_format_list_round_trips():
    text = format_list(["a.com", "b.org"], header=["Title", ""])
    assert text == "# Title\n#\na.com\nb.org\n"
    assert parse_list(text) == (["a.com", "b.org"], [])


def test_resolve_inlines_lists_sorted_and_unique(write):
    write("lists/g.txt", "# g\nzeta.com\ncasino.com\n")
    write("lists/more.txt", "alpha.com\nCASINO.com\n")
    path = write("policy/../bundle.yaml", """\
        version: 2
        categories:
          gambling:
            domains: [inline.example, casino.com]
            lists: [lists/g.txt, lists/more.txt]
        """)
    source = load_bundle_file(path, resolve=False)
    assert source.categories["gambling"].lists == ("lists/g.txt", "lists/more.txt")
    assert not source.is_resolved()
    bundle = load_bundle_file(path)
    assert bundle.is_resolved() and bundle.categories["gambling"].lists == ()
    assert bundle.categories["gambling"].domains == ("alpha.com", "casino.com",
                                                     "inline.example", "zeta.com")
    assert bundle == resolve_bundle(source, path.parent)


def test_list_problems_are_all_reported_with_file_and_line(write):
    write("lists/g.txt", "ok.com\nbad..com\n")
    path = write("bundle.yaml", """\
        version: 2
        categories:
          gambling: {lists: [lists/g.txt, lists/missing.txt]}
          adult: {lists: [../outside.txt, /etc/hosts]}
        """)
    with pytest.raises(BundleError) as info:
        load_bundle_file(path)
    assert info.value.errors == [
        "categories.gambling.lists[0]: lists/g.txt:2: 'bad..com' has an empty label "
        "(two dots in a row, or a leading dot)",
        "categories.gambling.lists[1]: cannot read 'lists/missing.txt': No such file or "
        "directory",
        "categories.adult.lists[0]: '../outside.txt' must be a path relative to the bundle's "
        "folder, without '..'",
        "categories.adult.lists[1]: '/etc/hosts' must be a path relative to the bundle's "
        "folder, without '..'"]


def test_list_symlink_leading_outside_is_refused(write, tmp_path):
    outside = tmp_path / "secret.txt"
    outside.write_text("a.com\n")
    write("b/bundle.yaml", "version: 1\ncategories: {g: {lists: [link.txt]}}\n")
    os.symlink(outside, tmp_path / "b" / "link.txt")
    with pytest.raises(BundleError) as info:
        load_bundle_file(tmp_path / "b" / "bundle.yaml")
    assert info.value.errors == ["categories.g.lists[0]: 'link.txt' leads outside the "
                                 "bundle's folder"]


def test_lists_need_a_file_to_be_relative_to():
    unresolved = parse_bundle("version: 1\ncategories: {g: {lists: [a.txt]}}\n")
    with pytest.raises(BundleError) as info:
        resolve_bundle(unresolved, None)
    assert info.value.errors == ["categories.g.lists[0]: cannot read 'a.txt': the bundle was "
                                 "not loaded from a file"]


def test_unreadable_bundle_file_and_json_files(tmp_path, make_data):
    with pytest.raises(BundleError) as info:
        load_bundle_file(tmp_path / "nope.yaml")
    assert info.value.errors == ["cannot read: No such file or directory"]
    path = tmp_path / "b.json"
    path.write_text(json.dumps(make_data()))
    assert load_bundle_file(path).version == 4


def test_bundle_to_yaml_reloads_identically(make_data):
    from rules.loader import validate_bundle

    bundle = validate_bundle(make_data(issued_at="2025-01-01T00:00:00Z"))
    text = bundle_to_yaml(bundle)
    assert text.startswith("schema: 1\nversion: 4\n")
    assert parse_bundle(text) == bundle
