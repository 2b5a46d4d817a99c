"""The running agent: wires the store, sensors, uplink and local API, and runs until told to
stop (SIGTERM/SIGINT, or `Agent.stop()`).

Threads: one per sensor (agent/sensors/host.py), one for check-ins, the local API's server
threads, and the main thread, which samples the footprint watchdog and waits for the stop
signal. Shutdown stops the local API, then the sensors, then the check-in thread, then closes
the state database, each bounded in time.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

from agent import enrolment as enrolment_mod
from agent import settings as settings_mod
from agent.checkins import CheckinLoop
from agent.footprint import Footprint
from agent.ledger import Ledger
from agent.notifications import Notifications
from agent.outbox import Outbox
from agent.rulebook import Rulebook
from agent.sensors import Sensor, default_sensors
from agent.sensors.host import SensorHost
from agent.store import Store
from agent.sync import Syncer

log = logging.getLogger("agent.runtime")
FOOTPRINT_EVERY = 30.0


class Agent:
    """Everything the agent process owns."""

    def __init__(self, home: Path, *, platform: Any = None,
                 sensors: list[Sensor] | None = None) -> None:
        if platform is None:
            from agent import platform as platform_facade

            platform = platform_facade
        self.home, self.platform = Path(home), platform
        self.store = Store(self.home)
        self.settings = settings_mod.load(self.store)
        s = self.settings
        self.outbox = Outbox(self.store, keep_days=s.outbox_keep_days,
                             keep_events=s.outbox_keep_events, hard_max=s.outbox_hard_max)
        self.ledger = Ledger(self.store, keep_days=s.ledger_keep_days)
        self.notifications = Notifications(self.store)
        self.rulebook = Rulebook(self.store)
        self.footprint = Footprint(cpu_limit=s.cpu_limit_percent, rss_limit_mb=s.rss_limit_mb)
        self.host = SensorHost(default_sensors() if sensors is None else sensors,
                               store=self.store, outbox=self.outbox, platform=platform,
                               settings=s)
        self.host.notifications = self.notifications  # sensors' local notifications (nudges)
        self.syncer = Syncer(home=self.home, store=self.store, outbox=self.outbox,
                             ledger=self.ledger, notifications=self.notifications,
                             rulebook=self.rulebook, host=self.host, footprint=self.footprint,
                             settings=s, os_name=getattr(platform, "NAME", ""))
        self.checkins = CheckinLoop(self.syncer, self.store, footprint=self.footprint)
        self.localapi: Any = None
        self.started_at = time.time()
        self.priority: list[str] = []
        self._stop = threading.Event()

    def stop(self) -> None:
        """Ask the agent to shut down (safe from any thread or signal handler)."""
        self._stop.set()

    def run(self) -> int:
        """Run until stopped; returns the process exit code."""
        from agent.localapi import LocalApi

        self._install_signal_handlers()
        self.priority = self.platform.reduce_priority()
        enrolment = enrolment_mod.load(self.store)
        bundle = self.rulebook.load(enrolment.public_keys() if enrolment else [])
        self.host.location = self.store.get_state("location")
        self.host.listeners.append(self._on_signal)
        self.host.on_emitted = self._on_emitted
        self.host.start(bundle)
        self.localapi = LocalApi(self, port=int(self.settings.local_api_port),
                                 socket_path=self.settings.local_api_socket or None)
        self.localapi.start()
        self.checkins.start()
        self._watch_footprint()  # a first sample, so status has figures from the start
        log.info("agent running (pid %d, home %s, priority: %s)", os.getpid(), self.home,
                 ", ".join(self.priority))
        try:
            while not self._stop.wait(FOOTPRINT_EVERY * self.footprint.interval_factor):
                self._watch_footprint()
        finally:
            self._shutdown()
        return 0

    def _watch_footprint(self) -> None:
        release = getattr(self.platform, "release_memory", None)
        if release:
            release()  # freed heap back to the OS before measuring (glibc keeps it otherwise)
        change = self.footprint.sample()
        if change:
            log.warning("footprint watchdog: %s (%s)", change, self.footprint.status())
            from agent.events import Signal

            self.host.publish(Signal(change, self.footprint.status()))
        self.store.put_state("footprint", self.footprint.status())

    def _on_signal(self, sig: Any) -> None:
        if sig.name == "woke":
            self.checkins.trigger()  # the protocol asks for a check-in right after waking

    def _on_emitted(self, _added: int) -> None:
        # A full batch goes at once (protocol) - unless the server is failing: then the
        # backoff schedule decides, so a flood of events cannot hammer it.
        if self.checkins.failures == 0 and self.outbox.depth() >= self.syncer.max_batch:
            self.checkins.trigger()

    def _install_signal_handlers(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: self._stop.set())

    def _shutdown(self) -> None:
        log.info("agent stopping")
        if self.localapi:
            self.localapi.stop()
        self.host.stop(timeout=5.0)
        self.checkins.stop(timeout=5.0)
        self.syncer.close()
        self.store.close()
        log.info("agent stopped")

    def status(self) -> dict[str, Any]:
        """The live status (what `heedful-agent status` and the tray show)."""
        from agent.status import live_status

        return live_status(self)
