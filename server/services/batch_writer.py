"""Plumbing of the ingestion hot path: the writer thread that stores one batch while the next
is prepared, and the pause of Python's cyclic garbage collector while feeding.

Why the pause: a batch keeps thousands of young objects alive, which the collector would
otherwise re-scan over and over (measured: about a quarter of the ingestion's CPU time).
Reference counting still frees everything; the collector resumes after each feed.
"""

from __future__ import annotations

import gc
import queue
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def collector_paused(pause: bool = True) -> Iterator[None]:
    """Pause the cyclic garbage collector (see the module docstring) when `pause`; nests
    and threads safely enough: it is re-enabled only by whoever found it enabled."""
    was_enabled = pause and gc.isenabled()
    if was_enabled:
        gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class BatchWriter:
    """A thread calling `store(batch)` for each submitted batch, one at a time, while the
    caller prepares the next; an error is raised to the caller at its next submit or wait
    (later batches are then dropped: the caller is failing anyway)."""

    def __init__(self, store: Callable[[Any], None]) -> None:
        self.store = store
        self.queue: queue.Queue[Any] = queue.Queue(maxsize=1)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="signin-writer", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while True:
            batch = self.queue.get()
            try:
                if batch is None:
                    return
                if self.error is None:
                    self.store(batch)
            except BaseException as exc:  # handed to the caller at its next submit/wait
                self.error = exc
            finally:
                self.queue.task_done()

    def _raise(self) -> None:
        if self.error is not None:
            error, self.error = self.error, None
            raise error

    def submit(self, batch: Any) -> None:
        """Queue a batch (waits while the previous one is still queued)."""
        self._raise()
        self.queue.put(batch)

    def wait(self) -> None:
        """Until everything submitted is stored; raises a writer error."""
        self.queue.join()
        self._raise()

    def stop(self) -> None:
        """End the thread (after what is queued)."""
        if self.thread.is_alive():
            self.queue.put(None)
            self.thread.join()
