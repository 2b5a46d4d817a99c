"""The local API the tray uses: loopback TCP (or a Unix socket), one secret per user.

Security: it listens on 127.0.0.1 only (or a Unix socket in the private state folder); every
request must carry `Authorization: Bearer <secret>` where the secret is in
`localapi.secret` (0600, created once per user); and the `Host` header must name the
loopback address and port actually served, so a web page that rebinds its DNS name to
127.0.0.1 cannot talk to it. Endpoints are documented in docs/protocol.md, "Local API".
"""

from __future__ import annotations

import hmac
import json
import logging
import os
import re
import secrets
import socketserver
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from agent.errors import NotEnrolled, TransportError
from agent.local_notifications import NoHandler
from agent.local_requests import NotRunning, Refused
from agent.paths import LOCALAPI_FILE, SECRET_FILE, write_private

log = logging.getLogger("agent.localapi")
MAX_BODY = 64 * 1024
MAX_WAIT = 60.0
PROXIED = {("GET", re.compile(r"^/v1/me/logins$")): "/me/logins",
           ("GET", re.compile(r"^/v1/me/cases$")): "/me/cases",
           ("POST", re.compile(r"^/v1/me/logins/([A-Za-z0-9-]{1,64})/answer$")):
               "/me/logins/{0}/answer"}
NUDGE_CHOICE = re.compile(r"^/v1/nudges/([A-Za-z0-9-]{1,64})/choice$")
PAGING_KEYS = ("cursor", "limit")

# (method, path) -> (request name, the sensor that answers it): see agent/local_requests.py
SENSOR_REQUESTS = {("POST", "/v1/seal/now"): ("seal.now", "seal"),
                   ("POST", "/v1/seal/unseal"): ("seal.unseal", "seal"),
                   ("GET", "/v1/seal/status"): ("seal.status", "seal")}


def ensure_secret(home: Path) -> str:
    """The per-user local API secret, created (0600) on first use."""
    path = home / SECRET_FILE
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    secret = secrets.token_urlsafe(32)
    write_private(path, secret + "\n")
    return secret


class _UnixServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


