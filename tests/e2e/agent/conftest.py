"""End-to-end harness: the real `heedful-server` and `heedful-agent` as separate processes.

The server runs from `.venv/bin/heedful-server` on a free port with a temporary data folder and
a fresh database (SQLite, or PostgreSQL through the `database_url` fixture). The agent runs
from `.venv/bin/heedful-agent run --home TMP`. Tests drive the agent through its local API
(the same client the tray uses) and look at the server's database through the server's own
storage functions.

Every agent process runs with `HOME` (and the XDG folders) in the test's temporary folder and
keyring's "fail" backend: the real seal sensor seals `~/Downloads` and `~/Sensitive`, and the
browsing sensor reads browser history under `~`, so an agent started by a test must never see
the developer's own home, nor their OS key store. `AgentProcess(env=...)` may name another
temporary home; the real one is refused.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from agent.localclient import LocalApiError, LocalClient

BIN = Path(sys.executable).parent
SERVER_BIN, AGENT_BIN = BIN / "heedful-server", BIN / "heedful-agent"
EMAIL = "alice@corp.example"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(predicate: Callable[[], Any], timeout: float = 30.0, what: str = "") -> Any:
    """Poll `predicate` until it returns something truthy; fail with `what` otherwise."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = predicate()
        except (LocalApiError, OSError):
            value = None
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what or predicate}")


