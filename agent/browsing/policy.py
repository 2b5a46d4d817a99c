"""The agent's side of `rules.nudge`: local history in, a ready-to-show decision out.

`rules` is pure and speaks datetimes and its own `NudgeRecord`s; the nudger keeps float
timestamps in SQLite. This module converts between the two, renders the texts the employee
sees (the category's title, the rotated message, the answer to "Why am I seeing this?") and
says how long a nudge must be remembered: the longest window any rule uses (cooldown, heed
window, and the 24 hours of the daily cap), after which it is purged.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from rules import nudge as rules_nudge
from rules.categories import CategoryIndex
from rules.countries import country_name

log = logging.getLogger(__name__)
DAY_SECONDS = 86400.0


@dataclass(frozen=True)
class Decision:
    """What the nudger needs to show and remember one nudge."""

    category: str
    rule: str  # the rule's name, or its position when unnamed ("#0")
    variant: int
    title: str
    message: str
    why: str
    heed_window_seconds: float
    keep_seconds: float


def index_of(bundle) -> CategoryIndex:
    """The host -> categories index of a bundle; empty (no nudges) if it is unusable."""
    try:
        return CategoryIndex.from_bundle(bundle)
    except ValueError as exc:  # e.g. still refers to list files: a packaging bug, not fatal
        log.error("categories of bundle v%s not usable (%s); no nudges until the next bundle",
                  getattr(bundle, "version", "?"), exc)
        return CategoryIndex({})


def longest_window(bundle) -> float:
    """Seconds a nudge must be remembered for every rule's cooldown, cap and heed window."""
    spans = [DAY_SECONDS]
    for rule in bundle.nudges:
        spans += [rule.cooldown_minutes * 60.0, rule.heed_window_minutes * 60.0]
    return max(spans)


def history_span(bundle) -> float:
    """How far back `decide` needs to see the nudge history."""
    return longest_window(bundle)


def _at(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, UTC)


def _title(bundle, category: str) -> str:
    details = bundle.categories.get(category)
    return (details.title if details and details.title else category.replace("_", " ")).strip()


def _where(countries: Sequence[str], home_country: str | None) -> str:
    if countries[0] == "any":
        return "wherever you are"
    if countries[0] == "outside_home":
        home = country_name(home_country) if home_country else "your home country"
        return f"when you are outside {home}"
    return "when you are in " + ", ".join(country_name(c) or c for c in countries)


def why_text(bundle, category: str, site: str, countries: Sequence[str], country: str | None,
             home_country: str | None) -> str:
    """The plain answer to "Why am I seeing this?"."""
    here = country_name(country) if country else "an unknown country"
    return (f"{site} is listed under \"{_title(bundle, category)}\" in your organisation's "
            f"rules, which ask for a reminder {_where(countries, home_country)}. "
            f"Heedful thinks you are in {here}. Nothing was blocked. Your browsing history "
            "stays on this laptop: only the number of reminders per category and country, "
            "and whether they were heeded, is sent.")


def decide(bundle, categories: Iterable[str], *, site: str, country: str | None,
           home_country: str | None, now: float, history: Iterable) -> Decision | None:
    """Ask `rules.nudge.decide`; `history` holds the nudge store's records."""
    records = [rules_nudge.NudgeRecord(site=r.site, category=r.category, at=_at(r.shown_at),
                                       variant=r.variant) for r in history]
    found = rules_nudge.decide(bundle, categories, site, country=country,
                               home_country=home_country, now=_at(now), history=records)
    if found is None:
        return None
    return Decision(
        category=found.category, rule=found.rule.name or f"#{found.rule_index}",
        variant=found.variant, title=_title(bundle, found.category), message=found.message,
        why=why_text(bundle, found.category, site, found.rule.countries, found.country,
                     home_country),
        heed_window_seconds=found.heed_window.total_seconds(),
        keep_seconds=longest_window(bundle))


def explain(bundle, record, *, home_country: str | None) -> str:
    """"Why am I seeing this?" for a remembered nudge (the bundle may have changed since)."""
    rule = next((r for r in bundle.nudges if record.category in r.categories), None)
    countries = rule.countries if rule is not None else ("any",)
    return why_text(bundle, record.category, record.site, countries, record.country,
                    home_country)
