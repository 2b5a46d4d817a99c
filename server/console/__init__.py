"""The web console: server-rendered pages (Jinja2), thin over `server.services`.

Sessions are server-side (cookie `heedful_session`: HttpOnly, SameSite=Lax, Secure behind TLS).
Every form carries a CSRF token: the login form a double-submit cookie value, all other forms the
session's own token; a missing or wrong token is refused with 403.
"""

from __future__ import annotations

import hmac
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from server.api.deps import CSRF_COOKIE, SESSION_COOKIE, client_ip, context, secure_cookies
from server.services import console_auth, fleet, roles, visibility
from server.services.console_auth import ConsoleIdentity
from server.services.errors import Conflict, NotFound, RateLimited
from server.services.secrets import new_secret
from server.storage import audit as audit_store

HERE = Path(__file__).resolve().parent
LOGIN_CSRF_COOKIE = "heedful_login_csrf"
templates = Jinja2Templates(directory=str(HERE / "templates"))
router = APIRouter(prefix="/console", include_in_schema=False)
SECURITY_HEADERS = {"X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff",
                    "Referrer-Policy": "same-origin", "Cache-Control": "no-store",
                    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'"}


def _page(request: Request, name: str, status: int = 200, **values: Any) -> HTMLResponse:
    values.setdefault("user", None)
    values.setdefault("csrf_token", values["user"].csrf_token if values["user"] else None)
    response = templates.TemplateResponse(request, name, values, status_code=status)
    response.headers.update(SECURITY_HEADERS)
    return response


def _error(request: Request, status: int, title: str, detail: str,
           user: ConsoleIdentity | None = None) -> HTMLResponse:
    return _page(request, "error.html", status, title=title, detail=detail, user=user)


def _identity(request: Request) -> ConsoleIdentity | None:
    ctx = context(request)
    with ctx.db.transaction() as session:
        return console_auth.identify(session, request.cookies.get(SESSION_COOKIE), ctx.now())


def _csrf_ok(identity: ConsoleIdentity, token: str) -> bool:
    return console_auth.csrf_ok(identity, token)


@router.get("/static/console.css")
def stylesheet() -> FileResponse:
    return FileResponse(HERE / "static" / "console.css", media_type="text/css")


@router.get("/login")
def login_form(request: Request) -> Response:
    token = new_secret()
    response = _page(request, "login.html", login_csrf=token)
    response.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict",
                        secure=secure_cookies(request), path="/console/login")
    return response


@router.post("/login")
def login(request: Request, email: str = Form(""), password: str = Form(""),
          csrf_token: str = Form("")) -> Response:
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not csrf_token or not hmac.compare_digest(cookie.encode(), csrf_token.encode()):
        return _error(request, 403, "Form expired", "The login form was missing its security "
                      "token or it did not match. Reload the page and try again.")
    ctx = context(request)
    try:
        with ctx.db.transaction() as session:
            new = console_auth.login(session, email=email, password=password,
                                     ip=client_ip(request) or "unknown",
                                     policy=ctx.login_policy, now=ctx.now())
    except RateLimited as exc:
        limited = _page(request, "login.html", 429, error=exc.message, email=email,
                        login_csrf=csrf_token)
        limited.headers["Retry-After"] = str(exc.retry_after)
        return limited
    if new is None:
        return _page(request, "login.html", 401, error="Wrong email or password.",
                     email=email, login_csrf=csrf_token)
    response = RedirectResponse("/console/", status_code=303)
    secure = secure_cookies(request)
    max_age = ctx.login_policy.session_seconds
    response.set_cookie(SESSION_COOKIE, new.token, max_age=max_age, httponly=True,
                        samesite="lax", secure=secure, path="/")
    response.set_cookie(CSRF_COOKIE, new.csrf_token, max_age=max_age, httponly=False,
                        samesite="lax", secure=secure, path="/")
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/console/login")
    return response


@router.post("/logout")
def logout(request: Request, csrf_token: str = Form("")) -> Response:
    identity = _identity(request)
    if identity is None:
        return RedirectResponse("/console/login", status_code=303)
    if not _csrf_ok(identity, csrf_token):
        return _error(request, 403, "Form expired", "Missing or wrong security token.", identity)
    ctx = context(request)
    with ctx.db.transaction() as session:
        console_auth.logout(session, identity, ip=client_ip(request), now=ctx.now())
    response = RedirectResponse("/console/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.delete_cookie(CSRF_COOKIE, path="/")
    return response


@router.get("/")
def home(request: Request) -> Response:
    """The landing page for the user's role, with real data."""
    identity = _identity(request)
    if identity is None:
        return RedirectResponse("/console/login", status_code=303)
    with context(request).db.transaction() as session:
        if identity.role == "security_admin":
            return _page(request, "devices.html", user=identity,
                         devices=fleet.list_devices(session),
                         can_revoke=roles.allowed(identity.role, "devices.revoke"))
        if identity.role == "auditor":
            entries = [{"at": e.at.strftime("%Y-%m-%d %H:%M:%S UTC"), "actor": e.actor,
                        "action": e.action, "target": e.target, "source_ip": e.source_ip}
                       for e in audit_store.entries(session, limit=200)]
            return _page(request, "audit.html", user=identity, entries=entries)
        return _page(request, "employees.html", user=identity,
                     employees=fleet.list_employees(
                         session, limit=500, only=visibility.employee_filter(identity.role)))


@router.post("/devices/{device_id}/revoke")
def revoke_device(device_id: str, request: Request, csrf_token: str = Form("")) -> Response:
    identity = _identity(request)
    if identity is None:
        return RedirectResponse("/console/login", status_code=303)
    if not _csrf_ok(identity, csrf_token):
        return _error(request, 403, "Form expired", "Missing or wrong security token.", identity)
    if not roles.allowed(identity.role, "devices.revoke"):
        return _error(request, 403, "Not allowed", "Your role may not revoke devices.", identity)
    ctx = context(request)
    actor = console_auth.actor_for(identity, client_ip(request))
    try:
        with ctx.db.transaction() as session:
            fleet.revoke_device(session, device_id, actor=actor, now=ctx.now())
    except (NotFound, Conflict) as exc:
        return _error(request, 404 if isinstance(exc, NotFound) else 409, "Cannot revoke",
                      exc.message, identity)
    return RedirectResponse("/console/", status_code=303)
