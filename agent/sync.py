"""One check-in cycle: state and queued events up, acknowledgements, rules, location and
notifications down (docs/protocol.md, "POST /api/v1/checkin").

Order matters for exactly-once delivery: the batch is recorded in the ledger, sent, and only
the ids the server lists in `accepted_event_ids` leave the outbox. The documented
fault-injection point (`fault_pause_after_send`) sits between "the server stored the batch"
and "the outbox forgets it", the one place where a crash must not cause a duplicate.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agent import __version__ as AGENT_VERSION
from agent import enrolment as enrolment_mod
from agent.errors import DeviceInvalid, NotEnrolled, ServerError
from agent.escrow_upload import EscrowUploader
from agent.events import EVENT_NAMESPACE, LOCATION_CHANGED, Signal
from agent.ledger import summarise_checkin
from agent.uplink import Uplink

log = logging.getLogger("agent.sync")
FAULT_MARKER = "fault-paused"


@dataclass
class CheckinResult:
    """What one successful check-in did."""

    sent: int
    accepted: int
    next_interval: float
    rules: str  # "unchanged", "applied vN", "refused: Reason", "not published"
    notifications_new: int
    more_waiting: bool


def iso(epoch: float | None) -> str | None:
    """Epoch seconds as RFC 3339 UTC, None stays None."""
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")


class Syncer:
    """Runs check-ins for the agent; one instance per running agent."""

    def __init__(self, *, home: Path, store: Any, outbox: Any, ledger: Any,
                 notifications: Any, rulebook: Any, host: Any, footprint: Any, settings: Any,
                 os_name: str = "", clock: Callable[[], float] = time.time,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.home, self.store, self.outbox, self.ledger = home, store, outbox, ledger
        self.notifications, self.rulebook, self.host = notifications, rulebook, host
        self.footprint, self.settings, self.os_name = footprint, settings, os_name
        self.clock, self.sleep = clock, sleep
        self.max_batch = 500
        self.escrow = EscrowUploader(home, store, ledger=ledger, clock=clock)
        self._uplink: Uplink | None = None
        self._uplink_key: tuple | None = None

    def uplink(self, enrolment: enrolment_mod.Enrolment) -> Uplink:
        """The Uplink for the current credential (rebuilt after re-enrolment)."""
        key = (enrolment.server_url, enrolment.credential, enrolment.ca_file)
        if self._uplink is None or key != self._uplink_key:
            if self._uplink:
                self._uplink.close()
            self._uplink = Uplink(enrolment.server_url, credential=enrolment.credential,
                                  ca_file=enrolment.ca_file or self.settings.ca_file or None,
                                  timeout=float(self.settings.request_timeout),
                                  user_agent=f"heedful-agent/{AGENT_VERSION}")
            self._uplink_key = key
        return self._uplink

    def close(self) -> None:
        """Close the HTTP session."""
        if self._uplink:
            self._uplink.close()
            self._uplink = None

    def enrolment(self) -> enrolment_mod.Enrolment:
        """The usable enrolment, or NotEnrolled saying why not."""
        current = enrolment_mod.load(self.store)
        if current is None:
            raise NotEnrolled("not enrolled: run `heedful-agent enroll --server URL --token T`")
        if not current.usable:
            raise NotEnrolled(f"needs re-enrolment: {current.status_reason}")
        return current

    def state(self) -> dict[str, Any]:
        """The check-in `state` object from the live values sensors set."""
        live = self.host.live
        state = {"agent_version": AGENT_VERSION, "rules_version": self.rulebook.version,
                 "os": self.os_name, "idle_seconds": live.get("idle_seconds"),
                 "locked": live.get("locked"), "asleep_since": iso(live.get("asleep_since")),
                 "footprint": self.footprint.checkin_figures()}
        if live.get("seal") is not None:
            state["seal"] = live["seal"]
        state["outbox"] = {"depth": self.outbox.depth(), "dropped": self.outbox.dropped()}
        state["escrow"] = self.escrow.status()
        return state

    def checkin(self) -> CheckinResult:
        """One full check-in; raises NotEnrolled, TransportError or ServerError. A
        `device_invalid` anywhere in it moves the enrolment to "needs re-enrolment"."""
        try:
            return self._checkin()
        except DeviceInvalid as exc:
            enrolment_mod.mark_invalid(self.store, f"the server refused the credential "
                                                   f"({exc.message})")
            raise

    def _checkin(self) -> CheckinResult:
        enrolment = self.enrolment()
        uplink = self.uplink(enrolment)
        events = self.outbox.peek(self.max_batch)
        ids = [e.id for e in events]
        body = {"batch_id": str(uuid.uuid5(EVENT_NAMESPACE, ",".join(ids))) if ids else None,
                "state": self.state(), "events": [e.as_wire() for e in events]}
        self.ledger.record("checkin", summarise_checkin(body), body, coalesce=not events)
        if ids:
            self.outbox.mark_attempt(ids)
        try:
            reply = uplink.checkin(body)
        except DeviceInvalid:
            raise
        except ServerError as exc:
            self._on_refused_batch(exc, events)
            raise
        self._fault_point(len(ids))
        accepted = [i for i in reply.get("accepted_event_ids", []) if i in set(ids)]
        self.outbox.acknowledge(accepted)
        self.host.live.pop("asleep_since", None)
        return self._after_reply(reply, enrolment, uplink, len(ids), len(accepted))

    def _fault_point(self, batch_size: int) -> None:
        """FAULT INJECTION for tests (setting `fault_pause_after_send`): the server has the
        batch, the outbox still has it. A kill -9 here must not cause a duplicate."""
        pause = float(self.settings.fault_pause_after_send)
        if pause > 0 and batch_size:
            (self.home / FAULT_MARKER).write_text(f"{batch_size}\n", encoding="utf-8")
            log.warning("fault injection: pausing %.0f s after sending %d events", pause,
                        batch_size)
            self.sleep(pause)

    def _on_refused_batch(self, exc: ServerError, events: list) -> None:
        """413: send fewer next time. 422 naming events: drop exactly those (they can never
        be accepted, and keeping them would block the queue forever)."""
        if exc.status == 413:
            self.max_batch = max(1, self.max_batch // 2)
        elif exc.status == 422:
            bad = set()
            for field in exc.fields:
                path = str(field.get("path", "")) if isinstance(field, dict) else ""
                if path.startswith("events[") and "]" in path:
                    index = int(path[7:path.index("]")])
                    if 0 <= index < len(events):
                        bad.add(events[index].id)
            if bad:
                log.error("server refused %d malformed events, dropping them: %s", len(bad),
                          exc.fields)
                self.outbox.acknowledge(bad)
                self.store.add_to_counter("outbox_rejected_total", len(bad))

    def _after_reply(self, reply: dict[str, Any], enrolment, uplink: Uplink, sent: int,
                     accepted: int) -> CheckinResult:
        self.max_batch = max(1, int(reply.get("max_batch_size") or self.max_batch))
        floor = float(self.settings.min_checkin_interval)
        interval = max(floor, float(reply.get("next_checkin_seconds") or 60))
        self._location(reply.get("location") or {})
        seal = self.host.live.get("seal") or {}  # the seal sensor's key id, when it runs
        self.escrow.sync(uplink, str(enrolment.device_id), reply.get("recovery_public_key"),
                         key_id=seal.get("key_id") or None)
        new = self.notifications.receive(reply.get("notifications") or [])
        self.deliver_acks(uplink)
        rules = self.update_rules(reply.get("rules_version"), enrolment, uplink)
        self.store.put_state("last_checkin", {"at": self.clock(), "sent": sent,
                                              "accepted": accepted, "rules": rules,
                                              "server_time": reply.get("server_time")})
        return CheckinResult(sent, accepted, interval, rules, new,
                             self.outbox.depth() >= self.max_batch)

    def _location(self, location: dict[str, Any]) -> None:
        """The server's view of where the laptop is becomes the agent's; sensors are told
        when the country or city changes. An unknown country keeps the last known one."""
        previous = self.store.get_state("location") or {}
        if not location.get("country_code"):
            merged = {**location, "country_code": previous.get("country_code"),
                      "country_name": previous.get("country_name"),
                      "city": previous.get("city")}
        else:
            merged = dict(location)
        merged["seen_at"] = self.clock()
        self.store.put_state("location", merged)
        self.host.location = merged
        key = ("country_code", "city", "kind")
        if any(previous.get(k) != merged.get(k) for k in key):
            self.host.publish(Signal(LOCATION_CHANGED, {k: merged.get(k) for k in key}))

    def deliver_acks(self, uplink: Uplink) -> None:
        """Send the employee's acknowledgements; a 404 will never succeed, so it is dropped."""
        for nid, response in self.notifications.pending_acks():
            body = {"response": response}
            self.ledger.record("ack", f"notification {nid} acknowledged"
                               + (f" with answer {response!r}" if response else ""), body)
            try:
                uplink.ack(nid, response)
            except ServerError as exc:
                if exc.status not in (404, 422):
                    raise
                log.warning("server will never accept the ack of %s: %s", nid, exc)
            self.notifications.ack_delivered(nid)

    def update_rules(self, advertised: int | None, enrolment, uplink: Uplink) -> str:
        """Download, verify and apply a newer bundle when the server advertises one."""
        from rules.errors import VerificationError

        retry = float(self.settings.rules_retry_seconds)
        if not self.rulebook.should_download(advertised, retry):
            return "unchanged"
        self.ledger.record("rules-download", f"asked for rule bundle v{advertised}",
                           {"GET": "/api/v1/rules/current", "If-None-Match":
                            self.rulebook.etag})
        try:
            reply = uplink.rules_current(self.rulebook.etag)
        except ServerError as exc:
            if exc.code == "rules_not_published":
                return "not published"
            raise
        if reply.status == 304:
            return "unchanged"
        try:
            bundle = self.rulebook.offer(reply.body, reply.headers.get("etag"),
                                         enrolment.public_keys(), advertised, self.outbox)
        except VerificationError as exc:
            return f"refused: {exc.__class__.__name__}"
        self.host.apply_bundle(bundle)
        return f"applied v{bundle.version}"
