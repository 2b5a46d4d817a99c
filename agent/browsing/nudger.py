"""From visits to nudges, and from nudges to outcome counts: the only thing that leaves.

Per visit: host -> categories (the bundle's `CategoryIndex`) -> `rules.nudge.decide` (through
`agent.browsing.policy`) with the country the laptop is in, the employee's home country and the
local nudge history -> a `Nudge` handed to `deliver` (tray, or the console log when headless).
The browser is never blocked, delayed or redirected: the visit has already happened when the
agent reads it.

Outcomes, each nudge exactly one: `proceeded` when the person returns to the nudged site within
the heed window (a visit after the nudge was shown), `heeded` when the window passes without
one, `dismissed` / `miscategorised` when the employee chooses so first.

What leaves the laptop (`outgoing`): one `nudge_outcomes` event per check-in with counts per
(category, country, outcome) and nothing else; a `nudge_miscategorised` event with {host,
category} only when the employee explicitly sends that report (`choose(..., send_report=True)`).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from agent.browsing import policy
from agent.browsing.nudge_store import (
    DISMISSED,
    HEEDED,
    MISCATEGORISED,
    PROCEEDED,
    NudgeRecord,
    NudgeStore,
)
from agent.browsing.visits import Visit
from agent.events import Event

log = logging.getLogger(__name__)
NUDGE_OUTCOMES = "nudge_outcomes"
NUDGE_MISCATEGORISED = "nudge_miscategorised"
CHOICES = (("got_it", "Got it"), ("why", "Why am I seeing this?"),
           ("miscategorised", "This site is miscategorised"))
DAY = 86400.0


@dataclass(frozen=True)
class Nudge:
    """A notification for the employee (stays on the laptop)."""

    id: str
    host: str
    category: str
    title: str  # the category as people say it ("Online gambling")
    message: str  # the chosen variant: why it matters here
    why: str  # the answer to "Why am I seeing this?"
    country: str | None
    shown_at: float
    choices: tuple[tuple[str, str], ...] = CHOICES

    def as_dict(self) -> dict[str, object]:
        """JSON form for the tray's local API."""
        return {"id": self.id, "kind": "nudge", "host": self.host, "category": self.category,
                "title": self.title, "message": self.message, "why": self.why,
                "country": self.country, "shown_at": _iso(self.shown_at),
                "choices": [{"id": c, "label": label} for c, label in self.choices]}

    def text(self) -> str:
        """One plain line for the console log of a headless agent."""
        return f"[nudge] {self.title} — {self.message} ({self.host})"


def _iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat().replace("+00:00", "Z")


def same_site(host: str, site: str) -> bool:
    """True when `host` is the nudged site or one of its subdomains."""
    return host == site or host.endswith("." + site)