class LocalApi:
    """Serves the tray for one running `Agent`."""

    def __init__(self, agent: Any, *, port: int = 0, socket_path: str | None = None) -> None:
        self.agent, self.home = agent, agent.home
        self.secret = ensure_secret(self.home)
        handler = type("Handler", (_Handler,), {"api": self})
        if socket_path:
            if os.path.exists(socket_path):
                os.unlink(socket_path)
            self.server = _UnixServer(socket_path, handler)
            os.chmod(socket_path, 0o600)
            self.allowed_hosts = {"localhost"}
            self.address = {"transport": "unix", "path": socket_path}
        else:
            self.server = ThreadingHTTPServer(("127.0.0.1", port), handler)
            self.server.daemon_threads = True
            bound = self.server.server_address[1]
            self.allowed_hosts = {f"127.0.0.1:{bound}", f"localhost:{bound}"}
            self.address = {"transport": "tcp", "host": "127.0.0.1", "port": bound}
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Serve in a background thread and tell clients where (localapi.json)."""
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.1,),
                                        name="localapi", daemon=True)
        self._thread.start()
        write_private(self.home / LOCALAPI_FILE,
                      json.dumps({**self.address, "pid": os.getpid()}) + "\n")

    def stop(self) -> None:
        """Stop serving and remove localapi.json."""
        self.server.shutdown()
        self.server.server_close()
        (self.home / LOCALAPI_FILE).unlink(missing_ok=True)
        if self.address["transport"] == "unix":
            Path(self.address["path"]).unlink(missing_ok=True)

    # -- endpoint logic ---------------------------------------------------------------------
    def route(self, method: str, path: str, query: dict[str, list[str]],
              body: Any) -> tuple[int, Any]:
        """Dispatch; returns (HTTP status, JSON body)."""
        agent = self.agent

        def arg(key: str, default: str | None) -> str | None:
            return query.get(key, [default])[0]
        if method == "GET" and path == "/v1/status":
            return 200, agent.status()
        if method == "GET" and path == "/v1/notifications":
            after, wait = int(arg("after", "0")), min(float(arg("wait", "0")), MAX_WAIT)
            return 200, {"notifications": self.poll(after, wait)}
        match = re.match(r"^/v1/notifications/([A-Za-z0-9-]{1,64})/ack$", path)
        if method == "POST" and match:
            response = body.get("response") if isinstance(body, dict) else None
            if agent.notifications.local.close(match[1]):  # seen; nothing goes to the server
                return 200, {"id": match[1], "acked": True, "response": response}
            if not agent.notifications.ack(match[1], response):
                return 404, _error("not_found", f"no notification {match[1]}")
            agent.checkins.trigger()  # deliver the acknowledgement soon
            return 200, {"id": match[1], "acked": True, "response": response}
        if method == "GET" and path == "/v1/ledger":
            before = arg("before", None)
            entries = agent.ledger.entries(limit=min(int(arg("limit", "100")), 1000),
                                           before=int(before) if before else None)
            return 200, {"entries": [e.as_dict() for e in entries]}
        if method == "POST" and path == "/v1/checkin":
            return 200, agent.checkins.checkin_now(timeout=30.0)
        match = NUDGE_CHOICE.match(path)
        if method == "POST" and match:
            return self.nudge_choice(match[1], body if isinstance(body, dict) else {})
        if (method, path) in SENSOR_REQUESTS:
            name, sensor = SENSOR_REQUESTS[method, path]
            return self.sensor_request(name, sensor, body if isinstance(body, dict) else {})
        for (verb, pattern), target in PROXIED.items():
            found = pattern.match(path)
            if method == verb and found:
                return self.proxy(method, target.format(*found.groups()) + _paging(query), body)
        return 404, _error("not_found", f"no local endpoint {method} {path}")

    def poll(self, after: int, wait: float) -> list[dict[str, Any]]:
        """The tray's (long) poll; while it waits, nudges count as shown in the tray."""
        notifications = self.agent.notifications
        notifications.local.poll_started()
        try:
            if wait > 0:
                return notifications.wait(after=after, timeout=wait)
            return notifications.list(after=after)
        finally:
            notifications.local.poll_ended()

    def nudge_choice(self, nudge_id: str, body: dict[str, Any]) -> tuple[int, Any]:
        """The employee's choice on a nudge, handed to the browsing sensor (stays local
        unless they chose to send a miscategorisation report)."""
        choice = body.get("choice")
        if not isinstance(choice, str):
            raise ValueError('body must be {"choice": "got_it" | "why" | "miscategorised" | '
                             '"dismiss", "send_report": false}')
        try:
            reply = self.agent.notifications.local.answer("nudge", nudge_id, body)
        except NoHandler as exc:
            return 503, _error("unavailable", str(exc))
        except KeyError as exc:
            return 404, _error("not_found", str(exc.args[0] if exc.args else exc))
        return 200, reply

    def sensor_request(self, name: str, sensor: str, body: dict[str, Any]) -> tuple[int, Any]:
        """A request answered by a running sensor (e.g. `seal.now`), on this thread."""
        try:
            return 200, self.agent.host.requests.call(name, body)
        except NotRunning:
            return 503, _error("unavailable", f"the {sensor} sensor is not running on this "
                               "agent (still starting, restarting after a crash, or not part "
                               "of this agent); try again shortly")
        except Refused as exc:
            return exc.status, _error(exc.code, exc.message)

    def proxy(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        """Forward to the server with the device credential; errors get a clear shape."""
        syncer = self.agent.syncer
        try:
            uplink = syncer.uplink(syncer.enrolment())
            syncer.ledger.record("proxy", f"{method} /api/v1{path} for the tray", body or {})
            reply = uplink.proxy(method, path, body)
        except NotEnrolled as exc:
            return 409, _error("not_enrolled", str(exc))
        except TransportError as exc:
            return 502, _error("server_unreachable", str(exc))
        if reply.status == 404:
            try:
                data = reply.json()
            except Exception:
                data = {}
            if not isinstance(data, dict) or data.get("error") in (None, "not_found"):
                return 404, _error("not_available", f"the server has no /api/v1{path} "
                                   "(or no such item); it may be older than this agent")
        if reply.status == 401:
            return 502, _error("device_invalid", "the server refused this device; enrol again")
        try:
            return reply.status, reply.json()
        except Exception:
            return 502, _error("bad_reply", f"the server's reply to {path} was not JSON")



def _paging(query: dict[str, list[str]]) -> str:
    """The paging parameters the tray may pass on to the server (nothing else is forwarded)."""
    kept = {key: query[key][0] for key in PAGING_KEYS if query.get(key)}
    return "?" + urlencode(kept) if kept else ""

def _error(code: str, message: str) -> dict[str, str]:
    return {"error": code, "message": message}


class _Handler(BaseHTTPRequestHandler):
    api: LocalApi
    protocol_version = "HTTP/1.1"
    server_version = "heedful-agent"

    def log_message(self, fmt: str, *args: Any) -> None:
        log.debug("local api: " + fmt, *args)

    def _send(self, status: int, payload: Any) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(data)

    def _refusal(self) -> tuple[int, dict[str, str]] | None:
        if self.headers.get("Host", "") not in self.api.allowed_hosts:
            return 403, _error("bad_host", "Host header must name the local API's own address")
        given = self.headers.get("Authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {self.api.secret}".encode()):
            return 401, _error("unauthorized", "missing or wrong local API secret")
        return None

    def _handle(self, method: str) -> None:
        refused = self._refusal()
        length = int(self.headers.get("Content-Length") or 0)
        if refused is None and length > MAX_BODY:
            refused = 413, _error("body_too_large", f"at most {MAX_BODY} bytes")
        raw = self.rfile.read(length) if 0 < length <= MAX_BODY else b""
        if refused:
            self.close_connection = True
            return self._send(*refused)
        try:
            body = json.loads(raw) if raw else None
            parts = urlsplit(self.path)
            status, payload = self.api.route(method, parts.path, parse_qs(parts.query), body)
        except (ValueError, TypeError) as exc:
            status, payload = 400, _error("bad_request", str(exc))
        except Exception as exc:  # the tray gets an answer, the agent keeps running
            log.exception("local api: %s %s failed", method, self.path)
            status, payload = 500, _error("internal_error", f"{exc.__class__.__name__}: {exc}")
        self._send(status, payload)

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self._handle("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._handle("POST")
