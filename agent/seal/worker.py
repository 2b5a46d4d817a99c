"""Run jobs one at a time on a background thread, or inline when no thread was started."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)
Spawn = Callable[[Callable[[], None], str], threading.Thread]


def _thread(target: Callable[[], None], name: str) -> threading.Thread:
    thread = threading.Thread(target=target, name=name, daemon=True)
    thread.start()
    return thread


class Worker:
    """A single background thread with a job queue; a failing job is logged, not fatal."""

    def __init__(self, name: str = "heedful-seal") -> None:
        self.name = name
        self._queue: queue.Queue | None = None
        self._thread: threading.Thread | None = None

    def start(self, spawn: Spawn = _thread) -> None:
        """Run submitted jobs on a thread made by `spawn` (a sensor passes `ctx.spawn`)."""
        self._queue = queue.Queue()
        self._thread = spawn(self._work, self.name)

    def stop(self, timeout: float = 30.0) -> None:
        """Finish the job in progress, then stop (queued jobs are dropped)."""
        if self._queue is not None and self._thread is not None:
            pending, self._queue = self._queue, None
            while not pending.empty():
                pending.get_nowait()
                pending.task_done()
            pending.put(None)
            self._thread.join(timeout)
            self._thread = None

    def submit(self, job: Callable[[], object]) -> None:
        """Queue `job`, or run it now when the worker was not started."""
        if self._queue is not None:
            self._queue.put(job)
        else:
            job()

    def wait(self, timeout: float = 60.0) -> bool:
        """Block until every queued job is done; False on timeout."""
        end = time.monotonic() + timeout
        while self._queue is not None and self._queue.unfinished_tasks:
            if time.monotonic() > end:
                return False
            time.sleep(0.005)
        return True

    def _work(self) -> None:
        jobs = self._queue
        assert jobs is not None
        while (job := jobs.get()) is not None:
            try:
                job()
            except Exception:  # one failed pass must not stop sealing
                log.exception("seal job failed")
            finally:
                jobs.task_done()
        jobs.task_done()
