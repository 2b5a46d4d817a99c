"""A real browser (Debian chromium via Playwright) logs in to the console of a real server."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from server.services import console_auth, enrollment, fleet
from server.services.audit import Actor
from server.services.clock import utc_now
from server.storage.db import Database

CHROMIUM = Path("/usr/bin/chromium")
PASSWORD = "correct horse battery staple"


def _seed(url: str) -> None:
    db = Database(url)
    try:
        with db.transaction() as s:
            console_auth.create_user(s, email="admin@corp.example", password=PASSWORD,
                                     role="security_admin", actor=Actor("test"), now=utc_now())
            fleet.add_employee(s, email="e1042@corp.example", home_country="GB", aliases=(),
                               actor=Actor("test"), now=utc_now())
    finally:
        db.dispose()


@pytest.mark.slow
def test_browser_logs_in_and_sees_devices(live_server, migrated_url):
    if not CHROMIUM.exists():
        pytest.fail("chromium missing: run `bash tools/system-deps.sh` (as root)")
    import httpx
    from playwright.sync_api import sync_playwright

    _seed(migrated_url)
    db = Database(migrated_url)
    with db.transaction() as s:
        token = enrollment.issue_token(s, email="e1042@corp.example", lifetime_seconds=600,
                                       actor=Actor("test"), now=utc_now()).token
    db.dispose()
    enrolled = httpx.post(live_server.url + "/api/v1/enroll", json={
        "token": token, "name": "BROWSER-LAPTOP", "os": "macos", "agent_version": "0.1.0"})
    assert enrolled.status_code == 201

    os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])
        try:
            page = browser.new_page()
            page.goto(live_server.url + "/")
            assert page.url.endswith("/console/login")
            page.fill("input[name=email]", "admin@corp.example")
            page.fill("input[name=password]", "wrong password")
            page.click("button[type=submit]")
            assert "Wrong email or password" in page.text_content("p.error")
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_selector("table#devices")
            row = page.text_content("table#devices tbody tr")
            assert "BROWSER-LAPTOP" in row and "e1042@corp.example" in row
            cookies = {c["name"]: c for c in page.context.cookies()}
            assert cookies["heedful_session"]["httpOnly"] is True
            assert cookies["heedful_session"]["sameSite"] == "Lax"
            page.click("text=Log out")
            page.wait_for_selector("form.login")
        finally:
            browser.close()