class Nudger:
    """Decides, remembers and counts nudges for one employee on one laptop."""

    def __init__(self, store: NudgeStore, *, bundle, home_country: str | None,
                 deliver: Callable[[Nudge], None], clock: Callable[[], float] = time.time,
                 fresh_seconds: float = 600.0,
                 new_id: Callable[[], str] = lambda: str(uuid.uuid4())) -> None:
        self.store, self.deliver, self.clock, self.new_id = store, deliver, clock, new_id
        self.fresh_seconds = fresh_seconds
        self.home_country = home_country
        self._open: list[NudgeRecord] = []
        self.apply_bundle(bundle)
        self._reload_open()

    def apply_bundle(self, bundle) -> None:
        """Use a new rule bundle (categories and nudge rules) from now on."""
        self.bundle = bundle
        self.index = policy.index_of(bundle)

    def _reload_open(self) -> None:
        self._open = self.store.open_nudges()

    # -- visits -------------------------------------------------------------------------------
    def observe(self, visits: Iterable[Visit], *, country: str | None) -> list[Nudge]:
        """Handle new visits in time order; returns the nudges shown (already delivered)."""
        shown = []
        for visit in visits:
            at = visit.time.timestamp()
            self._note_return(visit.host, at)
            if at < self.clock() - self.fresh_seconds:
                continue  # too old to warn about now (synced, backlog after sleep)
            nudge = self._consider(visit.host, country)
            if nudge is not None:
                shown.append(nudge)
        return shown

    def _note_return(self, host: str, at: float) -> None:
        for record in list(self._open):
            if at > record.shown_at and same_site(host, record.site) and \
                    at <= record.heed_until and self.store.decide(record.id, PROCEEDED, at):
                self._open.remove(record)

    def _consider(self, host: str, country: str | None) -> Nudge | None:
        match = self.index.match(host)
        if match is None:
            return None
        now = self.clock()
        history = self.store.since(now - policy.history_span(self.bundle))
        decision = policy.decide(self.bundle, match.categories, site=match.site,
                                 country=country, home_country=self.home_country,
                                 now=now, history=history)
        if decision is None:
            return None
        record = NudgeRecord(self.new_id(), match.site, host, decision.category, decision.rule,
                             country, decision.variant, now,
                             now + decision.heed_window_seconds,
                             now + max(decision.keep_seconds, DAY))
        self.store.add(record)
        self._open.append(record)
        nudge = Nudge(record.id, host, decision.category, decision.title, decision.message,
                      decision.why, country, now)
        try:
            self.deliver(nudge)
        except Exception:  # noqa: BLE001 - a missing tray must not lose the count
            log.exception("delivering nudge %s failed", nudge.id)
        return nudge

    # -- the employee's choices ---------------------------------------------------------------
    def choose(self, nudge_id: str, choice: str, *, send_report: bool = False) -> list[Event]:
        """Record a choice; returns the events to queue (a report only if asked to send it)."""
        record = self.store.get(nudge_id)
        if record is None:
            raise KeyError(f"no nudge {nudge_id} (already purged, or never shown here)")
        if choice not in {c for c, _ in CHOICES} | {"dismiss"}:
            raise ValueError(f"unknown choice {choice!r}")
        outcome = {"dismiss": DISMISSED, "miscategorised": MISCATEGORISED}.get(choice)
        if outcome and self.store.decide(nudge_id, outcome, self.clock()):
            self._reload_open()
        if choice == "miscategorised" and send_report:
            return [Event(NUDGE_MISCATEGORISED, {"host": record.host,
                                                 "category": record.category})]
        return []

    def explain(self, nudge_id: str) -> str:
        """The text behind "Why am I seeing this?" for a remembered nudge."""
        record = self.store.get(nudge_id)
        if record is None:
            raise KeyError(f"no nudge {nudge_id}")
        return policy.explain(self.bundle, record, home_country=self.home_country)

    # -- time passing -------------------------------------------------------------------------
    def expire(self) -> int:
        """Nudges whose heed window passed without a return are heeded; returns how many."""
        now = self.clock()
        done = sum(self.store.decide(r.id, HEEDED, now) for r in self.store.expired_open(now))
        if done:
            self._reload_open()
        return done

    def outgoing(self) -> tuple[Event, str] | None:
        """The `nudge_outcomes` event for the next check-in and its batch id, or None.

        Queue the event, then call `sent(batch)`. Until then the same event (same id) comes
        back, so a crash in between cannot count anything twice.
        """
        self.expire()
        self.store.purge(self.clock())  # also when nothing new is sent
        opened = self.store.open_batch(self.new_id())
        if opened is None:
            return None
        batch, counts = opened
        event = Event.keyed(NUDGE_OUTCOMES, f"nudge-outcomes:{batch}", {"counts": counts},
                            _iso(self.clock()))
        return event, batch

    def sent(self, batch: str) -> None:
        """The batch's event is in the outbox: forget it as pending, purge what is old."""
        self.store.close_batch(batch)
        self.store.purge(self.clock())
