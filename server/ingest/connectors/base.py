"""What the pull connectors share: the cursor store seam, pages, and one polite HTTP GET.

The network sits behind `requests.Session` (injected, so tests can point it at a local server)
and waiting behind an injected `sleep`, so rate-limit handling is tested without real waits.
Foreign exceptions are translated into ConnectorError at this boundary.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import NamedTuple, Protocol
from urllib.parse import urlsplit

import requests

from server.ingest.record import Rejection, SignIn

TIMEOUT = (10, 60)  # connect, read (seconds): Okta and Graph pages can be slow to build


class CursorStore(Protocol):
    """Where a connector keeps its resumable position; storage plugs its own in later."""

    def get(self, key: str) -> str | None: ...

    def set(self, key: str, value: str) -> None: ...


class MemoryCursorStore:
    """A CursorStore in a dict (tests, one-off command-line pulls)."""

    def __init__(self, initial: dict[str, str] | None = None) -> None:
        self.values: dict[str, str] = dict(initial or {})

    def get(self, key: str) -> str | None:
        return self.values.get(key)

    def set(self, key: str, value: str) -> None:
        self.values[key] = value


class Page(NamedTuple):
    """One fetched page: its parsed records and the cursor that resumes after it."""

    items: list[SignIn | Rejection]
    cursor: str


class ConnectorError(RuntimeError):
    """A pull failed: network error, refused credentials, or too many retries."""


class HttpPoller:
    """GET with retries on 429/503 and an optional pause-before-the-limit hook.

    `wait_after(response)` returns seconds to pause after a successful response (e.g. when the
    rate-limit budget is spent); `retry_delay(response, attempt)` returns seconds to wait
    before retrying a 429/503.
    """

    def __init__(self, session: requests.Session | None, sleep: Callable[[float], None],
                 retry_delay: Callable[[requests.Response, int], float],
                 wait_after: Callable[[requests.Response], float], max_retries: int) -> None:
        self.session = session or requests.Session()
        self.sleep = sleep
        self.retry_delay = retry_delay
        self.wait_after = wait_after
        self.max_retries = max_retries

    def get(self, url: str, headers: dict[str, str]) -> requests.Response:
        """The successful response for `url`; ConnectorError naming the URL otherwise."""
        for attempt in range(self.max_retries + 1):
            try:
                response = self.session.get(url, headers=headers, timeout=TIMEOUT)
            except requests.RequestException as exc:
                raise ConnectorError(f"GET {_safe(url)} failed: {exc}") from exc
            if response.status_code in (429, 503) and attempt < self.max_retries:
                self.sleep(max(0.0, self.retry_delay(response, attempt)))
                continue
            if response.status_code != 200:
                raise ConnectorError(f"GET {_safe(url)} answered {response.status_code}: "
                                     f"{response.text[:200]}")
            pause = self.wait_after(response)
            if pause > 0:
                self.sleep(pause)
            return response
        raise AssertionError("unreachable")  # the loop returns or raises


def header_float(response: requests.Response, name: str) -> float | None:
    """A numeric header, or None when absent or not a number."""
    try:
        return float(response.headers[name])
    except (KeyError, ValueError):
        return None


def same_origin(url: str, base: str) -> bool:
    """True when `url` has the scheme and host of `base`, so a credential can go there."""
    a, b = urlsplit(url), urlsplit(base)
    return (a.scheme, a.netloc.lower()) == (b.scheme, b.netloc.lower())


def _safe(url: str) -> str:
    return url.split("?", 1)[0]


def default_clock() -> float:
    """Seconds since the epoch (rate-limit reset headers are epoch times)."""
    return time.time()
