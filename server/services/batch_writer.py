"""Plumbing of the ingestion hot path: the writer thread that stores one batch while the next
is prepared, and the process settings of a batch ingestion run (`BatchMode`).

Why pause the cyclic garbage collector: an ingestion run keeps hundreds of thousands of young
objects alive (the batch being judged, every employee's recent sign-ins), which the collector
would otherwise re-scan over and over (measured: about a tenth of the ingestion's CPU time,
even when the pause only lasted one `feed` call, because each resumption scanned everything
made during it). Reference counting still frees everything that is not in a cycle; the
collector resumes when the run ends.

Why shorten the thread switch interval: the writer thread needs the GIL for a moment each
time PostgreSQL answers it (about eight round trips a batch, and COPY's flow control), while
the main thread parses and judges without pause. By default CPython lets a waiting thread
wait up to 5 ms before asking the busy one to yield, so the writer, and with it the
database, sat idle much of the time (measured on 1,000,000 sign-ins, 2 cores: 20,200
events/s at 5 ms, 26,000 at 0.5 ms).
"""

from __future__ import annotations

import gc
import queue
import sys
import threading
from collections.abc import Callable
from typing import Any

SWITCH_INTERVAL_S = 0.0005


class BatchMode:
    """Process settings for a batch ingestion run (module docstring), from construction until
    `end()`: the cyclic garbage collector paused when `pause_gc`, the thread switch interval
    shortened when `writer_thread`. Only for a process that is not serving anything else
    (the command line, a benchmark); nests safely enough: each setting is restored by
    whoever changed it."""

    def __init__(self, *, pause_gc: bool, writer_thread: bool) -> None:
        self.resume_gc = pause_gc and gc.isenabled()
        if self.resume_gc:
            gc.disable()
        self.interval: float | None = None
        if writer_thread and sys.getswitchinterval() > SWITCH_INTERVAL_S:
            self.interval = sys.getswitchinterval()
            sys.setswitchinterval(SWITCH_INTERVAL_S)

    def end(self) -> None:
        """Restore the settings (once; later calls do nothing)."""
        if self.resume_gc:
            self.resume_gc = False
            gc.enable()
        if self.interval is not None:
            sys.setswitchinterval(self.interval)
            self.interval = None


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
