"""A small pool of asyncio psycopg connections for the agent hot path on PostgreSQL.

Check-ins run on the event loop with these connections instead of a worker thread plus a
SQLAlchemy connection: no thread hand-off per request and no ORM/Core overhead (measured on 2
cores: roughly half the server CPU per check-in). Connections are autocommit; each statement
is its own transaction (see storage.checkins), and they plan for index lookups
(SESSION_SETTINGS).

The pool is per event loop, because an asyncio connection belongs to the loop that opened it
(uvicorn has one loop per worker; test clients may run several).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from sqlalchemy.engine import make_url

# The statements on these connections (storage.checkins and the check-in handlers) look rows
# up by key, for one device or a batch of them. Their generic plan is the right one for any
# batch size; without force_generic_plan PostgreSQL may plan the big check-in statement afresh
# on every execution, and on a small or freshly updated table (a few thousand devices) it
# prefers reading all of device_states to an index lookup — measured, each of these cost about
# as much as the check-in itself. Set at connection start-up (libpq `options`).
SESSION_SETTINGS = {"plan_cache_mode": "force_generic_plan", "enable_seqscan": "off"}


def conninfo_from_url(url: str, *, statement_timeout_ms: int = 0) -> str:
    """libpq connection string for a SQLAlchemy PostgreSQL URL, with SESSION_SETTINGS."""
    parsed = make_url(url)
    args: dict[str, Any] = parsed.translate_connect_args(username="user", database="dbname")
    args.update({k: v for k, v in parsed.query.items() if isinstance(v, str)})
    args.setdefault("connect_timeout", 5)
    settings = dict(SESSION_SETTINGS)
    if statement_timeout_ms > 0:
        settings["statement_timeout"] = str(int(statement_timeout_ms))
    ours = " ".join(f"-c {name}={value}" for name, value in settings.items())
    args["options"] = f"{args.get('options', '')} {ours}".strip()
    return psycopg.conninfo.make_conninfo(**{k: str(v) for k, v in args.items()})


class _LoopPool:
    def __init__(self, size: int) -> None:
        # None in the queue means "a slot was freed": the taker opens a new connection
        self.idle: asyncio.Queue[psycopg.AsyncConnection[Any] | None] = asyncio.Queue()
        self.free_slots = size
        self.all: set[psycopg.AsyncConnection[Any]] = set()


class AsyncPool:
    """At most `size` autocommit connections per event loop, opened on demand, reused."""

    def __init__(self, conninfo: str, size: int) -> None:
        self.conninfo, self.size = conninfo, size
        self._pools: dict[asyncio.AbstractEventLoop, _LoopPool] = {}

    def _pool(self) -> _LoopPool:
        loop = asyncio.get_running_loop()
        pool = self._pools.get(loop)
        if pool is None:
            pool = self._pools[loop] = _LoopPool(self.size)
        return pool

    async def _acquire(self, pool: _LoopPool) -> psycopg.AsyncConnection[Any]:
        while True:
            if pool.idle.empty() and pool.free_slots > 0:
                pool.free_slots -= 1
                try:
                    conn = await psycopg.AsyncConnection.connect(self.conninfo, autocommit=True)
                except BaseException:
                    self._free_slot(pool)
                    raise
                pool.all.add(conn)
                return conn
            item = await pool.idle.get()
            if item is not None:
                return item

    @staticmethod
    def _free_slot(pool: _LoopPool) -> None:
        pool.free_slots += 1
        pool.idle.put_nowait(None)  # wake one waiter so it opens a connection

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        """A connection for the duration of the block; broken ones are replaced."""
        pool = self._pool()
        conn = await self._acquire(pool)
        try:
            yield conn
        finally:
            idle = conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
            if conn.broken or conn.closed or not idle:  # e.g. cancelled mid-query
                pool.all.discard(conn)
                conn.pgconn.finish()
                self._free_slot(pool)
            else:
                pool.idle.put_nowait(conn)

    def close(self) -> None:
        """Close every connection (synchronously: the loops may be gone already)."""
        for pool in self._pools.values():
            for conn in pool.all:
                conn.pgconn.finish()
        self._pools.clear()
