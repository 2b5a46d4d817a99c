"""Alembic environment: runs migrations with the app's own engine settings.

`render_as_batch` lets later revisions alter tables on SQLite (which cannot ALTER most things)
by copying the table, and `compare_type` makes autogenerate notice type changes.
"""

from __future__ import annotations

from typing import Any, Literal

from alembic import context
from sqlalchemy import JSON

import server.storage.models  # noqa: F401  (registers every table on Base.metadata)
import server.storage.signin_models  # noqa: F401  (sign-ins and cases, issue 4)
from server.storage.base import Base, UTCDateTime
from server.storage.db import create_db_engine

config = context.config


def render_item(kind: str, obj: Any, autogen_context: Any) -> str | Literal[False]:
    """Spell the app's custom column types with plain SQLAlchemy types in new revisions."""
    if kind == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    if kind == "type" and isinstance(obj, JSON):
        autogen_context.imports.add("from sqlalchemy.dialects import postgresql")
        return 'sa.JSON().with_variant(postgresql.JSONB(), "postgresql")'
    return False


def run_migrations_offline() -> None:
    context.configure(url=config.get_main_option("sqlalchemy.url"),
                      target_metadata=Base.metadata, literal_binds=True, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = create_db_engine(config.get_main_option("sqlalchemy.url") or "", pool_size=1)
    try:
        with engine.connect() as connection:
            context.configure(connection=connection, target_metadata=Base.metadata,
                              render_as_batch=True, compare_type=True,
                              render_item=render_item)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
