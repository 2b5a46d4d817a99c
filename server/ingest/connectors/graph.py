"""Pull Entra ID sign-ins from Microsoft Graph: `GET /auditLogs/signIns`, `@odata.nextLink`.

Graph has no delta query for sign-ins and returns them newest first, so a run is one filtered
query (`createdDateTime ge <since>`) paged through with @odata.nextLink. The cursor (JSON)
holds the next link while a run is under way and, once it is done, the newest createdDateTime
seen, which becomes the next run's `since` ("ge" re-reads that boundary instant; signIn ids
make the repeat harmless). 429 and 503 answers are retried after their Retry-After seconds.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from urllib.parse import quote

import requests

from server.ingest.connectors.base import (
    ConnectorError,
    CursorStore,
    HttpPoller,
    Page,
    header_float,
    same_origin,
)
from server.ingest.parsers import entra as entra_parser
from server.ingest.record import SignIn

GRAPH_V1 = "https://graph.microsoft.com/v1.0"


class GraphSignInConnector:
    """Pages of parsed Entra sign-ins, resumable through a CursorStore.

    `token` is a bearer token, or a function returning a fresh one (client-credential tokens
    expire after about an hour, longer than a large backfill can take).
    """

    def __init__(self, token: str | Callable[[], str], *, cursor_store: CursorStore,
                 base_url: str = GRAPH_V1, cursor_key: str | None = None,
                 since: datetime | None = None, page_size: int = 999,
                 session: requests.Session | None = None,
                 sleep: Callable[[float], None] = time.sleep, max_retries: int = 5) -> None:
        self.base_url = base_url.rstrip("/")
        self.cursor_store = cursor_store
        self.cursor_key = cursor_key or f"graph-signins:{self.base_url}"
        self.since = since
        self.page_size = page_size
        self._token = token if callable(token) else (lambda: token)
        self._http = HttpPoller(session, sleep, _retry_delay, lambda response: 0.0, max_retries)

    def _state(self) -> dict:
        stored = self.cursor_store.get(self.cursor_key)
        if not stored:
            since = self.since.isoformat().replace("+00:00", "Z") if self.since else None
            return {"next": None, "since": since, "newest": since}
        try:
            state = json.loads(stored)
        except json.JSONDecodeError as exc:
            raise ConnectorError(f"stored Graph cursor {self.cursor_key!r} is not JSON") from exc
        if state.get("next") and not same_origin(state["next"], self.base_url):
            raise ConnectorError(f"stored Graph cursor points outside {self.base_url}")
        return state

    def _query_url(self, since: str | None) -> str:
        url = f"{self.base_url}/auditLogs/signIns?$top={self.page_size}"
        if since:
            url += "&$filter=" + quote(f"createdDateTime ge {since}", safe="")
        return url

    def pages(self) -> Iterator[Page]:
        """Yield (items, cursor) per page; the store is updated when the next page is asked
        for or the run ends (so a crash re-fetches the page, never skips it)."""
        state = self._state()
        url = state["next"] or self._query_url(state["since"])
        while True:
            response = self._http.get(url, {"Authorization": f"Bearer {self._token()}",
                                            "Accept": "application/json"})
            try:
                body = response.json()
            except ValueError as exc:
                raise ConnectorError(f"Graph answered non-JSON for {url.split('?')[0]}") from exc
            items = list(entra_parser.parse(response.content))
            state["newest"] = _newest(items, state.get("newest"))
            next_url = body.get("@odata.nextLink") if isinstance(body, dict) else None
            if next_url and not same_origin(next_url, self.base_url):
                raise ConnectorError(f"Graph nextLink leaves {self.base_url}: refusing it")
            if next_url:
                state = {**state, "next": next_url}
            else:  # run complete: the next run starts from the newest sign-in seen
                state = {"next": None, "since": state["newest"], "newest": state["newest"]}
            cursor = json.dumps(state, sort_keys=True)
            yield Page(items, cursor)
            self.cursor_store.set(self.cursor_key, cursor)
            if not next_url:
                return
            url = next_url


def _newest(items: list, current: str | None) -> str | None:
    times = [i.occurred_at for i in items if isinstance(i, SignIn)]
    if not times:
        return current
    newest = max(times).isoformat().replace("+00:00", "Z")
    if current is None:
        return newest
    return max(newest, current, key=lambda text: datetime.fromisoformat(text))


def _retry_delay(response: requests.Response, attempt: int) -> float:
    return header_float(response, "Retry-After") or 2.0 ** attempt
