"""Alembic migrations: the only way the schema is created or changed (tests too).

`upgrade(url)` brings a database to head; `current_revision(engine)` and `head_revision()` let
`/readyz` say whether the schema is current. New revisions: `make_revision(url, "message")`
autogenerates a file in versions/ from the models, to be reviewed by hand.
"""

from __future__ import annotations

import functools
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from server.storage.db import normalise_url

HERE = Path(__file__).resolve().parent


def alembic_config(url: str) -> Config:
    """An Alembic configuration for `url` using the scripts in this package."""
    config = Config()
    config.set_main_option("script_location", str(HERE))
    # '%' is interpolation syntax in Alembic's ConfigParser
    config.set_main_option("sqlalchemy.url", normalise_url(url).replace("%", "%%"))
    config.attributes["configure_logging"] = False
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Apply every migration up to `revision` (default: head) to the database at `url`."""
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str) -> None:
    """Revert migrations down to `revision` (`base` empties the schema)."""
    command.downgrade(alembic_config(url), revision)


def make_revision(url: str, message: str) -> None:
    """Autogenerate a new revision comparing the models with the database at `url`."""
    command.revision(alembic_config(url), message=message, autogenerate=True)


@functools.lru_cache(maxsize=1)
def head_revision() -> str | None:
    """The newest revision id among the migration scripts."""
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def current_revision(engine: Engine) -> str | None:
    """The revision the database at `engine` is at (None: never migrated)."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()
