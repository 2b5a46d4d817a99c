"""Okta and Graph pull connectors against a real HTTP server on 127.0.0.1 replaying recorded pages.

The recordings (recorded/*.json) script each exchange: the request path and query expected, and
the status, headers and body to answer. Waiting is injected, so rate-limit sleeps are recorded,
not slept.
"""

from __future__ import annotations

import json
import threading
from collections import defaultdict, deque
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from server.ingest import SignIn
from server.ingest.connectors import (
    ConnectorError,
    GraphSignInConnector,
    MemoryCursorStore,
    OktaLogConnector,
)

RECORDED = Path(__file__).parent / "recorded"
SINCE = datetime(2026, 11, 24, tzinfo=UTC)
CLOCK = 1795600000.0  # the fake "now" against the recorded X-Rate-Limit-Reset values


class ReplayServer:
    """Answers GETs from a recording, in order per path; logs every request it sees."""

    def __init__(self, recording: str) -> None:
        self.script: dict[str, deque] = defaultdict(deque)
        for exchange in json.loads((RECORDED / recording).read_text())["exchanges"]:
            self.script[exchange["path"]].append(exchange)
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def fail_next(self, path: str, status: int = 500) -> None:
        """Answer `status` to the next request for `path` (a crash mid-run)."""
        self.script[path].appendleft({"status": status, "headers": [], "body": {"oops": 1}})

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        replay = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                replay.requests.append((self.path, dict(self.headers)))
                queue = replay.script.get(self.path)
                if not queue:
                    self.send_error(404, f"no recorded answer for {self.path}")
                    return
                exchange = queue.popleft()
                body = json.dumps(exchange["body"]).replace("{base}", replay.base).encode()
                self.send_response(exchange["status"])
                for name, value in exchange["headers"]:
                    self.send_header(name, value.replace("{base}", replay.base))
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        return Handler

    def __enter__(self) -> ReplayServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


@pytest.fixture
def okta_server():
    with ReplayServer("okta-logs-session.json") as server:
        yield server


@pytest.fixture
def graph_server():
    with ReplayServer("graph-signins-session.json") as server:
        yield server


def _ids(pages) -> list[str]:
    return [i.source_event_id[-2:] for page in pages for i in page.items if isinstance(i, SignIn)]


def test_okta_pages_rate_limits_and_cursor(okta_server: ReplayServer) -> None:
    store, slept = MemoryCursorStore(), []
    connector = OktaLogConnector(okta_server.base, "test-token", cursor_store=store,
                                 since=SINCE, limit=2, sleep=slept.append, clock=lambda: CLOCK)
    pages = list(connector.pages())
    assert [len(p.items) for p in pages] == [2, 2, 0]  # page 2: 3 events, one not a sign-in
    assert _ids(pages) == ["01", "02", "03", "04"]
    # 429 -> wait for X-Rate-Limit-Reset (+1 s); then a page leaving 1 call -> wait again
    assert slept == [31.0, 91.0]
    paths = [path for path, _ in okta_server.requests]
    assert paths[0] == "/api/v1/logs?limit=2&since=2026-11-24T00%3A00%3A00Z"
    assert paths[1] == paths[2] and "after=1795507331412_1" in paths[1]
    assert all(h["Authorization"] == "SSWS test-token" for _, h in okta_server.requests)
    # caught up: the stored cursor is the empty page's next link, for the next poll
    assert store.get(connector.cursor_key) == (
        okta_server.base + "/api/v1/logs?limit=2&after=1795509697250_1"
        "&since=2026-11-24T00%3A00%3A00Z")


def test_okta_resumes_from_stored_cursor_after_a_crash(okta_server: ReplayServer) -> None:
    store = MemoryCursorStore()
    page2 = "/api/v1/logs?limit=2&after=1795507331412_1&since=2026-11-24T00%3A00%3A00Z"
    okta_server.fail_next(page2)

    def connector() -> OktaLogConnector:
        return OktaLogConnector(okta_server.base, "test-token", cursor_store=store, since=SINCE,
                                limit=2, sleep=lambda s: None, clock=lambda: CLOCK)

    seen = []
    with pytest.raises(ConnectorError, match="answered 500"):
        for page in connector().pages():
            seen.append(page)
    assert _ids(seen) == ["01", "02"]
    assert store.get(connector().cursor_key).endswith(page2[len("/api/v1/logs"):])
    resumed = list(connector().pages())
    assert _ids(resumed) == ["03", "04"]
    assert okta_server.requests[-3][0] == page2  # 429, then the page, then the empty page


def test_okta_refuses_foreign_cursor() -> None:
    store = MemoryCursorStore({"okta:https://corp.okta.com": "https://evil.example/api/v1/logs"})
    connector = OktaLogConnector("https://corp.okta.com", "t", cursor_store=store)
    with pytest.raises(ConnectorError, match="outside"):
        next(connector.pages())


def test_graph_pages_retry_after_and_next_run(graph_server: ReplayServer) -> None:
    store, slept = MemoryCursorStore(), []
    base = graph_server.base + "/v1.0"

    def connector() -> GraphSignInConnector:
        return GraphSignInConnector(lambda: "tkn", cursor_store=store, base_url=base,
                                    since=SINCE, page_size=2, sleep=slept.append)

    pages = list(connector().pages())
    assert [[i.identity for i in p.items] for p in pages] == [
        ["e3001@corp.example", "e2077@corp.example"],
        ["e1042@corp.example", "e1042@corp.example"],
    ]
    assert slept == [7.0]
    assert all(h["Authorization"] == "Bearer tkn" for _, h in graph_server.requests)
    state = json.loads(store.get(connector().cursor_key))
    assert state == {"next": None, "since": "2026-11-25T07:30:00Z",
                     "newest": "2026-11-25T07:30:00Z"}
    # the next run asks only for sign-ins from the newest one seen
    (again,) = list(connector().pages())
    assert [i.source_event_id for i in again.items] == ["8a7b6c5d-4e3f-4a1b-9c0d-1e2f3a4b5c60"]
    assert "createdDateTime%20ge%202026-11-25T07%3A30%3A00Z" in graph_server.requests[-1][0]


def test_graph_resumes_mid_run_from_next_link(graph_server: ReplayServer) -> None:
    store = MemoryCursorStore()
    base = graph_server.base + "/v1.0"
    page2 = ("/v1.0/auditLogs/signIns?$top=2&$filter=createdDateTime%20ge%20"
             "2026-11-24T00%3A00%3A00Z&$skiptoken=9b1c4f0e2a7d41c3")
    graph_server.fail_next(page2, status=502)

    def connector() -> GraphSignInConnector:
        return GraphSignInConnector("tkn", cursor_store=store, base_url=base, since=SINCE,
                                    page_size=2, sleep=lambda s: None)

    with pytest.raises(ConnectorError, match="answered 502"):
        list(connector().pages())
    assert json.loads(store.get(connector().cursor_key))["next"] == graph_server.base + page2
    resumed = list(connector().pages())
    assert [i.identity for p in resumed for i in p.items] == ["e1042@corp.example"] * 2
    assert json.loads(store.get(connector().cursor_key))["since"] == "2026-11-25T07:30:00Z"


def test_connection_refused_is_a_connector_error() -> None:
    connector = GraphSignInConnector("t", cursor_store=MemoryCursorStore(),
                                     base_url="http://127.0.0.1:9/v1.0", max_retries=0)
    with pytest.raises(ConnectorError, match="failed"):
        next(connector.pages())
