"""Request-level helpers shared by the API and the console: the app context, the client's
address, and who is calling the admin API (console session + CSRF header, or bearer token)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from fastapi import Depends, Request

from server.context import AppContext
from server.services import api_tokens, console_auth, roles
from server.services.audit import Actor
from server.services.errors import ServiceError, Unauthenticated

SESSION_COOKIE = "heedful_session"
CSRF_COOKIE = "heedful_csrf"
CSRF_HEADER = "x-csrf-token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class CsrfFailed(ServiceError):
    code = "csrf_failed"


def context(request: Request) -> AppContext:
    """The app's shared context."""
    return request.app.state.ctx


def client_ip(request: Request) -> str | None:
    """The client's address, honouring trusted proxies' X-Forwarded-For."""
    ctx: AppContext = request.app.state.ctx
    peer = request.client.host if request.client else None
    return ctx.ip_resolver.resolve(peer, request.headers.get("x-forwarded-for"))


def is_https(request: Request) -> bool:
    """True if the client reached us over TLS (directly or via a trusted proxy)."""
    if request.url.scheme == "https":
        return True
    ctx: AppContext = request.app.state.ctx
    peer = request.client.host if request.client else None
    proto = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    return proto == "https" and ctx.ip_resolver.trusts(peer)


def secure_cookies(request: Request) -> bool:
    """Whether cookies get the Secure flag (setting cookie_secure; `auto` follows TLS)."""
    ctx: AppContext = request.app.state.ctx
    mode = ctx.settings.cookie_secure
    if mode != "auto":
        return mode == "true"
    return ctx.settings.public_url.lower().startswith("https://") or is_https(request)


@dataclass(frozen=True)
class Principal:
    """An authenticated admin caller: who (for the audit log) and with which role."""

    actor: Actor
    role: str | None
    via: str  # "session" or "token"


def _bearer(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def admin_principal(request: Request) -> Principal:
    """Authenticate an admin API request, enforcing CSRF for session-authenticated writes."""
    ctx = context(request)
    ip = client_ip(request)
    unsafe = request.method in UNSAFE_METHODS
    token = _bearer(request)
    with ctx.db.transaction() as session:
        if token is not None:
            scope = "admin:write" if unsafe else "admin:read"
            found = api_tokens.authenticate(session, token, scope=scope, now=ctx.now())
            return Principal(Actor(found.actor_name, found.role, ip), found.role, "token")
        identity = console_auth.identify(session, request.cookies.get(SESSION_COOKIE), ctx.now())
    if identity is None:
        raise Unauthenticated("Log in to the console or send an API token "
                              "(Authorization: Bearer ...).")
    if unsafe and not console_auth.csrf_ok(identity, request.headers.get(CSRF_HEADER)):
        raise CsrfFailed("Missing or wrong X-CSRF-Token header for this session.")
    return Principal(Actor(identity.actor_name, identity.role, ip), identity.role, "session")


def require(permission: str) -> Callable[..., Principal]:
    """A dependency: the caller must hold `permission` (server.services.roles.PERMISSIONS)."""

    def dependency(principal: Principal = Depends(admin_principal)) -> Principal:
        roles.require(principal.role, permission)
        return principal

    return dependency
