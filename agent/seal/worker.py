"""Run jobs one at a time on a background thread (or inline when no thread was started), and
run a pass's groups of files a few at a time."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Hashable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import TypeVar

log = logging.getLogger(__name__)
Spawn = Callable[[Callable[[], None], str], threading.Thread]
T = TypeVar("T")
R = TypeVar("R")
_END = object()


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


def run_bounded(items: Iterable[T], work: Callable[[T], R], *, workers: int,
                stop: Callable[[], bool], done: Callable[[R], None]) -> bool:
    """Run `work(item)` on up to `workers` threads, handing each result to `done` here.

    `stop()` is asked before each item starts; once it says yes no new item starts (those
    running finish). Returns True if `stop` cut the run short. Threads pay off because the
    heavy parts (reads, writes, fsync) release the GIL; AES-GCM (a chunk per call) and the
    comparisons (a block per call) hold it only briefly.
    """
    items = iter(items)
    with ThreadPoolExecutor(max(1, workers), thread_name_prefix="heedful-seal") as pool:
        running: set[Future[R]] = set()
        stopped = exhausted = False
        while True:
            while len(running) < max(1, workers) and not (stopped or exhausted):
                item = next(items, _END)
                if item is _END:
                    exhausted = True
                elif stop():
                    stopped = True
                else:
                    running.add(pool.submit(work, item))  # type: ignore[arg-type]
            if not running:
                return stopped
            finished, running = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                done(future.result())


def groups(items: Iterable[T], *, folder: Callable[[T], Hashable], size: Callable[[T], int],
           max_files: int, max_bytes: int) -> Iterator[list[T]]:
    """`items` in groups of one folder each, of at most `max_files` items and `max_bytes` bytes
    (a larger item goes alone), each folder's groups in the order of its first item.

    A group shares the journal commits and the folder fsync of its files
    (`SealEngine.seal_files`); the bounds keep a group short, since a pass stops between groups.
    """
    by_folder: dict[Hashable, list[T]] = {}
    for item in items:
        by_folder.setdefault(folder(item), []).append(item)
    for members in by_folder.values():
        group: list[T] = []
        total = 0
        for item in members:
            n = size(item)
            if group and (len(group) >= max(1, max_files) or total + n > max_bytes):
                yield group
                group, total = [], 0
            group.append(item)
            total += n
        if group:
            yield group
