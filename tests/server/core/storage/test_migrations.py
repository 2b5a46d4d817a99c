"""The schema comes only from migrations: up from empty on both databases, down and up again,
and the models never drift from what the migrations create."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from server.migrations import current_revision, downgrade, head_revision, upgrade
from server.storage.base import Base
from server.storage.db import create_db_engine

CORE_TABLES = {"employees", "employee_aliases", "devices", "enrollment_tokens",
               "device_credentials", "device_states", "agent_events", "notifications",
               "rule_bundles", "console_users", "console_sessions", "login_attempts",
               "api_tokens", "audit_log", "alembic_version"}


def test_upgrade_from_empty_creates_every_table(database_url):
    engine = create_db_engine(database_url)
    try:
        assert current_revision(engine) is None
        upgrade(database_url)
        assert current_revision(engine) == head_revision()
        assert set(inspect(engine).get_table_names()) >= CORE_TABLES
        upgrade(database_url)  # idempotent
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()


def test_downgrade_to_empty_and_up_again(database_url):
    engine = create_db_engine(database_url)
    try:
        upgrade(database_url)
        downgrade(database_url, "base")
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
        upgrade(database_url)
        assert set(inspect(engine).get_table_names()) >= CORE_TABLES
    finally:
        engine.dispose()


def test_models_match_the_migrations(database_url):
    import server.storage.models  # noqa: F401  (registers the tables)
    upgrade(database_url)
    engine = create_db_engine(database_url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            diff = compare_metadata(context, Base.metadata)
    finally:
        engine.dispose()
    assert diff == []
