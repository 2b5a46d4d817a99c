"""One pure-ASGI middleware for every request: request id, body-size limit, metrics and the
JSON access log. Pure ASGI (not BaseHTTPMiddleware) because it runs on the check-in hot path.

The body limit is enforced twice: a declared Content-Length over the limit is refused before
anything is read, and a chunked/undeclared body is counted as it streams in and refused the
moment it passes the limit — the server never buffers more than the limit.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from typing import Any

from server.api.errors import BodyTooLarge
from server.metrics import Registry

Scope = dict[str, Any]
Message = dict[str, Any]
access_log = logging.getLogger("heedful.access")
_REQUEST_ID = re.compile(r"^[\x21-\x7e]{1,128}$")


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value.decode("latin-1")
    return None


class RequestMiddleware:
    """Wraps the app; see the module docstring."""

    def __init__(self, app: Any, *, max_body_bytes: int, metrics: Registry,
                 log_requests: bool, path_limits: dict[str, int] | None = None) -> None:
        self.app, self.limit, self.metrics = app, max_body_bytes, metrics
        self.log_requests = log_requests
        self.path_limits = path_limits or {}  # path prefix -> its own limit (sign-in uploads)

    def _limit_for(self, path: str) -> int:
        return next((limit for prefix, limit in self.path_limits.items()
                     if path.startswith(prefix)), self.limit)

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        incoming = _header(scope, b"x-request-id")
        rid = incoming if incoming and _REQUEST_ID.match(incoming) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = rid
        status = {"code": 500, "sent": False}
        header = (b"x-request-id", rid.encode("ascii"))

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"], status["sent"] = message["status"], True
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        limit = self._limit_for(scope.get("path", ""))
        try:
            declared = _header(scope, b"content-length")
            if declared and declared.isdigit() and int(declared) > limit:
                await self._too_large(send_with_id, rid, limit)
            else:
                await self.app(scope, self._limited(receive, limit), send_with_id)
        except BodyTooLarge:
            if status["sent"]:
                raise
            await self._too_large(send_with_id, rid, limit)
        except Exception:
            # Reached only for errors no handler took; answer JSON (with the id) and log once.
            access_log.exception("unhandled error", extra={"request_id": rid})
            if status["sent"]:
                raise
            await self._send_json(send_with_id, 500, {
                "error": "internal_error", "request_id": rid,
                "message": f"Unexpected server error. Quote request id {rid}."})
        finally:
            self._observe(scope, status["code"], time.perf_counter() - started, rid)

    def _limited(self, receive: Any, limit: int) -> Any:
        seen = 0

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge(limit)
            return message
        return limited_receive

    async def _too_large(self, send: Any, rid: str, limit: int) -> None:
        await self._send_json(send, 413, {
            "error": "body_too_large", "request_id": rid,
            "message": f"Request body is larger than the limit of {limit} bytes."})

    @staticmethod
    async def _send_json(send: Any, status: int, payload: dict[str, Any]) -> None:
        body = json.dumps(payload).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})

    def _observe(self, scope: Scope, status: int, seconds: float, rid: str) -> None:
        route = scope.get("route")
        template = getattr(route, "path_format", None) or getattr(route, "path", None)
        label = template or "unmatched"
        method = scope.get("method", "")
        self.metrics.requests.inc(label, method, str(status))
        self.metrics.latency.observe(seconds, label, method)
        if self.log_requests:
            client = scope.get("client")
            access_log.info("request", extra={
                "request_id": rid, "method": method, "route": label, "path": scope.get("path"),
                "status": status, "duration_ms": round(seconds * 1000, 2),
                "peer": client[0] if client else None})
