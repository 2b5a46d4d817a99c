"""Fixtures for the server core: a migrated database (SQLite and PostgreSQL via `database_url`),
a settable clock, and a `Harness` wrapping the real app in-process with helpers that set up
employees, tokens, devices and console users through the real services."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from server.app import context_of, create_app
from server.migrations import upgrade
from server.services import console_auth, enrollment, fleet, notifications
from server.services.audit import Actor
from server.settings import Settings, load_settings

START = datetime(2024, 5, 2, 9, 0, 0, tzinfo=UTC)
PASSWORD = "correct horse battery staple"
PEER = "127.0.0.1"  # TestClient's peer address; trusted as a proxy in the default settings


@dataclass
class FakeClock:
    """The clock seam: `now()` returns a time the test sets and advances."""

    current: datetime = START

    def __call__(self) -> datetime:
        return self.current

    def advance(self, **delta: float) -> None:
        self.current += timedelta(**delta)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(scope="session")
def geolocator() -> Iterator[Any]:
    """The real GeoLite2 demo database (2018 data), shared by every test."""
    from server.services.geo import Geolocator
    locator = Geolocator()
    yield locator
    locator.close()


@pytest.fixture
def migrated_url(database_url: str) -> str:
    """`database_url` with the schema created by the migrations."""
    upgrade(database_url)
    return database_url


def make_settings(url: str, data_dir: Path, **overrides: Any) -> Settings:
    env = {"HEEDFUL_DATA_DIR": str(data_dir), "HEEDFUL_DATABASE_URL": url,
           "HEEDFUL_TRUSTED_PROXIES": "127.0.0.1/32", "HEEDFUL_ACCESS_LOG": "false",
           "HEEDFUL_DB_POOL_SIZE": "4"}
    return load_settings(environ=env, **overrides)


@dataclass
class Harness:
    """The real app in-process plus set-up helpers that go through the real services."""

    app: Any
    client: TestClient
    clock: FakeClock
    settings: Settings
    tokens: list[str] = field(default_factory=list)

    @property
    def ctx(self) -> Any:
        return context_of(self.app)

    def new_client(self, peer: str = PEER, base_url: str = "http://testserver") -> TestClient:
        return TestClient(self.app, client=(peer, 50000), base_url=base_url)

    def add_employee(self, email: str = "e1042@corp.example", country: str = "GB",
                     aliases: tuple[str, ...] = ()) -> dict[str, Any]:
        with self.ctx.db.transaction() as s:
            return fleet.add_employee(s, email=email, home_country=country, aliases=aliases,
                                      actor=Actor("test"), now=self.clock())

    def issue_token(self, email: str = "e1042@corp.example", lifetime: int = 3600) -> str:
        with self.ctx.db.transaction() as s:
            issued = enrollment.issue_token(s, email=email, lifetime_seconds=lifetime,
                                            actor=Actor("test"), now=self.clock())
        return issued.token

    def enroll(self, token: str | None = None, name: str = "LAPTOP-1") -> dict[str, Any]:
        """Enrol a device (creating the default employee when needed); returns the reply."""
        if token is None:
            with self.ctx.db.transaction() as s:
                from server.storage.employees import get_by_email
                exists = get_by_email(s, "e1042@corp.example") is not None
            if not exists:
                self.add_employee()
            token = self.issue_token()
        response = self.client.post("/api/v1/enroll", json={
            "token": token, "name": name, "os": "linux", "agent_version": "0.1.0"})
        assert response.status_code == 201, response.text
        return response.json()

    @staticmethod
    def auth(device: dict[str, Any]) -> dict[str, str]:
        return {"Authorization": f"Device {device['device_id']}:{device['device_secret']}"}

    def checkin(self, device: dict[str, Any], events: list[dict[str, Any]] | None = None,
                **extra: Any) -> Any:
        body = {"state": {"agent_version": "0.1.0", "idle_seconds": 3}, "events": events or [],
                **extra}
        return self.client.post("/api/v1/checkin", json=body, headers=self.auth(device))

    def notify(self, employee_email: str = "e1042@corp.example", title: str = "Hello") -> str:
        from server.storage.employees import get_by_email
        with self.ctx.db.transaction() as s:
            employee = get_by_email(s, employee_email)
            assert employee is not None
            return notifications.notify(s, employee_id=employee.id, kind="message",
                                        title=title, body="Body text", now=self.clock())

    def create_user(self, role: str, email: str | None = None) -> str:
        email = email or f"{role}-{uuid.uuid4().hex[:6]}@corp.example"
        with self.ctx.db.transaction() as s:
            console_auth.create_user(s, email=email, password=PASSWORD, role=role,
                                     actor=Actor("test"), now=self.clock())
        return email

    def login(self, role: str, client: TestClient | None = None) -> tuple[TestClient, str]:
        """A client logged in to the console as a new user with `role`, and its CSRF token."""
        client = client or self.new_client()
        email = self.create_user(role)
        form = client.get("/console/login")
        csrf = form.cookies.get("heedful_login_csrf") or client.cookies.get("heedful_login_csrf")
        response = client.post("/console/login", data={"email": email, "password": PASSWORD,
                                                       "csrf_token": csrf},
                               follow_redirects=False)
        assert response.status_code == 303, response.text
        return client, client.cookies["heedful_csrf"]

    def event(self, type_: str = "agent.started", **data: Any) -> dict[str, Any]:
        return {"id": str(uuid.uuid4()), "type": type_,
                "occurred_at": "2024-05-02T08:59:00Z", "data": data}


def build_harness(url: str, tmp_path: Path, clock: FakeClock, geolocator: Any = None,
                  fast_path: bool = True, **overrides: Any) -> Harness:
    settings = make_settings(url, tmp_path / "data", **overrides)
    app = create_app(settings, now=clock, geolocator=geolocator, checkin_fast_path=fast_path)
    return Harness(app, TestClient(app, client=(PEER, 50000)), clock, settings)


@pytest.fixture
def harness(migrated_url: str, tmp_path: Path, clock: FakeClock) -> Iterator[Harness]:
    """The app on a migrated database (both backends), no geolocation."""
    h = build_harness(migrated_url, tmp_path, clock)
    with h.client:
        yield h
    h.ctx.db.dispose()


@pytest.fixture
def make_harness(migrated_url: str, tmp_path: Path, clock: FakeClock) -> Iterator[Any]:
    """A factory for harnesses with other settings, on the same migrated database."""
    made: list[Harness] = []

    def make(geolocator: Any = None, fast_path: bool = True, **overrides: Any) -> Harness:
        h = build_harness(migrated_url, tmp_path, clock, geolocator, fast_path, **overrides)
        made.append(h)
        return h

    yield make
    for h in made:
        h.ctx.db.dispose()


def free_port() -> int:
    import socket
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class LiveServer:
    """`heedful-server run` in a subprocess on 127.0.0.1."""

    url: str
    port: int
    env: dict[str, str]
    log: Path


@pytest.fixture
def live_server(migrated_url: str, tmp_path: Path) -> Iterator[LiveServer]:
    """The real server over a real socket (uvicorn, one worker) on a migrated database."""
    import os
    import subprocess
    import sys
    import time

    import httpx

    port = free_port()
    env = {**os.environ, "HEEDFUL_DATA_DIR": str(tmp_path / "live-data"),
           "HEEDFUL_DATABASE_URL": migrated_url, "HEEDFUL_MAX_BODY_BYTES": "4096",
           "HEEDFUL_TRUSTED_PROXIES": "127.0.0.1/32"}
    log = tmp_path / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "server.cli", "run", "--port", str(port)],
            env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"server did not start:\n{log.read_text()}")
            time.sleep(0.1)
        yield LiveServer(url, port, env, log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
