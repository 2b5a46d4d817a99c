"""The network seam: every byte between the agent and the server goes through `Uplink`.

`Uplink` owns the `requests.Session`: TLS verification (the system store, or the CA file given
at enrolment), timeouts, the device credential header, bounded retries with exponential
backoff and full jitter, and the translation of transport failures and protocol error objects
into the agent's own exceptions (`agent.errors`). Nothing outside this module imports
`requests`. Endpoints are described in docs/protocol.md.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests

from agent.errors import (
    AgentError,
    DeviceInvalid,
    EnrollmentRefused,
    ServerError,
    TLSError,
    TransportError,
)

API = "/api/v1"
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}
TOKEN_ERRORS = {"token_invalid", "token_used", "token_expired", "token_revoked"}


class Backoff:
    """Exponential backoff with full jitter: attempt n waits uniform(0, min(cap, base*2**n))."""

    def __init__(self, base: float = 5.0, cap: float = 900.0,
                 rng: Callable[[], float] = random.random) -> None:
        self.base, self.cap, self.rng = base, cap, rng

    def delay(self, attempt: int) -> float:
        """Delay before retry number `attempt` (0-based)."""
        return self.rng() * min(self.cap, self.base * 2 ** min(attempt, 30))


@dataclass(frozen=True)
class Reply:
    """A successful HTTP reply: status, headers (lower-case names) and raw body."""

    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """The body as JSON; an unusable body is a `ServerError` (`bad_reply`)."""
        try:
            return json.loads(self.body or b"null")
        except ValueError as exc:
            raise ServerError(self.status, "bad_reply", f"reply is not JSON: {exc}") from exc


def check_server_url(url: str) -> str:
    """The normalised base URL; plain HTTP is refused except to this machine (development)."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise AgentError(f"server URL {url!r} must look like https://heedful.example.com")
    if parts.scheme == "http" and parts.hostname not in LOOPBACK_HOSTS:
        raise AgentError(f"server URL {url!r} uses plain HTTP; only https:// is allowed "
                         "(http:// only to 127.0.0.1/localhost for development)")
    return url.strip().rstrip("/")


class Uplink:
    """HTTP client for one server. `credential` is (device_id, device_secret) or None."""

    def __init__(self, base_url: str, *, ca_file: str | None = None, timeout: float = 20.0,
                 credential: tuple[str, str] | None = None,
                 session: requests.Session | None = None, backoff: Backoff | None = None,
                 sleep: Callable[[float], None] = time.sleep, user_agent: str = "") -> None:
        self.base_url = check_server_url(base_url)
        self.timeout, self.credential, self.sleep = timeout, credential, sleep
        self.backoff = backoff or Backoff(base=0.5, cap=5.0)
        self.session = session or requests.Session()
        # Passed on every request: a session-level `verify` loses to REQUESTS_CA_BUNDLE.
        self.verify: str | bool = ca_file or True
        self.session.headers["User-Agent"] = user_agent or "heedful-agent"

    def close(self) -> None:
        """Close pooled connections."""
        self.session.close()

    def request(self, method: str, path: str, *, body: Any = None, auth: bool = True,
                headers: dict[str, str] | None = None, attempts: int = 1,
                ok: tuple[int, ...] = (200, 201, 304)) -> Reply:
        """One API call; retries up to `attempts` on transport errors and 5xx/429 only."""
        for attempt in range(attempts):
            try:
                return self._once(method, path, body, auth, headers or {}, ok)
            except (TransportError, ServerError) as exc:
                retryable = isinstance(exc, TransportError) or exc.retryable
                if not retryable or attempt == attempts - 1:
                    raise
                wait = getattr(exc, "retry_after", None) or self.backoff.delay(attempt)
                self.sleep(wait)
        raise AssertionError("unreachable")

    def _once(self, method: str, path: str, body: Any, auth: bool, headers: dict[str, str],
              ok: tuple[int, ...]) -> Reply:
        send = dict(headers)
        if auth:
            if not self.credential:
                raise DeviceInvalid(401, "device_invalid", "this agent has no credential")
            send["Authorization"] = "Device {}:{}".format(*self.credential)
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            send["Content-Type"] = "application/json"
        url = self.base_url + path
        try:
            raw = self.session.request(method, url, data=data, headers=send,
                                       timeout=self.timeout, verify=self.verify)
        except requests.exceptions.SSLError as exc:
            raise TLSError(f"TLS failure talking to {self.base_url}: {exc}") from exc
        except requests.exceptions.Timeout as exc:
            raise TransportError(f"{method} {url} timed out after {self.timeout}s") from exc
        except requests.exceptions.RequestException as exc:
            raise TransportError(f"cannot reach {self.base_url}: {exc}") from exc
        reply = Reply(raw.status_code, {k.lower(): v for k, v in raw.headers.items()},
                      raw.content)
        if raw.status_code not in ok:
            raise _error(reply)
        return reply

    # -- protocol calls ---------------------------------------------------------------------
    def enroll(self, body: dict[str, Any]) -> dict[str, Any]:
        """POST /enroll (no credential); retried only while no reply at all was received."""
        return self.request("POST", f"{API}/enroll", body=body, auth=False, attempts=3,
                            ok=(201, 200)).json()

    def checkin(self, body: dict[str, Any]) -> dict[str, Any]:
        """POST /checkin with state and events; the caller schedules retries."""
        return self.request("POST", f"{API}/checkin", body=body, ok=(200,)).json()

    def rules_current(self, etag: str | None) -> Reply:
        """GET /rules/current, conditional on `etag`; 200 with the envelope, or 304."""
        headers = {"If-None-Match": etag} if etag else {}
        return self.request("GET", f"{API}/rules/current", headers=headers)

    def ack(self, notification_id: str, response: str | None) -> dict[str, Any]:
        """POST /notifications/{id}/ack."""
        return self.request("POST", f"{API}/notifications/{notification_id}/ack",
                            body={"response": response}, ok=(200,)).json()

    def proxy(self, method: str, path: str, body: Any = None) -> Reply:
        """Forward a tray request to the server with the device credential; any HTTP status
        comes back as a Reply (only transport failures raise)."""
        return self.request(method, f"{API}{path}", body=body, ok=tuple(range(200, 600)))


def _error(reply: Reply) -> ServerError:
    """The protocol's error object (or whatever came back) as the right exception."""
    try:
        data = json.loads(reply.body or b"{}")
    except ValueError:
        data = {}
    if not isinstance(data, dict):
        data = {}
    code = str(data.get("error") or f"http_{reply.status}")
    message = str(data.get("message") or reply.body[:200].decode("utf-8", "replace"))
    retry_after = reply.headers.get("retry-after")
    cls = (DeviceInvalid if code == "device_invalid" else
           EnrollmentRefused if code in TOKEN_ERRORS else ServerError)
    return cls(reply.status, code, message, request_id=str(data.get("request_id", "")),
               fields=data.get("fields") if isinstance(data.get("fields"), list) else None,
               retry_after=float(retry_after) if retry_after and retry_after.isdigit()
               else None)
