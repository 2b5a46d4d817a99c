"""The web console: login with CSRF, cookies, rate limiting (stored in the database, so it holds
across replicas), landing pages per role with real data, revoke form, logout."""

from __future__ import annotations

import re

import pytest

from server.storage import cases as case_store
from server.storage import console as console_store
from server.storage import employees as employee_store

PASSWORD = "correct horse battery staple"


def _login_form(client) -> str:
    page = client.get("/console/login")
    assert page.status_code == 200
    return re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)


def _login(client, email, password=PASSWORD, csrf=None):
    token = _login_form(client) if csrf is None else csrf
    return client.post("/console/login", data={"email": email, "password": password,
                                               "csrf_token": token}, follow_redirects=False)


def test_login_sets_session_cookies_and_shows_devices(harness):
    device = harness.enroll(name="LAPTOP-E1042")
    harness.checkin(device)
    email = harness.create_user("security_admin", "admin@corp.example")
    client = harness.new_client()
    reply = _login(client, email)
    assert reply.status_code == 303 and reply.headers["location"] == "/console/"
    cookies = reply.headers.get_list("set-cookie")
    session = next(c for c in cookies if c.startswith("heedful_session="))
    assert "HttpOnly" in session and "SameSite=lax" in session and "Secure" not in session
    csrf_cookie = next(c for c in cookies if c.startswith("heedful_csrf="))
    assert "HttpOnly" not in csrf_cookie
    page = client.get("/console/")
    assert page.status_code == 200
    assert "LAPTOP-E1042" in page.text and "e1042@corp.example" in page.text
    assert "admin@corp.example" in page.text
    assert page.headers["x-frame-options"] == "DENY"
    meta = re.search(r'<meta name="csrf-token" content="([^"]+)">', page.text).group(1)
    assert meta == client.cookies["heedful_csrf"]


def test_cookies_are_secure_behind_https(make_harness):
    h = make_harness(public_url="https://heedful.corp.example")
    email = h.create_user("auditor")
    client = h.new_client(base_url="https://testserver")  # Secure cookies need https
    reply = _login(client, email)
    assert reply.status_code == 303
    session = next(c for c in reply.headers.get_list("set-cookie")
                   if c.startswith("heedful_session="))
    assert "Secure" in session


def test_forwarded_https_from_trusted_proxy_makes_cookies_secure(harness):
    email = harness.create_user("auditor")
    client = harness.new_client()
    token = _login_form(client)
    reply = client.post("/console/login", headers={"X-Forwarded-Proto": "https"},
                        data={"email": email, "password": PASSWORD, "csrf_token": token},
                        follow_redirects=False)
    assert "Secure" in next(c for c in reply.headers.get_list("set-cookie")
                            if c.startswith("heedful_session="))


@pytest.mark.parametrize("csrf", ["", "forged-token"])
def test_login_without_matching_csrf_token_is_403(harness, csrf):
    email = harness.create_user("security_admin")
    client = harness.new_client()
    _login_form(client)  # sets the cookie; the form value is what is missing or wrong
    reply = _login(client, email, csrf=csrf)
    assert reply.status_code == 403
    assert "heedful_session" not in client.cookies


def test_login_csrf_cookie_missing_is_403(harness):
    email = harness.create_user("security_admin")
    token = _login_form(harness.new_client())
    reply = _login(harness.new_client(), email, csrf=token)  # a client without the cookie
    assert reply.status_code == 403


def test_wrong_password_then_rate_limit_per_account_and_address(make_harness):
    first = make_harness(login_max_failures=3, login_window="10m")
    second = make_harness(login_max_failures=3, login_window="10m")  # another replica
    email = first.create_user("security_admin")
    client = first.new_client()
    for _ in range(3):
        wrong = _login(client, email, "wrong password!")
        assert wrong.status_code == 401 and "Wrong email or password" in wrong.text
    other_replica = second.new_client()
    limited = _login(other_replica, email)  # right password, but limited
    assert limited.status_code == 429 and limited.headers["retry-after"] == "600"
    assert "Too many failed logins" in limited.text
    assert _login(second.new_client(peer="10.0.0.9"), email).status_code == 303  # other IP
    first.clock.advance(minutes=10, seconds=1)
    assert _login(client, email).status_code == 303
    with first.ctx.db.transaction() as s:  # success clears the counter
        assert console_store.failed_logins_since(s, email=email, ip="127.0.0.1",
                                                 since=first.clock().replace(year=2000)) == 0


def test_unknown_account_is_401_and_counted(harness):
    client = harness.new_client()
    assert _login(client, "nobody@corp.example").status_code == 401
    with harness.ctx.db.transaction() as s:
        assert console_store.failed_logins_since(
            s, email="nobody@corp.example", ip="127.0.0.1",
            since=harness.clock().replace(year=2000)) == 1


def test_landing_pages_per_role_show_real_data(harness):
    harness.enroll(name="LAPTOP-X")
    helpdesk, _ = harness.login("helpdesk")
    page = helpdesk.get("/console/").text
    assert "Employees" in page and "No employee has a case yet" in page
    assert "e1042@corp.example" not in page  # the help desk sees only employees with a case
    with harness.ctx.db.transaction() as s:
        employee = employee_store.get_by_email(s, "e1042@corp.example")
        case_store.create_case(s, employee_id=employee.id, opened_by="test", now=harness.clock())
    page = helpdesk.get("/console/").text
    assert "e1042@corp.example" in page and "LAPTOP-X" not in page
    auditor, _ = harness.login("auditor")
    page = auditor.get("/console/").text
    assert "Audit log" in page and "device.enroll" in page and "console.login" in page


def test_revoke_form_needs_csrf_and_role(harness):
    device = harness.enroll()
    admin, csrf = harness.login("security_admin")
    path = f"/console/devices/{device['device_id']}/revoke"
    assert admin.post(path, data={"csrf_token": "nope"}, follow_redirects=False).status_code \
        == 403
    assert admin.post(path, data={}, follow_redirects=False).status_code == 403
    assert harness.checkin(device).status_code == 200
    helpdesk, helpdesk_csrf = harness.login("helpdesk")
    assert helpdesk.post(path, data={"csrf_token": helpdesk_csrf},
                         follow_redirects=False).status_code == 403
    done = admin.post(path, data={"csrf_token": csrf}, follow_redirects=False)
    assert done.status_code == 303
    assert harness.checkin(device).json()["error"] == "device_invalid"
    assert "revoked 2024-05-02T09:00:00Z" in admin.get("/console/").text


def test_logout_needs_csrf_and_ends_the_session(harness):
    admin, csrf = harness.login("security_admin")
    assert admin.post("/console/logout", data={"csrf_token": "x"},
                      follow_redirects=False).status_code == 403
    assert admin.get("/console/", follow_redirects=False).status_code == 200
    out = admin.post("/console/logout", data={"csrf_token": csrf}, follow_redirects=False)
    assert out.status_code == 303
    assert admin.get("/console/", follow_redirects=False).headers["location"] == "/console/login"


def test_sessions_expire(harness):
    admin, _ = harness.login("security_admin")
    harness.clock.advance(hours=12, seconds=1)
    reply = admin.get("/console/", follow_redirects=False)
    assert reply.status_code == 303 and reply.headers["location"] == "/console/login"


def test_root_redirects_to_console(harness):
    reply = harness.client.get("/", follow_redirects=False)
    assert reply.status_code == 303 and reply.headers["location"] == "/console/"
