"""Polling for tests that wait on another thread or process.

The timeout only bounds a hung test; it is never the thing being asserted (no timed assertions).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest


def _poll(check: Callable[[], Any], timeout: float, poll: float) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(poll)
    return check()


def wait_until(predicate: Callable[[], Any], timeout: float = 30.0, poll: float = 0.02) -> bool:
    """True once `predicate()` is truthy, False if it is still falsy after `timeout` seconds
    (for `assert wait_until(...)`)."""
    return bool(_poll(predicate, timeout, poll))


def wait_for(check: Callable[[], Any], timeout: float = 30.0, poll: float = 0.02) -> Any:
    """The first truthy value of `check()`; fails the test if none comes within `timeout`."""
    value = _poll(check, timeout, poll)
    if not value:
        pytest.fail(f"timed out waiting for {getattr(check, '__name__', check)}")
    return value
