"""Client of the agent's local API — the only agent module the tray imports.

Stdlib only (http.client), so the tray stays light. It finds the running agent through
`localapi.json` and the secret through `localapi.secret` in the agent's state folder.

    client = LocalClient()                 # the default state folder, or LocalClient(home)
    client.status()["enrolment"]["state"]
    for n in client.notifications(after=0, wait=25): ...   # long poll
    client.ack(n["id"], response="was_me")
    client.choose_nudge(n["id"], "why")["explanation"]     # a notification of kind "nudge"
    client.seal_now()["sealed_files"]; client.seal_status()["pending_files"]
"""

from __future__ import annotations

import http.client
import json
import socket
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from agent.paths import LOCALAPI_FILE, SECRET_FILE, resolve_home


class LocalApiError(Exception):
    """The agent answered with an error: `status` (HTTP), `code` and `message`."""

    def __init__(self, status: int, code: str, message: str) -> None:
        self.status, self.code, self.message = status, code, message
        super().__init__(f"agent said {status} {code}: {message}")


class AgentNotRunning(LocalApiError):
    """No agent is serving the local API for this state folder."""

    def __init__(self, message: str) -> None:
        super().__init__(0, "agent_not_running", message)


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self._path)


class LocalClient:
    """Talks to the running agent of one state folder."""

    def __init__(self, home: str | Path | None = None, *, timeout: float = 10.0) -> None:
        self.home = resolve_home(home)
        self.timeout = timeout

    def _connection(self, timeout: float) -> http.client.HTTPConnection:
        try:
            where = json.loads((self.home / LOCALAPI_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise AgentNotRunning(f"no running agent for {self.home} ({exc})") from exc
        if where.get("transport") == "unix":
            return _UnixConnection(where["path"], timeout)
        return http.client.HTTPConnection(where["host"], int(where["port"]), timeout=timeout)

    def _secret(self) -> str:
        try:
            return (self.home / SECRET_FILE).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise AgentNotRunning(f"cannot read the local API secret: {exc}") from exc

    def call(self, method: str, path: str, body: Any = None, *,
             timeout: float | None = None) -> Any:
        """One request; returns the JSON reply or raises LocalApiError/AgentNotRunning."""
        conn = self._connection(timeout or self.timeout)
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Authorization": f"Bearer {self._secret()}", "Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        try:
            conn.request(method, path, body=data, headers=headers)
            reply = conn.getresponse()
            raw = reply.read()
        except (ConnectionError, TimeoutError, OSError) as exc:
            raise AgentNotRunning(f"the agent does not answer at {self.home}: {exc}") from exc
        finally:
            conn.close()
        payload = json.loads(raw or b"null")
        if reply.status >= 400:
            payload = payload if isinstance(payload, dict) else {}
            raise LocalApiError(reply.status, str(payload.get("error", "error")),
                                str(payload.get("message", "")))
        return payload

    # -- endpoints --------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        """The agent's live status (keys in docs/agent.md)."""
        return self.call("GET", "/v1/status")

    def notifications(self, *, after: int = 0, wait: float = 0) -> list[dict[str, Any]]:
        """Unacknowledged notifications after sequence `after`; waits up to `wait` s."""
        query = urlencode({"after": after, "wait": wait})
        reply = self.call("GET", f"/v1/notifications?{query}", timeout=wait + self.timeout)
        return reply["notifications"]

    def ack(self, notification_id: str, response: str | None = None) -> dict[str, Any]:
        """The employee saw (or answered) a notification."""
        return self.call("POST", f"/v1/notifications/{notification_id}/ack",
                         {"response": response})

    def choose_nudge(self, nudge_id: str, choice: str, *,
                     send_report: bool = False) -> dict[str, Any]:
        """The employee's choice on a nudge (a local notification of kind `nudge`):
        `got_it`, `why` (the reply carries `explanation`), `miscategorised` (a report goes to
        the server only with `send_report=True`) or `dismiss`."""
        return self.call("POST", f"/v1/nudges/{nudge_id}/choice",
                         {"choice": choice, "send_report": send_report})

    def ledger(self, *, limit: int = 100, before: int | None = None) -> list[dict[str, Any]]:
        """What the agent sent to the server, newest first."""
        query = {"limit": limit} | ({"before": before} if before else {})
        return self.call("GET", f"/v1/ledger?{urlencode(query)}")["entries"]

    def checkin_now(self) -> dict[str, Any]:
        """Check in at once and return the outcome."""
        return self.call("POST", "/v1/checkin", {}, timeout=40.0)

    def seal_now(self, *, timeout: float = 960.0) -> dict[str, Any]:
        """Seal every pending file now and wait for the pass (the `seal_finished` payload:
        `sealed_files`, `busy_files`, `failed_files`, `remaining_files`, ...). It can take
        minutes for many GB: call it off the UI thread."""
        return self.call("POST", "/v1/seal/now", {}, timeout=timeout)

    def unseal(self, *, timeout: float = 960.0) -> dict[str, Any]:
        """Unseal what stayed sealed (the policy kept the files sealed on return, or they
        were sealed on request); the `unseal_finished` payload (`unsealed_files`, ...)."""
        return self.call("POST", "/v1/seal/unseal", {}, timeout=timeout)

    def seal_status(self) -> dict[str, Any]:
        """Pending, busy and sealed counts, last seal, key store and folders."""
        return self.call("GET", "/v1/seal/status")

    def my_logins(self, cursor: str | None = None, limit: int | None = None) -> Any:
        """The employee's sign-ins, newest first, from the server; pass the reply's
        `next_cursor` back as `cursor` for the next page."""
        paging = {key: value for key, value in (("cursor", cursor), ("limit", limit)) if value}
        return self.call("GET", "/v1/me/logins" + ("?" + urlencode(paging) if paging else ""))

    def my_cases(self) -> Any:
        """The employee's help-desk cases, from the server."""
        return self.call("GET", "/v1/me/cases")

    def answer_login(self, login_id: str, answer: str) -> Any:
        """Answer "was_me" / "not_me" / "not_sure" about one sign-in."""
        return self.call("POST", f"/v1/me/logins/{login_id}/answer", {"answer": answer})
