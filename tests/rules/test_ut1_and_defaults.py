"""UT1 import on the real lists (read in place) and the shipped default bundle."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from rules.categories import CategoryIndex
from rules.defaults import default_bundle_path, load_default_bundle
from rules.listfile import parse_list
from rules.loader import load_bundle_file
from rules.nudge import decide
from rules.ut1 import import_ut1, list_ut1_categories, parse_global_usage


def test_global_usage_of_the_real_data(ut1_dir):
    blocks = parse_global_usage((ut1_dir / "global_usage").read_text(encoding="utf-8"))
    assert len(blocks) > 60  # it describes the full set, more than this folder holds
    gambling = blocks["gambling"]
    assert gambling.default_type == "black"
    assert gambling.source == "https://squidguard.ut-capitole.fr"
    assert gambling.descriptions["EN"] == "Gambling and games sites, casino, etc."
    assert gambling.names["EN"] == "Gambling/Casino games" and gambling.names["FR"] == "Jeux casino"
    # 'NAME:   download' (spaces, not a tab) and names listed before descriptions both parse
    assert blocks["download"].default_type == "white"
    assert blocks["translation"].names["RU"] and blocks["translation"].descriptions["EN"]
    for category in list_ut1_categories(ut1_dir):
        assert category in blocks, category


def test_import_selected_real_categories(ut1_dir, tmp_path):
    results = import_ut1(ut1_dir, tmp_path, ["gambling", "vpn"])
    assert [r.name for r in results] == ["gambling", "vpn"]
    for result in results:
        source_lines = {line.strip() for line in
                        (ut1_dir / result.name / "domains").read_text().splitlines()
                        if line.strip()}
        written, errors = parse_list(result.list_path.read_text(), str(result.list_path))
        assert errors == [] and result.skipped == ()
        assert set(written) == source_lines and result.domains == len(source_lines) > 1000
        assert "CC BY-SA 4.0" in result.list_path.read_text().splitlines()[1]
    assert results[0].urls_not_imported == 5 and results[1].usage == ("black", "vpn")
    bundle = load_bundle_file(tmp_path / "bundle.yaml")
    assert set(bundle.categories) == {"gambling", "vpn"}
    assert bundle.categories["gambling"].description == "Gambling and games sites, casino, etc."
    index = CategoryIndex.from_bundle(bundle)
    assert index.lookup("www.000-online-casino.com") == {"gambling"}
    assert index.lookup("nordvpn.com") == {"vpn"}
    assert index.lookup("wikipedia.org") == frozenset()


def test_import_everything_real(ut1_dir, tmp_path):
    results = import_ut1(ut1_dir, tmp_path)
    assert [r.name for r in results] == list_ut1_categories(ut1_dir)
    assert len(results) == 14
    bundle = load_bundle_file(tmp_path / "bundle.yaml")
    total = sum(r.domains for r in results)
    assert bundle.domain_count() == total > 250_000
    index = CategoryIndex.from_bundle(bundle)
    assert len(index) > 250_000
    # real entries with an underscore (games) and an IP literal (redirector) are kept
    assert index.lookup("clan_ubh.tripod.com") == {"games"}
    assert index.lookup("18.198.224.161") == {"dating"}
    assert "redirector" in index.lookup("1.0.255.159")


def test_import_skips_invalid_lines_and_reports_them(tmp_path):
    src = tmp_path / "ut1"
    (src / "casino").mkdir(parents=True)
    (src / "casino" / "domains").write_text("good.example\nbad..example\n\nhttp://x.y/\n")
    (src / "casino" / "usage").write_text("black\n")
    (src / "global_usage").write_text("# c\nNAME: casino\nDESC EN: Casinos\nNAME EN: Casino\n")
    [result] = import_ut1(src, tmp_path / "out")
    assert result.domains == 1 and result.urls_not_imported == 0
    assert result.skipped == ("casino/domains:2: 'bad..example' has an empty label (two dots "
                              "in a row, or a leading dot)",
                              "casino/domains:4: 'http://x.y/' looks like a URL; list only the "
                              "host name")
    assert load_bundle_file(tmp_path / "out" / "bundle.yaml").categories["casino"].title == \
        "Casino"


def test_import_refuses_unknown_categories_and_empty_folders(ut1_dir, tmp_path):
    with pytest.raises(ValueError, match="unknown UT1 category 'nope'; available: "
                                         "cryptojacking, dating"):
        import_ut1(ut1_dir, tmp_path, ["gambling", "nope"])
    with pytest.raises(ValueError, match="has no UT1 category folders"):
        import_ut1(tmp_path, tmp_path / "out")


def test_default_bundle_is_valid_and_self_contained():
    path = default_bundle_path()
    assert path.name == "bundle.yaml" and path.is_file()
    source = load_bundle_file(path, resolve=False)
    assert not source.is_resolved()
    bundle = load_default_bundle()
    assert bundle.is_resolved() and bundle.version == 1
    assert bundle.seal.unseal_on_return is True and bundle.seal.report_paths is False
    assert set(bundle.categories) >= {"gambling", "adult", "malware", "file_sharing",
                                      "anonymizers", "crypto_mining"}
    for name, category in bundle.categories.items():
        assert len(category.domains) >= 6, name
        assert category.description
    for list_file in (path.parent / "lists").glob("*.txt"):
        domains, errors = parse_list(list_file.read_text(), list_file.name)
        assert errors == [] and domains, list_file


def test_default_bundle_nudges_on_real_sites():
    bundle = load_default_bundle()
    index = CategoryIndex.from_bundle(bundle)
    now = datetime(2025, 6, 1, tzinfo=UTC)

    def nudge(host, country):
        found = index.match(host)
        return decide(bundle, found.categories, found.site, country=country, home_country="GB",
                      now=now)

    abroad = nudge("www.bet365.com", "AE")
    assert abroad.rule.name == "gambling where it is unlawful"
    assert "Online gambling is illegal in the country you are in." in abroad.message
    assert nudge("sports.bet365.com", "GB").rule.name == "gambling"
    assert nudge("wetransfer.com", None).category == "file_sharing"
    assert nudge("www.torproject.org", "FR").category == "anonymizers"
    assert index.lookup("www.wikipedia.org") == frozenset()
    assert index.lookup("docs.google.com") == frozenset()


def test_package_data_covers_the_default_files():
    pyproject = Path(__file__).resolve().parents[2] / "pyproject.toml"
    text = pyproject.read_text()
    assert '"defaults/*.yaml"' in text and '"defaults/lists/*.txt"' in text
