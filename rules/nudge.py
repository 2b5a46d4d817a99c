"""Should this visit get a nudge, and with which words? A pure decision, no clock.

The agent calls `decide` for each visit to a host that has categories. Rules are tried in
bundle order; the first rule that applies and is not held back by its limits wins:

* **categories** — the rule names at least one of the host's categories (the first such name,
  in the rule's order, becomes the nudge's category);
* **countries** — `any`; a list of codes (the laptop must be in one of them; unknown location
  means no); or `outside_home` (laptop country and home country both known and different);
* **cooldown** — no nudge for the same site within `cooldown_minutes` of the last one (for
  any rule: one site, one reminder at a time);
* **daily cap** — fewer than `daily_cap` nudges for the rule's categories in the 24 hours
  before `now` (a rolling window, so it needs no time zone);
* **variant** — the message after the one last shown for that category, wrapping around, so
  the employee does not see the same words every time.

A rule held back by its limits does not stop a later rule from applying.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from rules.countries import country_name
from rules.model import Bundle, Category, NudgeRule

DAY = timedelta(hours=24)


@dataclass(frozen=True)
class NudgeRecord:
    """A nudge that was shown: the history `decide` needs. `variant` indexes the messages."""

    site: str
    category: str
    at: datetime
    variant: int = 0


@dataclass(frozen=True)
class Nudge:
    """The decision to nudge: what to show and what to remember about it."""

    category: str
    site: str
    rule_index: int
    rule: NudgeRule
    message: str
    variant: int
    reason: str
    country: str | None

    @property
    def heed_window(self) -> timedelta:
        """How long after the nudge a return visit to the site counts as 'proceeded'."""
        return timedelta(minutes=self.rule.heed_window_minutes)

    def record(self, at: datetime) -> NudgeRecord:
        """The history record to keep once this nudge has been shown at `at`."""
        return NudgeRecord(site=self.site, category=self.category, at=at, variant=self.variant)


def country_applies(countries: Sequence[str], country: str | None,
                    home_country: str | None) -> bool:
    """Does a rule's country condition hold for a laptop in `country` (None: unknown)?"""
    if countries[0] == "any":
        return True
    if countries[0] == "outside_home":
        return country is not None and home_country is not None and country != home_country
    return country is not None and country in countries


def _next_variant(category: str, history: Sequence[NudgeRecord], count: int) -> int:
    shown = [r for r in history if r.category == category]
    if not shown:
        return 0
    last = max(shown, key=lambda r: r.at)
    return (last.variant + 1) % count


def _held_back(rule: NudgeRule, site: str, now: datetime,
               history: Sequence[NudgeRecord]) -> bool:
    cooldown = timedelta(minutes=rule.cooldown_minutes)
    if any(r.site == site and now - r.at < cooldown for r in history):
        return True
    today = sum(1 for r in history if r.category in rule.categories and now - r.at < DAY)
    return today >= rule.daily_cap


def render_message(template: str, category_name: str, category: Category, site: str,
                   country: str | None) -> str:
    """Fill a message template; an empty {reason} leaves no double spaces behind."""
    reason = category.reasons.get(country, "") if country else ""
    text = template.format(
        category=category.title or category_name.replace("_", " "),
        description=category.description,
        site=site,
        country=country_name(country) or "this country",
        country_code=country or "",
        reason=reason,
    )
    return re.sub(r"[ \t]{2,}", " ", text).strip()


def decide(bundle: Bundle, categories: Iterable[str], site: str, *, country: str | None,
           home_country: str | None, now: datetime,
           history: Sequence[NudgeRecord] = ()) -> Nudge | None:
    """The nudge to show for a visit to `site` with `categories`, or None.

    `country` is where the laptop is now and `home_country` the employee's home country
    (ISO alpha-2, either may be None when unknown). `now` and the records' `at` must be
    timezone-aware. See the module docstring for the rules.
    """
    if now.tzinfo is None:
        raise ValueError("now must be a timezone-aware datetime")
    host_categories = set(categories)
    if not host_categories:
        return None
    country = country.upper() if country else None
    home_country = home_country.upper() if home_country else None
    for index, rule in enumerate(bundle.nudges):
        category = next((c for c in rule.categories if c in host_categories), None)
        if category is None or not country_applies(rule.countries, country, home_country):
            continue
        if _held_back(rule, site, now, history):
            continue
        variant = _next_variant(category, history, len(rule.messages))
        details = bundle.categories[category]
        message = render_message(rule.messages[variant], category, details, site, country)
        return Nudge(category=category, site=site, rule_index=index, rule=rule,
                     message=message, variant=variant,
                     reason=details.reasons.get(country, "") if country else "",
                     country=country)
    return None
