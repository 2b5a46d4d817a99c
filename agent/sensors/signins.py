"""This laptop's own sign-ins: reads the OS logs and queues `laptop_signin` events.

The platform facade's reader finds and parses the logs (wtmp/btmp and the journal on Linux,
the Security log on Windows, the unified log on macOS); this sensor only schedules reads,
keeps the reader's checkpoint, and turns records into events whose ids derive from the
record, so a record read twice is still stored once. Events are queued *before* the
checkpoint moves, so a crash in between re-reads rather than loses.
"""

from __future__ import annotations

from typing import Any

from agent.events import LAPTOP_SIGNIN, Event, Signal
from agent.platform.signins import SIGNIN_KINDS, iso_utc
from agent.sensors import Option, Sensor, SensorContext


class LaptopSigninsSensor(Sensor):
    """Periodic reader of this laptop's sign-in logs."""

    name = "laptop-signins"
    tick_seconds = 60.0
    options = (Option("enabled", bool, True, "Report this laptop's own sign-ins."),)

    def __init__(self, reader: Any = None) -> None:
        self.reader = reader
        self.ctx: SensorContext | None = None
        self.paused = False
        self.sources: list[dict[str, Any]] = []
        self.sent = 0

    def start(self, ctx: SensorContext) -> None:
        self.ctx = ctx
        if self.reader is None:
            self.reader = ctx.platform.signin_reader(wtmp=ctx.settings.wtmp_path or None,
                                                     btmp=ctx.settings.btmp_path or None)

    def configure(self, options, updated) -> None:
        self.enabled = bool(options["enabled"])

    def on_signal(self, signal: Signal) -> None:
        if signal.name in ("scans-paused", "scans-resumed"):
            self.paused = signal.name == "scans-paused"

    def tick(self) -> float:
        ctx = self.ctx
        poll = float(ctx.settings.signins_poll_seconds)
        if not self.enabled:
            return poll
        checkpoint = ctx.checkpoint("reader", {})
        batch = self.reader.read(checkpoint, now=ctx.clock(),
                                 backfill=float(ctx.settings.signins_backfill_hours) * 3600)
        events = [Event.keyed(LAPTOP_SIGNIN, rec.idempotency_key(), rec.event_data(),
                              iso_utc(rec.time))
                  for rec in batch.records if rec.kind in SIGNIN_KINDS]
        if events:
            self.sent += ctx.emit(*events)
        ctx.save_checkpoint("reader", batch.checkpoint)
        self.sources = [s.as_dict() for s in batch.sources]
        ctx.set_state("signin_sources", self.sources)
        return poll * (4 if self.paused else 1)

    def status(self) -> dict[str, Any]:
        return {"queued_total": self.sent, "sources": self.sources}
