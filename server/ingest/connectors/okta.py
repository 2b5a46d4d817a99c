"""Pull Okta System Log events: `GET {base}/api/v1/logs`, following `Link: <...>; rel="next"`.

Okta's polling contract: a request with `since` (and no `until`) always answers with a next
link, even on an empty page; following it later returns only newer events. So the cursor is the
next link itself, and a run ends on the first empty page (caught up).

Rate limits: every answer carries X-Rate-Limit-Remaining and X-Rate-Limit-Reset (epoch
seconds). When the remaining budget falls to `min_remaining`, or on a 429, the connector sleeps
(via the injected `sleep`) until the reset time.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import datetime
from urllib.parse import urlencode

import requests

from server.ingest.connectors.base import (
    ConnectorError,
    CursorStore,
    HttpPoller,
    Page,
    default_clock,
    header_float,
    same_origin,
)
from server.ingest.parsers import okta as okta_parser


class OktaLogConnector:
    """Pages of parsed Okta sign-ins, resumable through a CursorStore."""

    def __init__(self, base_url: str, token: str, *, cursor_store: CursorStore,
                 cursor_key: str | None = None, since: datetime | None = None,
                 limit: int = 1000, session: requests.Session | None = None,
                 sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = default_clock,
                 min_remaining: int = 1, max_retries: int = 5) -> None:
        self.base_url = base_url.rstrip("/")
        self.cursor_store = cursor_store
        self.cursor_key = cursor_key or f"okta:{self.base_url}"
        self.since = since
        self.limit = limit
        self.clock = clock
        self.min_remaining = min_remaining
        self._headers = {"Authorization": f"SSWS {token}", "Accept": "application/json"}
        self._http = HttpPoller(session, sleep, self._retry_delay, self._wait_after,
                                max_retries)

    def first_url(self) -> str:
        """Where a run starts: the stored next link, else a fresh `since` query."""
        stored = self.cursor_store.get(self.cursor_key)
        if stored:
            if not same_origin(stored, self.base_url):
                raise ConnectorError(f"stored Okta cursor points outside {self.base_url}")
            return stored
        query = {"limit": str(self.limit)}
        if self.since is not None:
            query["since"] = self.since.isoformat().replace("+00:00", "Z")
        return f"{self.base_url}/api/v1/logs?{urlencode(query)}"

    def pages(self) -> Iterator[Page]:
        """Yield (items, cursor) per page until caught up.

        The cursor is saved in the store when the caller asks for the next page (or the run
        ends), i.e. after it has dealt with the page: a crash re-fetches that page, and event
        ids make the re-ingest harmless.
        """
        url = self.first_url()
        while True:
            response = self._http.get(url, self._headers)
            items = list(okta_parser.parse(response.content))
            next_url = response.links.get("next", {}).get("url")
            if next_url and not same_origin(next_url, self.base_url):
                raise ConnectorError(f"Okta next link leaves {self.base_url}: refusing it")
            cursor = next_url or url
            yield Page(items, cursor)
            self.cursor_store.set(self.cursor_key, cursor)
            if not next_url or not _has_events(response):
                return
            url = next_url

    def _wait_after(self, response: requests.Response) -> float:
        remaining = header_float(response, "X-Rate-Limit-Remaining")
        if remaining is None or remaining > self.min_remaining:
            return 0.0
        return self._until_reset(response)

    def _retry_delay(self, response: requests.Response, attempt: int) -> float:
        if header_float(response, "X-Rate-Limit-Reset") is not None:
            return self._until_reset(response)
        return header_float(response, "Retry-After") or 2.0 ** attempt

    def _until_reset(self, response: requests.Response) -> float:
        reset = header_float(response, "X-Rate-Limit-Reset")
        if reset is None:
            return 1.0
        # One extra second: the reset is whole seconds and clocks drift.
        return max(0.0, reset - self.clock()) + 1.0


def _has_events(response: requests.Response) -> bool:
    """False for an empty page ("[]"): Okta has nothing newer yet."""
    return response.content.strip() not in (b"", b"[]")
