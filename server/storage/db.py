"""Engine and session setup for SQLite (embedded default) and PostgreSQL (production).

SQLite: WAL journal, foreign keys on, a busy timeout, and `BEGIN IMMEDIATE` for every
transaction — a deferred transaction that reads and then writes can fail at once with
"database is locked" when another writer got there first (the busy handler is not consulted on
a lock upgrade), so taking the write lock up front is what makes concurrent writers wait.
PostgreSQL: psycopg 3 with a bounded pool and a short connect timeout, so an unreachable
database turns into a quick 503 instead of hanging requests.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session, sessionmaker

SQLITE_BUSY_TIMEOUT_MS = 10_000


def normalise_url(url: str) -> str:
    """Use psycopg 3 for plain `postgresql://` / `postgres://` URLs."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # pysqlite must not emit its own BEGIN
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def create_db_engine(url: str, *, pool_size: int = 10, max_overflow: int = 0,
                     statement_timeout_ms: int = 0) -> Engine:
    """An engine for `url` with the settings described in the module docstring."""
    url = normalise_url(url)
    backend = make_url(url).get_backend_name()
    if backend == "sqlite":
        engine = create_engine(url, pool_size=pool_size, max_overflow=max_overflow,
                               pool_timeout=30,
                               connect_args={"check_same_thread": False,
                                             "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
        _configure_sqlite(engine)
        return engine
    if backend == "postgresql":
        connect_args: dict[str, Any] = {"connect_timeout": 5}
        if statement_timeout_ms > 0:
            connect_args["options"] = f"-c statement_timeout={int(statement_timeout_ms)}"
        return create_engine(url, pool_size=pool_size, max_overflow=max_overflow,
                             pool_timeout=10, pool_recycle=1800, connect_args=connect_args)
    raise ValueError(f"unsupported database {backend!r} in URL {make_url(url)!r}: "
                     "use sqlite:/// or postgresql+psycopg://")


class Database:
    """The engine plus a session factory; `with db.transaction() as s:` commits or rolls back."""

    def __init__(self, url: str, *, pool_size: int = 10, max_overflow: int = 0,
                 statement_timeout_ms: int = 0) -> None:
        self.url = normalise_url(url)
        self.engine = create_db_engine(self.url, pool_size=pool_size, max_overflow=max_overflow,
                                       statement_timeout_ms=statement_timeout_ms)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One transaction: everything inside is committed together, or nothing is."""
        with self._sessions.begin() as session:
            yield session

    @contextmanager
    def hot_path(self) -> Iterator[Connection]:
        """A Core connection for the agent hot path (see storage.checkins).

        PostgreSQL: autocommit — each statement is its own transaction, saving the BEGIN and
        COMMIT round trips; callers write with single statements. SQLite: one BEGIN IMMEDIATE
        transaction around everything, committed at the end.
        """
        if self.dialect == "postgresql":
            with self.engine.connect() as conn:
                yield conn.execution_options(isolation_level="AUTOCOMMIT")
        else:
            with self.engine.begin() as conn:
                yield conn

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()


def is_unavailable(exc: BaseException) -> bool:
    """True when `exc` means the database cannot be reached (as opposed to a bad query)."""
    if isinstance(exc, (OperationalError, DisconnectionError, PoolTimeout,
                        psycopg.OperationalError)):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)
