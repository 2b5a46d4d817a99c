"""The bundle model: defaults, normalisation, and `path: reason` validation errors."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from rules.errors import BundleError
from rules.loader import parse_bundle, validate_bundle
from rules.model import DETECTORS, Bundle, NudgeRule


def errors_of(data, **kw) -> list[str]:
    with pytest.raises(BundleError) as info:
        validate_bundle(data, **kw)
    return info.value.errors


def test_defaults_of_every_section(make_data):
    bundle = validate_bundle({"version": 1})
    assert bundle.schema_version == 1 and bundle.categories == {} and bundle.nudges == ()
    assert bundle.issued_at is None and bundle.expires_at is None
    assert bundle.seal.idle_threshold_seconds == 300
    assert bundle.seal.protected_folders == ("~/Sensitive", "Downloads")
    assert bundle.seal.seal_on_lock and bundle.seal.seal_before_sleep
    assert bundle.seal.unseal_on_return is True and bundle.seal.report_paths is False
    alerts = bundle.login_alerts
    assert (alerts.impossible_travel_speed_kmh, alerts.min_distance_km) == (900.0, 500.0)
    assert (alerts.learning_days, alerts.learning_sign_ins) == (14, 10)
    assert alerts.notify == DETECTORS == ("new_country", "impossible_travel", "anonymizer",
                                          "failure_burst", "away_from_device")
    assert (bundle.checkin.interval_seconds, bundle.checkin.minimum_seconds) == (60, 15)
    rule = validate_bundle(make_data()).nudges[0]
    assert (rule.cooldown_minutes, rule.daily_cap, rule.heed_window_minutes) == (60, 3, 10)


def test_schema_alias_in_and_out():
    bundle = Bundle(version=2)
    assert bundle.to_dict()["schema"] == 1 and "schema_version" not in bundle.to_dict()
    assert errors_of({"schema": 2, "version": 1}) == [
        "schema: unsupported schema 2; this version reads schema 1"]


def test_the_issue_example_error_format(make_data):
    rules = [{"categories": ["gambling"], "messages": ["m"]}] * 2 + [
        {"categories": ["gambling"], "countries": ["FR", "XX"], "messages": ["m"]}]
    assert errors_of(make_data(nudges=rules)) == [
        "nudges[2].countries[1]: 'XX' is not an ISO 3166-1 alpha-2 code"]


def test_country_codes_come_from_the_iso_table_not_a_pattern(make_data):
    rule = {"categories": ["gambling"], "countries": ["UK", "fr", "NO", "ZZ"], "messages": ["m"]}
    assert errors_of(make_data(nudges=[rule])) == [
        "nudges[0].countries[0]: 'UK' is not an ISO 3166-1 alpha-2 code",
        "nudges[0].countries[3]: 'ZZ' is not an ISO 3166-1 alpha-2 code"]
    rule["countries"] = ["fr", "NO", "fr"]
    assert validate_bundle(make_data(nudges=[rule])).nudges[0].countries == ("FR", "NO")


def test_country_keywords_alone_and_serialised_as_words(make_data):
    rule = {"categories": ["gambling"], "countries": "outside_home", "messages": ["m"]}
    bundle = validate_bundle(make_data(nudges=[rule]))
    assert bundle.nudges[0].countries == ("outside_home",)
    assert bundle.to_dict()["nudges"][0]["countries"] == "outside_home"
    rule["countries"] = ["any", "FR"]
    assert errors_of(make_data(nudges=[rule])) == [
        "nudges[0].countries: 'any' cannot be combined with other entries"]
    rule["countries"] = "anywhere"
    assert errors_of(make_data(nudges=[rule])) == [
        "nudges[0].countries[0]: 'anywhere' is not an ISO 3166-1 alpha-2 code, 'any' or "
        "'outside_home'"]


def test_unknown_keys_are_errors_that_list_the_allowed_keys(make_data):
    data = make_data(colour="red", seal={"idle_treshold_seconds": 60})
    assert errors_of(data) == [
        "seal.idle_treshold_seconds: unknown key; expected one of: idle_threshold_seconds, "
        "protected_folders, seal_on_lock, seal_before_sleep, unseal_on_return, report_paths",
        "colour: unknown key; expected one of: schema, version, issued_at, expires_at, "
        "categories, nudges, seal, login_alerts, checkin"]


def test_required_and_type_errors_name_path_and_value(make_data):
    data = make_data(version="7", checkin={"interval_seconds": 30.5})
    del data["nudges"][0]["messages"]
    assert errors_of(data) == [
        "version: expected a whole number, got '7'",
        "nudges[0].messages: required field is missing",
        "checkin.interval_seconds: expected a whole number, got 30.5"]
    assert errors_of({}) == ["version: required field is missing"]
    assert errors_of(["not", "a", "mapping"]) == ["expected a mapping at the top level, got list"]


def test_nudge_rules_must_name_defined_categories(make_data):
    rule = {"categories": ["gambling", "gamblin"], "messages": ["m"]}
    assert errors_of(make_data(nudges=[rule])) == [
        "nudges[0].categories[1]: unknown category 'gamblin'"]
    # reported even when other fields fail too (pydantic skips whole-model checks then)
    rule["daily_cap"] = 0
    assert errors_of(make_data(nudges=[rule])) == [
        "nudges[0].daily_cap: must be greater than or equal to 1, got 0",
        "nudges[0].categories[1]: unknown category 'gamblin'"]


def test_message_templates_are_checked(make_data):
    def message_errors(*messages):
        rule = {"categories": ["gambling"], "messages": list(messages)}
        return errors_of(make_data(nudges=[rule]))

    assert message_errors("On {site}: {categry}") == [
        "nudges[0].messages[0]: unknown placeholder {categry}; use one of {category}, "
        "{description}, {site}, {country}, {country_code}, {reason}"]
    assert message_errors() == ["nudges[0].messages: needs at least 1 entry"]
    assert message_errors("  ") == ["nudges[0].messages[0]: message is empty"]
    assert "Single '}'" in message_errors("oops }")[0]
    ok = {"categories": ["gambling"], "messages": ["{{literal}} {reason}"]}
    assert validate_bundle(make_data(nudges=[ok])).nudges[0].messages == ("{{literal}} {reason}",)


def test_seal_policy_cap_and_folders(make_data):
    assert errors_of(make_data(seal={"idle_threshold_seconds": 901})) == [
        "seal.idle_threshold_seconds: 901 exceeds the policy cap of 900 seconds"]
    assert validate_bundle(make_data(seal={"idle_threshold_seconds": 900})).seal \
        .idle_threshold_seconds == 900
    folders = ["~", "Documents/Contracts", "downloads", "/srv/x", "C:\\Exports", "notes",
               "~/a/../../etc"]
    problems = errors_of(make_data(seal={"protected_folders": folders}))
    assert [p.split(":")[0] for p in problems] == [
        "seal.protected_folders[0]", "seal.protected_folders[5]", "seal.protected_folders[6]"]
    assert "known folder (Desktop, Documents, Downloads" in problems[1]
    assert "'..' is not allowed" in problems[2]


def test_seal_flags_are_strict_booleans(make_data):
    assert errors_of(make_data(seal={"seal_on_lock": "yes"})) == [
        "seal.seal_on_lock: expected true or false, got 'yes'"]
    assert errors_of(make_data(seal={"unseal_on_return": 0, "report_paths": "true"})) == [
        "seal.unseal_on_return: expected true or false, got 0",
        "seal.report_paths: expected true or false, got 'true'"]


def test_return_and_reporting_policy_round_trips_through_yaml_and_signing(make_data):
    bundle = parse_bundle("version: 2\nseal:\n  unseal_on_return: false\n"
                          "  report_paths: true\n")
    assert bundle.seal.unseal_on_return is False and bundle.seal.report_paths is True
    assert bundle.seal.seal_on_lock is True  # the others keep their defaults
    shipped = bundle.to_dict()["seal"]
    assert (shipped["unseal_on_return"], shipped["report_paths"]) == (False, True)
    assert validate_bundle(bundle.to_dict()) == bundle
    # a bundle signed before these fields existed still validates, with the safe defaults
    older = make_data(seal={"idle_threshold_seconds": 120, "seal_on_lock": False})
    seal = validate_bundle(older).seal
    assert (seal.unseal_on_return, seal.report_paths) == (True, False)


def test_login_alerts_detectors_and_checkin_bounds(make_data):
    data = make_data(login_alerts={"notify": ["new_country", "telepathy"]},
                     checkin={"interval_seconds": 10})
    problems = errors_of(data)
    assert problems[0].startswith("login_alerts.notify[1]: must be 'new_country',")
    assert problems[1] == "checkin.interval_seconds: 10 is below minimum_seconds (15)"
    alerts = validate_bundle(make_data(login_alerts={"notify": ["anonymizer"],
                                                     "impossible_travel_speed_kmh": 1000}))
    assert alerts.login_alerts.notify == ("anonymizer",)
    assert alerts.login_alerts.impossible_travel_speed_kmh == 1000.0


def test_datetimes_must_have_a_zone_and_are_kept_in_utc(make_data):
    bundle = validate_bundle(make_data(issued_at="2025-03-01T10:00:00+02:00",
                                       expires_at="2025-04-01T00:00:00Z"))
    assert bundle.issued_at == datetime(2025, 3, 1, 8, 0, tzinfo=UTC)
    assert bundle.to_dict()["issued_at"] == "2025-03-01T08:00:00Z"
    assert errors_of(make_data(issued_at="2025-03-01T10:00:00"))[0].startswith(
        "issued_at: 2025-03-01T10:00:00 has no time zone")
    assert errors_of(make_data(issued_at="2025-05-01T00:00:00Z",
                               expires_at="2025-04-01T00:00:00Z")) == [
        "expires_at: must be later than issued_at"]
    assert errors_of(make_data(issued_at="yesterday")) == [
        "issued_at: expected an RFC 3339 timestamp such as 2025-01-31T09:00:00Z, got "
        "'yesterday'"]


def test_categories_normalise_domains_and_check_names_and_reasons(make_data):
    categories = {"gambling": {"domains": ["WWW.Casino.COM.", "bücher.de", "[2001:DB8::1]"],
                               "reasons": {"ae": "Illegal here."}}}
    bundle = validate_bundle(make_data(categories=categories))
    assert bundle.categories["gambling"].domains == ("www.casino.com", "xn--bcher-kva.de",
                                                     "2001:db8::1")
    assert bundle.categories["gambling"].reasons == {"AE": "Illegal here."}
    bad = {"Gambling!": {}, "gambling": {"domains": ["bad domain.com"], "reasons": {"XX": "?"}}}
    assert errors_of(make_data(categories=bad)) == [
        "categories['Gambling!']: 'Gambling!' is not a valid category name (lower-case "
        "letters, digits, '_' and '-', starting with a letter or digit, at most 63 characters)",
        "categories.gambling.domains[0]: 'bad domain.com': character ' ' is not allowed in "
        "a host name",
        "categories.gambling.reasons.XX: 'XX' is not an ISO 3166-1 alpha-2 code"]


def test_models_are_immutable_and_constructible_in_python():
    rule = NudgeRule(categories=("gambling",), countries="outside_home", messages=("m",))
    assert rule.countries == ("outside_home",)
    with pytest.raises(ValueError):
        rule.daily_cap = 5  # type: ignore[misc]


def test_yaml_norway_problem_and_duplicate_keys():
    text = ("version: 1\ncategories: {g: {domains: [a.no]}}\nnudges:\n"
            "  - {categories: [g], countries: [SE, NO, no], messages: [m]}\n")
    assert parse_bundle(text).nudges[0].countries == ("SE", "NO")
    with pytest.raises(BundleError) as info:
        parse_bundle("version: 1\nseal:\n  seal_on_lock: true\n  seal_on_lock: false\n")
    assert info.value.errors == ["seal.seal_on_lock: duplicate key (first at line 3)"]
    assert info.value.problems[0].line == 4


def test_syntax_errors_say_line_and_column():
    with pytest.raises(BundleError) as info:
        parse_bundle("version: 1\nseal: [unclosed\n", source="b.yaml")
    [error] = info.value.errors
    assert error.startswith("line 3, column 1: YAML syntax error")
    with pytest.raises(BundleError) as info:
        parse_bundle('{"version": 1,\n  "seal": }', source="b.json")
    assert info.value.errors == ["line 2, column 11: JSON syntax error: Expecting value"]
    assert info.value.located() == ["b.json:2: line 2, column 11: JSON syntax error: "
                                    "Expecting value"]


def test_validation_errors_carry_yaml_lines(minimal_yaml):
    text = minimal_yaml.replace("countries: any", "countries: [FR, XX]")
    with pytest.raises(BundleError) as info:
        parse_bundle(text, source="policy.yaml")
    assert info.value.located() == [
        "policy.yaml:9: nudges[0].countries[1]: 'XX' is not an ISO 3166-1 alpha-2 code"]
    assert "policy.yaml: 1 problem" in str(info.value)


def test_json_and_yaml_give_the_same_bundle(make_data, minimal_yaml):
    import json

    assert parse_bundle(json.dumps(make_data()).encode()) == parse_bundle(minimal_yaml)


def test_at_most_256_categories():
    many = {f"c{i}": {} for i in range(257)}
    assert errors_of({"version": 1, "categories": many}) == [
        "categories: 257 categories; at most 256 are supported"]
    del many["c0"]
    assert len(validate_bundle({"version": 1, "categories": many}).categories) == 256
