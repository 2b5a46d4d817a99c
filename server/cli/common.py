"""Helpers shared by the server's commands: settings from --config/environment, the database
(checked to be migrated), and turning service errors into clear command-line errors."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import click
from sqlalchemy.exc import SQLAlchemyError

from server.migrations import current_revision, head_revision
from server.services.errors import ServiceError
from server.settings import Settings, SettingsError, load_settings
from server.storage.db import Database

F = TypeVar("F", bound=Callable[..., Any])

config_option = click.option(
    "--config", "config_file", type=click.Path(dir_okay=False), default=None,
    help="TOML settings file (default: $HEEDFUL_CONFIG).")


def get_settings(config_file: str | None) -> Settings:
    """Settings from --config (or HEEDFUL_CONFIG) and the environment, or a usage error."""
    try:
        return load_settings(config_file)
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None


def prepare_data_dir(settings: Settings) -> None:
    """Create data_dir (0700) when the SQLite default or the default key path needs it."""
    if not settings.database_url or not settings.signing_key_path:
        settings.data_path.mkdir(parents=True, exist_ok=True, mode=0o700)


@contextmanager
def open_database(settings: Settings) -> Iterator[Database]:
    """The configured database, refusing to work on one that is not migrated to head."""
    prepare_data_dir(settings)
    db = Database(settings.effective_database_url, pool_size=1, max_overflow=1)
    try:
        try:
            current = current_revision(db.engine)
        except SQLAlchemyError as exc:
            raise click.ClickException(
                f"cannot reach the database: {getattr(exc, 'orig', None) or exc}") from None
        if current != head_revision():
            raise click.ClickException(f"the database schema is at {current or 'nothing'}, "
                                       f"not {head_revision()}: run `heedful-server migrate`")
        yield db
    finally:
        db.dispose()


def service_errors(func: F) -> F:
    """Report service and value errors as one-line command errors (exit status 1)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ServiceError as exc:
            raise click.ClickException(exc.message) from None
        except ValueError as exc:
            raise click.ClickException(str(exc)) from None

    return wrapper  # type: ignore[return-value]
