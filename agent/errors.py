"""The agent's own exceptions. Foreign ones (requests, ssl, json) are translated into these at
the boundary that meets them (`uplink.py`) with `raise ... from exc`."""

from __future__ import annotations


class AgentError(Exception):
    """Base class of every error the agent raises on purpose."""


class NotEnrolled(AgentError):
    """The agent has no usable device credential (never enrolled, or needs re-enrolment)."""


class TransportError(AgentError):
    """The server could not be reached: DNS, connection refused, timeout, broken connection."""


class TLSError(TransportError):
    """The server's certificate was not trusted (wrong CA file, expired, wrong host name)."""


class ServerError(AgentError):
    """The server answered with an error (protocol error object, or an unusable reply).

    `status` is the HTTP status, `code` the protocol's stable `error` string (or
    `bad_reply`), `retry_after` the server's Retry-After in seconds when it sent one.
    """

    def __init__(self, status: int, code: str, message: str, *, request_id: str = "",
                 fields: list | None = None, retry_after: float | None = None) -> None:
        self.status, self.code, self.message = status, code, message
        self.request_id, self.fields, self.retry_after = request_id, fields or [], retry_after
        super().__init__(f"server said {status} {code}: {message}"
                         + (f" (request {request_id})" if request_id else ""))

    @property
    def retryable(self) -> bool:
        """Worth sending the same request again later (server fault or overload)."""
        return self.status >= 500 or self.status == 429


class DeviceInvalid(ServerError):
    """401 `device_invalid`: the credential is unknown or revoked; enrol again."""


class EnrollmentRefused(ServerError):
    """The enrolment token was refused (`token_invalid`, `token_used`, `token_expired`,
    `token_revoked`)."""
