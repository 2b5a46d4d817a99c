"""The rule bundle in force: verified before use, applied atomically, never rolled back.

A downloaded envelope is verified with `rules.signing.verify_envelope` against the keys
trusted at enrolment, with `min_version` = the version already applied (so an older or equal
version is a `RollbackRefused`) and the current time (expiry). Only then is it written, in one
transaction, as the applied bundle, and swapped in memory. Anything that fails leaves the
previous bundle in force, is remembered in `refused` (shown in status) and reported to the
server as a `rules.refused` event.

Before any bundle is applied the built-in default bundle (`rules.defaults`) is in force. At
start-up the persisted envelope is verified again (signature and shape; expiry is judged at
the time it was applied), so a state file edited by hand is not trusted.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from agent.events import RULES_APPLIED, RULES_REFUSED, Event
from agent.store import Store

log = logging.getLogger("agent.rules")


def default_bundle() -> Any:
    """The built-in bundle shipped with the `rules` package (or, if that package lacks its
    defaults module, a bundle of the model's documented defaults, with a warning)."""
    try:
        from rules.defaults import load_default_bundle
    except ImportError:
        from rules.model import Bundle

        log.warning("rules.defaults is not available; using the rule model's defaults")
        return Bundle(version=1)
    return load_default_bundle()


class Rulebook:
    """Holds the bundle in force; thread-safe."""

    def __init__(self, store: Store, *, clock: Callable[[], float] = time.time,
                 defaults: Callable[[], Any] = default_bundle) -> None:
        self.store, self.clock, self._defaults = store, clock, defaults
        self._lock = threading.Lock()
        self.bundle: Any = None
        self.version: int | None = None
        self.etag: str | None = None
        self.applied_at: float | None = None
        self.refused: dict[str, Any] | None = store.get_state("rules_refused")

    def load(self, trusted_keys: list[str]) -> Any:
        """Bring the persisted bundle (or the defaults) into force; returns it."""
        from rules.errors import VerificationError
        from rules.signing import verify_envelope

        rows = self.store.query("SELECT version, envelope, etag, applied_at FROM rules_applied")
        if rows:
            version, envelope, etag, applied_at = rows[0]
            try:
                when = datetime.fromtimestamp(applied_at, tz=UTC)
                bundle = verify_envelope(envelope, trusted_keys, now=when)
                with self._lock:
                    self.bundle, self.version, self.etag = bundle, version, etag
                    self.applied_at = applied_at
                return bundle
            except VerificationError as exc:
                log.error("the stored rule bundle v%s no longer verifies (%s); using the "
                          "built-in defaults", version, exc)
                self._remember_refusal(version, exc, "stored")
        with self._lock:
            self.bundle, self.version, self.etag = self._defaults(), None, None
        return self.bundle

    def offer(self, envelope: bytes, etag: str | None, trusted_keys: list[str],
              advertised: int | None, outbox: Any) -> Any:
        """Verify and apply a downloaded envelope; returns the bundle, or raises the
        `VerificationError` after recording and reporting the refusal."""
        from rules.errors import VerificationError
        from rules.signing import verify_envelope

        now = self.clock()
        try:
            bundle = verify_envelope(envelope, trusted_keys, now=datetime.fromtimestamp(now, UTC),
                                     min_version=self.version)
        except VerificationError as exc:
            self._remember_refusal(advertised, exc, "download")
            outbox.put(Event(RULES_REFUSED, {"advertised_version": advertised,
                                             "applied_version": self.version,
                                             "reason": exc.__class__.__name__,
                                             "message": str(exc)[:500]}))
            raise
        with self.store.transaction() as conn:
            conn.execute("DELETE FROM rules_applied")
            conn.execute("INSERT INTO rules_applied (id, version, envelope, etag, applied_at) "
                         "VALUES (1, ?, ?, ?, ?)",
                         (bundle.version, envelope.decode("utf-8"), etag, now))
            conn.execute("DELETE FROM state WHERE key = 'rules_refused'")
        with self._lock:
            self.bundle, self.version, self.etag, self.applied_at = bundle, bundle.version, \
                etag, now
            self.refused = None
        outbox.put(Event(RULES_APPLIED, {"version": bundle.version}))
        log.info("applied rule bundle version %s", bundle.version)
        return bundle

    def should_download(self, advertised: int | None, retry_after: float) -> bool:
        """Whether a check-in reply advertising `advertised` warrants a download now."""
        if advertised is None or advertised == self.version:
            return False
        refused = self.refused
        if refused and refused.get("version") == advertised and refused.get("source") == \
                "download":
            return self.clock() - float(refused.get("at", 0)) >= retry_after
        return True

    def _remember_refusal(self, version: int | None, exc: Exception, source: str) -> None:
        self.refused = {"version": version, "reason": exc.__class__.__name__,
                        "message": str(exc)[:500], "at": self.clock(), "source": source}
        self.store.put_state("rules_refused", self.refused)
        log.warning("refused rule bundle v%s: %s", version, exc)

    def status(self) -> dict[str, Any]:
        """For `heedful-agent status`."""
        bundle = self.bundle
        expires = getattr(bundle, "expires_at", None)
        return {"version": self.version, "source": "server" if self.version else "built-in",
                "applied_at": self.applied_at, "expires_at": expires.isoformat()
                if expires else None,
                "expired": bool(expires and expires.timestamp() <= self.clock()),
                "refused": self.refused}


def envelope_version(envelope: bytes) -> int | None:
    """The version claimed inside an envelope, unverified (for messages only)."""
    try:
        return int(json.loads(envelope)["bundle"]["version"])
    except (ValueError, KeyError, TypeError):
        return None
