"""Fixtures for the sign-in pipeline: the server core's real-app harness (reused from
tests/server/core/conftest.py) with the real demo GeoLite2 database, employees, ingest tokens
and enrolled devices made through the real services."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from server.services import api_tokens
from server.services.audit import Actor

_CORE = Path(__file__).resolve().parent.parent / "core" / "conftest.py"
_spec = importlib.util.spec_from_file_location("heedful_core_fixtures", _CORE)
assert _spec is not None and _spec.loader is not None
core = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = core  # dataclasses look their module up there
_spec.loader.exec_module(core)

# The core's fixtures, registered here too.
clock = core.clock
geolocator = core.geolocator
migrated_url = core.migrated_url
Harness = core.Harness
PASSWORD = core.PASSWORD

SAMPLES = Path(__file__).resolve().parent.parent / "ingest" / "samples"
LONDON = "81.2.69.142"  # GeoLite2 demo: Willesden (London), United Kingdom
TOKYO = "203.178.128.1"  # GeoLite2 demo: Tokyo, Japan (20 km)
STOCKHOLM = "89.160.20.112"  # GeoLite2 demo: Stockholm, Sweden


@pytest.fixture
def app(migrated_url: str, tmp_path: Path, clock: Any, geolocator: Any) -> Iterator[Any]:
    """The real app on a migrated database (both backends) with the demo geolocation."""
    h = core.build_harness(migrated_url, tmp_path, clock, geolocator)
    with h.client:
        yield h
    h.ctx.db.dispose()


@pytest.fixture
def samples() -> Path:
    return SAMPLES


class Kit:
    """Helpers and constants for the tests (a fixture: test modules cannot import conftest)."""

    SAMPLES = SAMPLES
    LONDON, TOKYO, STOCKHOLM = LONDON, TOKYO, STOCKHOLM
    core = core

    @staticmethod
    def ingest_token(h: Any, scopes: tuple[str, ...] = ("ingest",),
                     role: str | None = None) -> str:
        """A real API token (hashed in the database)."""
        with h.ctx.db.transaction() as s:
            _, token = api_tokens.create(s, name="siem", scopes=list(scopes), role=role,
                                         actor=Actor("test"), now=h.clock())
        return token

    @staticmethod
    def post_logins(h: Any, token: str, fmt: str, body: Any, **params: Any) -> Any:
        """POST /api/v1/ingest/logins with a bearer token."""
        return h.client.post("/api/v1/ingest/logins", params={"format": fmt, **params},
                             content=body, headers={"Authorization": f"Bearer {token}"})

    @staticmethod
    def enrol(h: Any, email: str, aliases: tuple[str, ...] = (), country: str = "GB",
              name: str = "LAPTOP") -> dict[str, Any]:
        """Add an employee and enrol one laptop for them; returns the enrolment reply."""
        h.add_employee(email, country, aliases)
        return h.enroll(h.issue_token(email), name=name)

    @staticmethod
    def stored(h: Any, **filters: Any) -> list[dict[str, Any]]:
        """Every stored sign-in, newest first."""
        from server.storage import signins as signin_store
        with h.ctx.db.transaction() as s:
            return signin_store.list_signins(s.connection(), limit=10_000, **filters)

    @staticmethod
    def csv(*rows: str) -> bytes:
        """A generic CSV body with the columns identity,time,ip,outcome,event_id."""
        return ("identity,time,ip,outcome,event_id\n" + "\n".join(rows) + "\n").encode()


@pytest.fixture
def kit() -> type[Kit]:
    return Kit


@pytest.fixture
def make_app(migrated_url: str, tmp_path: Path, clock: Any) -> Iterator[Any]:
    """A factory for apps with other settings on the same migrated database."""
    made: list[Any] = []

    def make(geolocator: Any, **overrides: Any) -> Any:
        h = core.build_harness(migrated_url, tmp_path, clock, geolocator, **overrides)
        made.append(h)
        return h

    yield make
    for h in made:
        h.ctx.db.dispose()
