"""Errors the services raise on purpose. Each has a stable `code` (the API's `error` field)
and a human message; `server.api.errors` maps codes to HTTP statuses."""

from __future__ import annotations


class ServiceError(Exception):
    """Base of deliberate service errors."""

    code = "error"

    def __init__(self, message: str, *, fields: list[dict[str, str]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields


class NotFound(ServiceError):
    code = "not_found"


class Conflict(ServiceError):
    code = "conflict"


class InvalidInput(ServiceError):
    code = "validation_failed"


class TokenInvalid(ServiceError):
    code = "token_invalid"


class TokenUsed(ServiceError):
    code = "token_used"


class TokenExpired(ServiceError):
    code = "token_expired"


class TokenRevoked(ServiceError):
    code = "token_revoked"


class DeviceInvalid(ServiceError):
    code = "device_invalid"


class RulesNotPublished(ServiceError):
    code = "rules_not_published"


class BundleInvalid(ServiceError):
    code = "bundle_invalid"


class Unauthenticated(ServiceError):
    code = "unauthenticated"


class Forbidden(ServiceError):
    code = "forbidden"


class RateLimited(ServiceError):
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after
