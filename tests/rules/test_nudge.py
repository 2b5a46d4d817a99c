"""rules.nudge.decide: countries, cooldown, daily cap, rotation, rule order, texts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from rules.loader import validate_bundle
from rules.nudge import NudgeRecord, country_applies, decide

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)


@pytest.fixture
def bundle():
    return validate_bundle({
        "version": 1,
        "categories": {
            "gambling": {"title": "gambling", "domains": ["casino.com"],
                         "reasons": {"AE": "Online gambling is illegal in the country you "
                                           "are in."}},
            "adult": {"domains": ["adult.example"]},
            "file_sharing": {"domains": ["files.example"]},
        },
        "nudges": [
            {"name": "abroad", "categories": ["gambling"], "countries": ["AE", "QA"],
             "messages": ["{reason} ({country}, {country_code})", "B {site}", "C {category}"],
             "cooldown_minutes": 30, "daily_cap": 3, "heed_window_minutes": 15},
            {"name": "everywhere", "categories": ["adult", "gambling"], "countries": "any",
             "messages": ["Any: {category} on {site}.  {reason}"], "daily_cap": 2},
            {"name": "travel", "categories": ["file_sharing"], "countries": "outside_home",
             "messages": ["Away from {country}? {description}"]},
        ]})


def ask(bundle, categories, site="casino.com", country="AE", home="GB", history=(), now=NOW):
    return decide(bundle, categories, site, country=country, home_country=home, now=now,
                  history=list(history))


def test_country_conditions():
    assert country_applies(("any",), None, None)
    assert country_applies(("AE", "QA"), "QA", None)
    assert not country_applies(("AE", "QA"), None, "AE")
    assert country_applies(("outside_home",), "FR", "GB")
    assert not country_applies(("outside_home",), "GB", "GB")
    assert not country_applies(("outside_home",), None, "GB")
    assert not country_applies(("outside_home",), "FR", None)


def test_country_specific_rule_wins_with_reason_and_country_name(bundle):
    nudge = ask(bundle, {"gambling"})
    assert (nudge.category, nudge.rule.name, nudge.rule_index, nudge.variant) == (
        "gambling", "abroad", 0, 0)
    assert nudge.message == ("Online gambling is illegal in the country you are in. "
                             "(United Arab Emirates, AE)")
    assert nudge.reason == "Online gambling is illegal in the country you are in."
    assert nudge.heed_window == timedelta(minutes=15) and nudge.site == "casino.com"


def test_elsewhere_the_general_rule_applies_without_a_reason(bundle):
    nudge = ask(bundle, {"gambling"}, country="FR")
    assert nudge.rule.name == "everywhere"
    assert nudge.message == "Any: gambling on casino.com."  # empty {reason}, no double spaces
    assert nudge.reason == ""
    assert ask(bundle, {"gambling"}, country=None).rule.name == "everywhere"
    assert ask(bundle, {"adult"}, site="adult.example", country="ae").message == \
        "Any: adult on adult.example."


def test_outside_home(bundle):
    assert ask(bundle, {"file_sharing"}, site="files.example", country="GB") is None
    assert ask(bundle, {"file_sharing"}, site="files.example", country=None) is None
    nudge = ask(bundle, {"file_sharing"}, site="files.example", country="JP")
    assert nudge.message == "Away from Japan?"


def test_no_categories_or_no_matching_rule(bundle):
    assert ask(bundle, set()) is None
    assert ask(bundle, {"news"}) is None


def test_cooldown_is_per_site(bundle):
    shown = [NudgeRecord("casino.com", "gambling", NOW - 29 * MIN, 0)]
    # the AE rule is cooling down for this site; the general rule is too (same site)
    assert ask(bundle, {"gambling"}, history=shown) is None
    assert ask(bundle, {"gambling"}, site="other-casino.com", history=shown).rule.name == "abroad"
    shown = [NudgeRecord("casino.com", "gambling", NOW - 30 * MIN, 0)]
    assert ask(bundle, {"gambling"}, history=shown).rule.name == "abroad"


def test_daily_cap_is_a_rolling_24_hours_and_falls_through(bundle):
    three = [NudgeRecord(f"s{i}.example", "gambling", NOW - timedelta(hours=i + 1), i)
             for i in range(3)]
    # the AE rule is capped (3 today); the next rule still applies (its cap is 2 and the
    # gambling nudges count towards it too) -> capped as well
    assert ask(bundle, {"gambling"}, history=three) is None
    older = [NudgeRecord("s.example", "gambling", NOW - timedelta(hours=24), 0)] + three[:2]
    assert ask(bundle, {"gambling"}, history=older).rule.name == "abroad"
    adult_only = [NudgeRecord("x.example", "adult", NOW - timedelta(hours=2), 0)]
    assert ask(bundle, {"adult"}, site="adult.example", history=adult_only) is not None
    adult_only.append(NudgeRecord("y.example", "adult", NOW - timedelta(hours=1), 0))
    assert ask(bundle, {"adult"}, site="adult.example", history=adult_only) is None


def test_variants_rotate_after_the_last_one_used_for_the_category(bundle):
    history: list[NudgeRecord] = []
    seen = []
    for hour in range(5):
        now = NOW + timedelta(days=hour)  # a day apart: no cooldown or cap in the way
        nudge = ask(bundle, {"gambling"}, history=history, now=now)
        seen.append(nudge.variant)
        history.append(nudge.record(now))
    assert seen == [0, 1, 2, 0, 1]
    assert history[-1] == NudgeRecord("casino.com", "gambling", NOW + timedelta(days=4), 1)
    # the most recent record decides, whatever the list order; stale indexes wrap around
    shuffled = [NudgeRecord("a", "gambling", NOW - timedelta(days=2), 1),
                NudgeRecord("b", "gambling", NOW - timedelta(days=3), 0)]
    assert ask(bundle, {"gambling"}, history=shuffled).variant == 2
    stale = [NudgeRecord("a", "gambling", NOW - timedelta(days=2), 7)]
    assert ask(bundle, {"gambling"}, history=stale).variant == 2  # (7 + 1) % 3


def test_decide_is_pure_and_needs_an_aware_now(bundle):
    history = [NudgeRecord("x", "gambling", NOW - timedelta(days=1), 0)]
    assert ask(bundle, {"gambling"}, history=history) == ask(bundle, {"gambling"},
                                                              history=history)
    with pytest.raises(ValueError, match="timezone-aware"):
        ask(bundle, {"gambling"}, now=datetime(2025, 6, 1))
