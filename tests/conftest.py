"""Fixtures shared by every test package.

`database_url` is the one storage fixture: each test that takes it runs once on a fresh SQLite
file and once on a fresh, uniquely named PostgreSQL database. PostgreSQL tests skip only when the
server is unreachable *and* HEEDFUL_REQUIRE_POSTGRES is unset; CI sets it, so CI never skips them.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
POSTGRES_ADMIN_URL = os.environ.get(
    "HEEDFUL_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
# The seal device key lives under one fixed keyring entry per OS user: tests (and the agent
# processes they start, which inherit this) must never read or write the developer's real
# OS key store. Tests of the keyring path pass their own backend.
os.environ["PYTHON_KEYRING_BACKEND"] = "keyring.backends.fail.Keyring"


def postgres_required() -> bool:
    return os.environ.get("HEEDFUL_REQUIRE_POSTGRES", "") not in ("", "0", "false")


def _create_postgres_database() -> str:
    """Create a uniquely named database and return its URL (or skip/fail if unreachable)."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import OperationalError

    name = f"heedful_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except OperationalError as exc:
        message = f"PostgreSQL unreachable at {POSTGRES_ADMIN_URL}: {exc.orig}"
        if postgres_required():
            pytest.fail(message + " (HEEDFUL_REQUIRE_POSTGRES is set)")
        pytest.skip(message)
    finally:
        admin.dispose()
    return make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)


def _drop_postgres_database(url: str) -> None:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = make_url(url).database
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL to an empty database: a SQLite file, then a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'heedful.db'}"
        return
    url = _create_postgres_database()
    try:
        yield url
    finally:
        _drop_postgres_database(url)


@pytest.fixture
def ut1_dir() -> Path:
    """The real UT1 category lists, read in place (their licence forbids copying them here)."""
    path = SHARED_DATA / "ut1"
    if not path.is_dir():
        pytest.fail(f"UT1 data missing at {path}; it ships in ../shared/data/ut1")
    return path


@pytest.fixture
def samples_dir() -> Path:
    """Real log samples (e.g. an OpenSSH sshd log) to test parsers against."""
    return SHARED_DATA / "samples"
