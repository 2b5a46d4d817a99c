"""Everything a request handler needs, built once per app: settings, database, clock, signing
key, geolocation, client-address resolution and metrics. Tests pass their own clock and
geolocator to `build_context` (dependency injection, no patching)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from server.metrics import Registry
from server.services.checkin import MAX_NOTIFICATIONS_PER_REPLY, CheckinPolicy
from server.services.client_ip import ClientIpResolver
from server.services.clock import Clock, utc_now
from server.services.console_auth import LoginPolicy
from server.services.device_auth import CredentialCache
from server.services.recovery_keys import RecoveryPublicKey, configured_public_key
from server.services.signing_keys import SigningKey, load_or_create
from server.settings import Settings
from server.storage.async_pool import AsyncPool, conninfo_from_url
from server.storage.checkin_batches import CheckinBatcher
from server.storage.db import Database

log = logging.getLogger(__name__)

DEFAULT = object()  # "build the geolocator from settings"


@dataclass(eq=False)  # compared and hashed by identity: one context per app
class AppContext:
    """Shared, read-only state of one app instance (per worker process)."""

    settings: Settings
    db: Database
    now: Clock
    signing_key: SigningKey
    geolocator: Any  # server.services.geo.Geolocator or None
    ip_resolver: ClientIpResolver
    metrics: Registry
    checkin_policy: CheckinPolicy
    login_policy: LoginPolicy
    agent_pool: AsyncPool | None = None  # PostgreSQL only: asyncio connections for check-ins
    checkin_batcher: CheckinBatcher | None = None  # PostgreSQL only: writes through agent_pool
    credential_cache: CredentialCache = field(default_factory=CredentialCache)
    recovery_key: RecoveryPublicKey | None = None  # setting recovery_public_key_path (escrow)

    def close(self) -> None:
        """Release database connections."""
        if self.agent_pool is not None:
            self.agent_pool.close()
        self.db.dispose()

    def locate(self, ip: str | None) -> Any:
        """The Place of `ip`, or None when no geolocation database is available."""
        return self.geolocator.locate(ip) if self.geolocator is not None else None


def geolocator_from_settings(settings: Settings) -> Any:
    """A Geolocator for the configured databases; the demo one or None when not configured."""
    from server.services.geo import GeoDatabaseMissing, Geolocator

    def path(name: str) -> Path | None:
        value = settings.values[name]
        return Path(value).expanduser() if value else None

    try:
        return Geolocator(city_db=path("geoip_city_db"), asn_db=path("geoip_asn_db"),
                          anonymous_db=path("geoip_anonymous_db"))
    except GeoDatabaseMissing as exc:
        if settings.geoip_city_db:
            raise
        log.warning("no geolocation: %s", exc)
        return None


def build_context(settings: Settings, *, now: Clock | None = None,
                  geolocator: Any = DEFAULT, database: Database | None = None) -> AppContext:
    """Open the database (lazily connecting), load or create the signing key, set up the rest."""
    db = database or Database(settings.effective_database_url,
                              pool_size=settings.db_pool_size,
                              max_overflow=settings.db_max_overflow,
                              statement_timeout_ms=settings.db_statement_timeout_ms)
    if not settings.database_url:
        settings.data_path.mkdir(parents=True, exist_ok=True, mode=0o700)
    recovery_key = configured_public_key(settings.recovery_public_key_path)
    agent_pool = None
    if db.dialect == "postgresql":
        conninfo = conninfo_from_url(db.url,
                                     statement_timeout_ms=settings.db_statement_timeout_ms)
        agent_pool = AsyncPool(conninfo, settings.db_pool_size)
    metrics = Registry()
    return AppContext(
        settings=settings,
        db=db,
        now=now or utc_now,
        signing_key=load_or_create(settings.effective_signing_key_path),
        geolocator=geolocator_from_settings(settings) if geolocator is DEFAULT else geolocator,
        ip_resolver=ClientIpResolver(settings.trusted_proxies),
        metrics=metrics,
        checkin_policy=CheckinPolicy(settings.checkin_interval, settings.max_batch_size,
                                     recovery_key.text if recovery_key else None),
        login_policy=LoginPolicy(settings.login_max_failures, settings.login_window,
                                 settings.session_lifetime),
        agent_pool=agent_pool,
        checkin_batcher=(CheckinBatcher(agent_pool, MAX_NOTIFICATIONS_PER_REPLY,
                                        on_batch=metrics.count_checkin_batch)
                         if agent_pool is not None else None),
        recovery_key=recovery_key,
    )
