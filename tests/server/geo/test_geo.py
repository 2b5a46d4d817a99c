"""Geolocation against the real 2018 GeoLite2 City demo database and real mmdb files we write."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from mmdb_writer import MMDBWriter
from netaddr import IPSet

from server.services.geo import (
    CITY_DB_SETTING,
    GeoDatabaseMissing,
    Geolocator,
    Place,
    demo_city_database,
)


@pytest.fixture(scope="module")
def geo() -> Geolocator:
    locator = Geolocator()
    yield locator
    locator.close()


def _write_mmdb(path: Path, database_type: str, networks: dict[str, dict]) -> Path:
    writer = MMDBWriter(ip_version=6, database_type=database_type, ipv4_compatible=True)
    for network, record in networks.items():
        writer.insert_network(IPSet([network]), record)
    writer.to_db_file(str(path))
    return path


# What the 2018-07-03 GeoLite2 City build says about well-known addresses.
@pytest.mark.parametrize(
    ("ip", "country", "label", "radius"),
    [
        ("8.8.8.8", "US", "United States", 1000.0),
        ("2001:4860:4860::8888", "US", "Mountain View, United States", 1.0),
        ("193.0.6.139", "NL", "Amsterdam, Netherlands", 10.0),  # RIPE NCC
        ("130.88.0.1", "GB", "Manchester, United Kingdom", 5.0),  # University of Manchester
        ("203.180.0.1", "JP", "Tokyo, Japan", 10.0),
        ("133.242.0.3", "JP", "Japan", 500.0),
        ("161.117.0.1", "SG", "Singapore, Singapore", 50.0),
        ("2a02:ec0:200::1", "FR", "France", 100.0),
    ],
)
def test_public_addresses_in_demo_database(geo: Geolocator, ip: str, country: str, label: str,
                                           radius: float) -> None:
    place = geo.locate(ip)
    assert place.kind == "public"
    assert place.country_code == country
    assert place.label == label
    assert place.accuracy_radius_km == radius
    assert place.has_coordinates


def test_coordinates_of_a_city(geo: Geolocator) -> None:
    place = geo.locate("193.0.6.139")
    assert place.latitude == pytest.approx(52.3735)
    assert place.longitude == pytest.approx(4.8951)
    assert place.city == "Amsterdam"
    assert place.asn is None and place.network_org is None
    assert place.is_anonymizer is False and place.is_hosting is False


@pytest.mark.parametrize(
    "ip",
    [
        "10.1.2.3", "172.16.0.1", "192.168.1.10", "127.0.0.1", "169.254.10.1", "100.64.0.1",
        "100.127.255.254", "0.0.0.0", "224.0.1.1", "239.255.255.250", "240.0.0.1",
        "255.255.255.255", "192.0.2.1", "198.51.100.7", "203.0.113.5", "198.18.0.1",
        "::1", "::", "fe80::1", "fd12:3456::1", "fc00::1", "ff02::1", "2001:db8::1",
        "::ffff:10.0.0.1", "::ffff:203.0.113.9",
    ],
)
def test_internal_ranges_are_never_a_place(geo: Geolocator, ip: str) -> None:
    place = geo.locate(ip)
    assert place.kind == "internal"
    assert place.label == "internal network"
    assert place.country_code is None and place.latitude is None


def test_ipv4_mapped_ipv6_is_unwrapped(geo: Geolocator) -> None:
    place = geo.locate("::ffff:8.8.8.8")
    assert place.kind == "public" and place.ip == "8.8.8.8" and place.country_code == "US"


@pytest.mark.parametrize("ip", ["", "not-an-ip", "999.1.1.1", "1.2.3", "-", None])
def test_bad_addresses_are_unknown(geo: Geolocator, ip: str | None) -> None:
    place = geo.locate(ip)
    assert place.kind == "unknown"
    assert place.label == "unknown location"


def test_lookups_are_cached_and_bounded() -> None:
    with Geolocator(cache_size=2) as locator:
        first = locator.locate("8.8.8.8")
        assert locator.locate("8.8.8.8") is first
        assert locator.cache_info().hits == 1
        locator.locate("1.1.1.1")
        locator.locate("193.0.6.139")
        assert locator.cache_info().currsize == 2


def test_demo_database_is_flagged_and_warned(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="server.services.geo"):
        locator = Geolocator()
    try:
        assert locator.is_demo_database is True
        assert "2018" in caplog.text and CITY_DB_SETTING in caplog.text
        info = locator.describe()
        assert info["is_demo_database"] is True
        assert info["city_db"]["build_date"] == "2018-07-03"
        assert info["city_db"]["database_type"] == "GeoLite2-City"
        assert info["asn_db"] is None and info["anonymous_db"] is None
    finally:
        locator.close()


def test_explicit_city_database_is_not_demo() -> None:
    with Geolocator(city_db=demo_city_database()) as locator:
        assert locator.is_demo_database is False
        assert locator.describe()["warning"] is None


def test_missing_city_database_names_the_setting(tmp_path: Path) -> None:
    with pytest.raises(GeoDatabaseMissing, match=CITY_DB_SETTING):
        Geolocator(city_db=tmp_path / "absent.mmdb")
    with pytest.raises(GeoDatabaseMissing, match="HEEDFUL_GEOIP_ASN_DB"):
        Geolocator(asn_db=str(tmp_path / "absent-asn.mmdb"))


def test_empty_setting_strings_mean_not_configured() -> None:
    with Geolocator(city_db="", asn_db="", anonymous_db="") as locator:
        assert locator.is_demo_database is True
        assert locator.describe()["asn_db"] is None


def test_asn_and_anonymous_databases(tmp_path: Path) -> None:
    asn_db = _write_mmdb(tmp_path / "asn.mmdb", "GeoLite2-ASN", {
        "8.8.8.0/24": {"autonomous_system_number": 15169,
                       "autonomous_system_organization": "GOOGLE"},
    })
    anon_db = _write_mmdb(tmp_path / "anon.mmdb", "GeoIP2-Anonymous-IP", {
        "185.220.101.0/24": {"is_anonymous": True, "is_tor_exit_node": True},
        "2a02:ec0::/32": {"is_hosting_provider": True},
    })
    with Geolocator(asn_db=asn_db, anonymous_db=anon_db) as locator:
        google = locator.locate("8.8.8.8")
        assert (google.asn, google.network_org) == (15169, "GOOGLE")
        assert google.is_anonymizer is False and google.is_hosting is False
        tor = locator.locate("185.220.101.5")
        assert tor.is_anonymizer is True and tor.country_code == "DE"
        hosting = locator.locate("2a02:ec0:200::1")
        assert hosting.is_hosting is True and hosting.is_anonymizer is False
        assert locator.describe()["asn_db"]["database_type"] == "GeoLite2-ASN"


def test_place_labels() -> None:
    assert Place(kind="public", ip="x", city="Tokyo", country_name="Japan").label == "Tokyo, Japan"
    assert Place(kind="public", ip="x", country_name="Japan").label == "Japan"
    assert Place(kind="internal", ip="10.0.0.1").label == "internal network"
    assert Place(kind="unknown", ip="x").label == "unknown location"
