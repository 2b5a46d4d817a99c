"""Shared visit rules (retries, settle delay, hosts) and the time-zone country fallback."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from agent.browsing.tzcountry import (
    country_for_zone,
    laptop_country,
    local_zone_name,
    parse_links,
    parse_zone_tab,
    system_tables,
)
from agent.browsing.visits import (
    RawVisit,
    Role,
    finish,
    host_of,
    mark_retries,
    utc_from_unix_us,
    utc_from_webkit_us,
)

T0 = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


def row(i, seconds, url, role=Role.FINAL):
    return RawVisit(i, T0 + timedelta(seconds=seconds), url, role)


def test_epochs():
    assert utc_from_webkit_us(13_440_113_447_499_788) == datetime(
        2026, 11, 25, 20, 50, 47, 499_788, tzinfo=UTC)
    assert utc_from_unix_us(1_795_639_919_988_817) == datetime(
        2026, 11, 25, 20, 51, 59, 988_817, tzinfo=UTC)


def test_retry_within_the_window_keeps_the_later_row_only():
    rows = mark_retries([row(1, 0, "http://a.example/x"), row(2, 1, "https://a.example/x"),
                         row(3, 10, "https://a.example/x"), row(4, 11, "https://b.example/")])
    assert [r.role for r in rows] == [Role.SKIP, Role.FINAL, Role.FINAL, Role.FINAL]


def test_settle_holds_back_the_young_tail_and_sets_the_checkpoint_before_it():
    rows = [row(1, 0, "https://a.example/"), row(2, 58, "https://b.example/"),
            row(3, 1, "https://c.example/")]  # id 3 is older than id 2: still held (tail)
    result = finish(rows, checkpoint=0, now=T0 + timedelta(seconds=60), settle=5.0)
    assert [v.host for v in result.visits] == ["a.example"]
    assert result.checkpoint == 1 and result.held_back == 2
    assert result.retry_after == 3.0


def test_host_of_only_web_urls():
    assert host_of("HTTPS://WWW.Example.COM.:443/a") == "www.example.com"
    assert host_of("http://[::1]:8080/") == "::1"
    for url in ("about:blank", "chrome://history", "data:text/html,x", "http:///nohost",
                "file:///etc/passwd", "http://[bad/"):
        assert host_of(url) is None


def test_zone_tables_and_links():
    zones = parse_zone_tab(["# comment", "DE,DK,NO\t+5230+01322\tEurope/Berlin\tmost of DE",
                            "FR\t+4852+00220\tEurope/Paris"])
    assert zones == {"Europe/Berlin": "DE", "Europe/Paris": "FR"}
    links = parse_links(["L Europe/Paris Europe/Monaco-ish", "Z Europe/Paris 0:9:21 - LMT"])
    assert country_for_zone("Europe/Monaco-ish", (zones, links)) == "FR"
    assert country_for_zone("Mars/Olympus", (zones, links)) is None


def test_system_zone_files_are_used():
    zones, _ = system_tables()
    assert len(zones) > 300  # the real zone.tab / zone1970.tab, not the fallback
    assert country_for_zone("Asia/Dubai") == "AE"
    assert country_for_zone("Asia/Calcutta") == "IN"  # an old name, through tzdata.zi links
    assert country_for_zone("Europe/Zurich") == "CH"  # zone.tab: the zone's own country


def test_local_zone_from_tz_then_localtime_link(tmp_path):
    assert local_zone_name({"TZ": ":Asia/Tokyo"}, tmp_path) == "Asia/Tokyo"
    (tmp_path / "localtime").symlink_to("/usr/share/zoneinfo/America/Sao_Paulo")
    assert local_zone_name({}, tmp_path) == "America/Sao_Paulo"
    assert laptop_country(None, {}, tmp_path) == "BR"
    assert laptop_country("ae", {}, tmp_path) == "AE"  # the server's view wins
    (tmp_path / "localtime").unlink()
    (tmp_path / "timezone").write_text("Europe/Lisbon\n")
    assert laptop_country(None, {}, tmp_path) == "PT"
    assert local_zone_name({}, tmp_path / "nothing") is None


def test_without_posix_zone_files_the_os_is_asked(tmp_path):
    """Windows keeps its zone in the registry: the platform facade's answer is used last."""
    nothing = tmp_path / "nothing"
    assert local_zone_name({}, nothing, os_zone=lambda: "Europe/Berlin") == "Europe/Berlin"
    assert country_for_zone(local_zone_name({}, nothing, os_zone=lambda: "Europe/Berlin")) == "DE"
    assert local_zone_name({"TZ": "Asia/Tokyo"}, nothing, os_zone=lambda: "Europe/Berlin") \
        == "Asia/Tokyo"  # what the environment says comes first
    assert local_zone_name({}, nothing, os_zone=lambda: None) is None


def test_tzdata_package_ships_the_tables_windows_relies_on():
    """Windows has no system zoneinfo: the `tzdata` package's copies of the tables are read."""
    from importlib.resources import files

    folder = files("tzdata") / "zoneinfo"
    zones = parse_zone_tab((folder / "zone1970.tab").read_text(encoding="utf-8").splitlines())
    zones.update(parse_zone_tab((folder / "zone.tab").read_text(encoding="utf-8").splitlines()))
    links = parse_links((folder / "tzdata.zi").read_text(encoding="utf-8").splitlines())
    assert country_for_zone("Europe/Berlin", (zones, links)) == "DE"  # ICU: W. Europe Std Time
    assert country_for_zone("Asia/Calcutta", (zones, links)) == "IN"  # an old name, via links
