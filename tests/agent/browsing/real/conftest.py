"""Real browsers (Debian's chromium and firefox-esr, headless) against a local web server.

Every name resolves to one HTTP server on 127.0.0.1: Chromium through
`--host-resolver-rules="MAP * 127.0.0.1:PORT"`, Firefox through proxy preferences in `user.js`
(HTTPS `CONNECT`s are refused, so HTTPS upgrades fail and fall back to http, as they would on a
site without TLS). Nothing leaves the machine. The browsing session, identical for both:

    www.news.example/          page with an ad iframe; one second later script navigates to
    short.example/r            302 -> www.casino.com/landing
    www.casino.com/landing     meta refresh after one second to
    www.poker.example/final    plain page

Each browser runs once per test session (about 15 s for Chromium, which commits its history
every 10 s, and 5 s for Firefox); the fixtures keep a snapshot taken while it was running and
the profile folder after it stopped.
"""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from agent.browsing.reader import read_database
from agent.browsing.snapshot import SnapshotError
from agent.browsing.visits import Visit

START_URL = "http://www.news.example/"
PAGES = {
    ("www.news.example", "/"): "<title>news</title>news"
    '<iframe src="http://ads.example.net/ad"></iframe>'
    '<script>setTimeout(function(){location.href="http://short.example/r"},1000)</script>',
    ("www.casino.com", "/landing"): '<title>casino</title>'
    '<meta http-equiv="refresh" content="1;url=http://www.poker.example/final">casino',
}
REDIRECTS = {("short.example", "/r"): "http://www.casino.com/landing"}
LAST_PAGE = ("www.poker.example", "/final")


class SiteHandler(BaseHTTPRequestHandler):
    """Serves PAGES for any host, directly or as a proxy; refuses CONNECT (no TLS here)."""

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        host, path = self.headers.get("Host", "").split(":")[0], self.path
        if path.startswith("http://"):  # proxy form, from Firefox
            parts = urlsplit(path)
            host, path = parts.hostname or "", parts.path or "/"
        self.server.served.append((host, path))  # type: ignore[attr-defined]
        if (host, path) in REDIRECTS:
            self.send_response(302)
            self.send_header("Location", REDIRECTS[(host, path)])
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = ("<html><head>" + PAGES.get((host, path), "<title>x</title>plain")
                + "</head></html>").encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_CONNECT(self) -> None:  # noqa: N802
        self.send_error(502, "no TLS on this test server")

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="session")
def site_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), SiteHandler)
    server.served = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@dataclass
class BrowserRun:
    """What one real browser session left behind."""

    profile: Path
    database: Path
    family: str
    running: list[Visit] = field(default_factory=list)  # read while the browser ran
    running_main_only_rows: int = -1  # visits in the main file alone at that moment
    stopped: list[Visit] = field(default_factory=list)


def _require(binary: str) -> str:
    path = shutil.which(binary)
    if path is None:
        pytest.fail(f"{binary} is not installed; run `bash tools/system-deps.sh` (make test "
                    "does) to install Debian's chromium and firefox-esr")
    return path


def _wait_until(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.5)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")


def _read_while_running(run: BrowserRun, proc: subprocess.Popen, last_host: str) -> None:
    def has_last_visit():
        assert proc.poll() is None, "the browser exited early"
        try:
            visits = read_database(run.database, run.family, settle=0.0)
        except SnapshotError:
            return None  # not created yet, or mid-write: try again
        return visits if any(v.host == last_host for v in visits) else None

    run.running = _wait_until(has_last_visit, 30, f"{last_host} in {run.database.name}")
    run.running_main_only_rows = _main_only_rows(run)


def _main_only_rows(run: BrowserRun) -> int:
    import sqlite3
    import tempfile

    table = "visits" if run.family == "chromium" else "moz_historyvisits"
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "main-only.sqlite"
        shutil.copyfile(run.database, copy)  # deliberately without its WAL
        with sqlite3.connect(copy) as conn:
            return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def _run(argv: list[str], run: BrowserRun, server, home: Path) -> BrowserRun:
    env = {"HOME": str(home), "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        _wait_until(lambda: LAST_PAGE in server.served, 30, "the browser to reach the last page")
        _read_while_running(run, proc, LAST_PAGE[0])
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
    run.stopped = read_database(run.database, run.family, settle=0.0)
    return run


@pytest.fixture(scope="session")
def chromium_run(site_server, tmp_path_factory) -> BrowserRun:
    binary = _require("chromium")
    base = tmp_path_factory.mktemp("chromium-run")
    site_server.served.clear()
    argv = [binary, "--headless", "--no-sandbox", "--disable-gpu",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--no-first-run", "--no-default-browser-check", f"--user-data-dir={base / 'ud'}",
            f"--host-resolver-rules=MAP * 127.0.0.1:{site_server.server_address[1]}",
            START_URL]
    run = BrowserRun(base / "ud" / "Default", base / "ud" / "Default" / "History", "chromium")
    return _run(argv, run, site_server, base)


USER_JS = """
user_pref("network.proxy.type", 1);
user_pref("network.proxy.http", "127.0.0.1");
user_pref("network.proxy.http_port", {port});
user_pref("network.proxy.ssl", "127.0.0.1");
user_pref("network.proxy.ssl_port", {port});
user_pref("network.proxy.no_proxies_on", "");
user_pref("browser.shell.checkDefaultBrowser", false);
user_pref("datareporting.policy.dataSubmissionEnabled", false);
user_pref("toolkit.telemetry.reportingpolicy.firstRun", false);
user_pref("app.update.auto", false);
user_pref("browser.startup.homepage_override.mstone", "ignore");
"""


@pytest.fixture(scope="session")
def firefox_run(site_server, tmp_path_factory) -> BrowserRun:
    binary = _require("firefox-esr")
    base = tmp_path_factory.mktemp("firefox-run")
    profile = base / "profile"
    profile.mkdir()
    (profile / "user.js").write_text(USER_JS.format(port=site_server.server_address[1]))
    site_server.served.clear()
    argv = [binary, "-headless", "-no-remote", "-profile", str(profile), START_URL]
    run = BrowserRun(profile, profile / "places.sqlite", "firefox")
    return _run(argv, run, site_server, base)