class ServerProcess:
    """A real heedful-server on 127.0.0.1."""

    def __init__(self, data_dir: Path, database_url: str) -> None:
        if not SERVER_BIN.exists():
            pytest.fail(f"{SERVER_BIN} is missing: the server's command line is not installed")
        self.data_dir, self.database_url = data_dir, database_url
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "HEEDFUL_DATA_DIR": str(data_dir),
                    "HEEDFUL_DATABASE_URL": database_url, "HEEDFUL_ACCESS_LOG": "false"}
        self.proc: subprocess.Popen | None = None
        self._db = None

    def cli(self, *args: str) -> str:
        done = subprocess.run([str(SERVER_BIN), *args], env=self.env, capture_output=True,
                              text=True, timeout=120)
        if done.returncode != 0:
            raise AssertionError(f"heedful-server {' '.join(args)} failed: {done.stderr}")
        return done.stdout

    def start(self) -> None:
        log = (self.data_dir / "server.log").open("ab")
        self.proc = subprocess.Popen([str(SERVER_BIN), "run", "--port", str(self.port)],
                                     env=self.env, stdout=log, stderr=log)
        wait_for(self._healthy, 60, "the server to answer /healthz")

    def _healthy(self) -> bool:
        if self.proc and self.proc.poll() is not None:
            raise AssertionError(f"server exited: {(self.data_dir / 'server.log').read_text()}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
            conn.request("GET", "/healthz")
            return conn.getresponse().status == 200
        except OSError:
            return False

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(30)
        self.proc = None

    def token(self, email: str = EMAIL) -> str:
        return self.cli("enroll-token", email).strip().splitlines()[-1]

    def publish(self, version_note: int, threshold: int) -> None:
        bundle = self.data_dir / f"bundle-{version_note}.yaml"
        bundle.write_text(f"schema: 1\nversion: 1\nseal:\n  idle_threshold_seconds: "
                          f"{threshold}\n")
        self.cli("rules", "publish", str(bundle))

    def db(self):
        from server.storage.db import Database

        if self._db is None:
            self._db = Database(self.database_url)
        return self._db

    def events(self, device_id: str) -> list[tuple[str, str, dict]]:
        from server.storage.devices import events_of

        with self.db().transaction() as session:
            return [(e.event_id, e.type, e.data) for e in events_of(session, device_id)]

    def notify(self, title: str, body: str, email: str = EMAIL) -> str:
        from server.services.clock import utc_now
        from server.services.notifications import notify
        from server.storage.employees import get_by_email

        with self.db().transaction() as session:
            employee = get_by_email(session, email)
            return notify(session, employee_id=employee.id, kind="message", title=title,
                          body=body, now=utc_now())

    def notification(self, notification_id: str):
        from server.storage.models import Notification

        with self.db().transaction() as session:
            row = session.get(Notification, notification_id)
            return row.acked_at, row.response

    def close(self) -> None:
        self.stop()
        if self._db is not None:
            self._db.dispose()


def isolated_user_env(user_home: Path) -> dict[str, str]:
    """Environment naming `user_home` (created) as the employee's home for an agent process."""
    for sub in (".config", ".local/share", ".cache"):
        (user_home / sub).mkdir(parents=True, exist_ok=True)
    return {"HOME": str(user_home), "XDG_CONFIG_HOME": str(user_home / ".config"),
            "XDG_DATA_HOME": str(user_home / ".local/share"),
            "XDG_CACHE_HOME": str(user_home / ".cache"),
            "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}


class AgentProcess:
    """A real heedful-agent with its own state folder and a temporary employee home
    (`user_home`, next to the state folder unless `env` names another `HOME`)."""

    def __init__(self, home: Path, env: dict[str, str] | None = None) -> None:
        self.home = home
        env = dict(env or {})
        self.user_home = Path(env.get("HOME") or home.parent / "user-home")
        real_home = Path(os.path.expanduser("~")).resolve()
        if self.user_home.resolve() == real_home:
            raise AssertionError(f"refusing to run a test agent in the real home {real_home}: "
                                 "its seal sensor would seal the developer's files")
        self.env = {**os.environ, **isolated_user_env(self.user_home),
                    "HEEDFUL_AGENT_HOME": str(home),
                    "HEEDFUL_AGENT_RULES_RETRY_SECONDS": "0",
                    "HEEDFUL_AGENT_SIGNINS_POLL_SECONDS": "0.5",
                    "HEEDFUL_AGENT_WTMP_PATH": str(home.parent / "wtmp"),
                    "HEEDFUL_AGENT_BTMP_PATH": str(home.parent / "btmp"), **env}
        self.proc: subprocess.Popen | None = None
        self.client = LocalClient(home)

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        done = subprocess.run([str(AGENT_BIN), *args, "--home", str(self.home)], env=self.env,
                              capture_output=True, text=True, timeout=120)
        if check and done.returncode != 0:
            raise AssertionError(f"heedful-agent {' '.join(args)} failed: {done.stderr}")
        return done

    def enroll(self, server_url: str, token: str) -> str:
        out = self.cli("enroll", "--server", server_url, "--token", token).stdout
        return out.split("device ", 1)[1].split()[0]

    def start(self, **extra_env: str) -> None:
        log = (self.home.parent / "agent.out").open("ab")
        env = {**self.env, **extra_env}
        (self.home / "localapi.json").unlink(missing_ok=True)
        self.proc = subprocess.Popen([str(AGENT_BIN), "run", "--home", str(self.home)],
                                     env=env, stdout=log, stderr=log)
        wait_for(lambda: self._alive() and self.client.status()["agent"]["running"], 60,
                 "the agent's local API")

    def _alive(self) -> bool:
        if self.proc and self.proc.poll() is not None:
            raise AssertionError("agent exited: "
                                 + (self.home.parent / "agent.out").read_text()[-3000:])
        return True

    def checkin(self) -> dict[str, Any]:
        return self.client.checkin_now()

    def status(self) -> dict[str, Any]:
        return self.client.status()

    def kill9(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)
        self.proc = None

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            assert self.proc.wait(30) == 0, "the agent did not shut down cleanly"
        self.proc = None


class Relay:
    """A real HTTP relay between agent and server that can tamper with or replay the rule
    bundle it forwards — the man in the middle the signature check exists for."""

    def __init__(self, target_port: int) -> None:
        self.mode, self.replay_body = "pass", b""
        self.seen_envelopes: dict[int, bytes] = {}
        relay = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _forward(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                conn = http.client.HTTPConnection("127.0.0.1", target_port, timeout=30)
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                conn.request(self.command, self.path, body=body, headers=headers)
                reply = conn.getresponse()
                data = reply.read()
                if self.path == "/api/v1/rules/current" and reply.status == 200:
                    data = relay.rewrite(data)
                self.send_response(reply.status)
                for key, value in reply.getheaders():
                    if key.lower() not in ("content-length", "transfer-encoding", "connection"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _forward  # noqa: N815

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def rewrite(self, data: bytes) -> bytes:
        envelope = json.loads(data)
        self.seen_envelopes[envelope["bundle"]["version"]] = data
        if self.mode == "tamper":
            envelope["bundle"]["seal"]["idle_threshold_seconds"] = 900
            return json.dumps(envelope).encode()
        if self.mode == "replay":
            return self.replay_body
        return data

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def e2e(tmp_path: Path) -> Iterator[Callable[..., tuple[ServerProcess, AgentProcess]]]:
    """Factory: a migrated, running server with one employee, and an (unstarted) agent."""
    made: list = []

    def make(database_url: str | None = None) -> tuple[ServerProcess, AgentProcess]:
        url = database_url or f"sqlite:///{tmp_path / 'server.db'}"
        (tmp_path / "server").mkdir()
        server = ServerProcess(tmp_path / "server", url)
        made.append(server)
        server.cli("migrate")
        server.cli("employees", "add", EMAIL, "--home-country", "GB")
        server.start()
        agent = AgentProcess(tmp_path / "agent")
        made.append(agent)
        return server, agent

    yield make
    for thing in reversed(made):
        try:
            if isinstance(thing, AgentProcess) and thing.proc:
                thing.proc.kill()
                thing.proc.wait(10)
            elif isinstance(thing, ServerProcess):
                thing.close()
        except Exception:  # cleanup must go on for the others
            pass
