"""`heedful-server run`, `migrate` and `settings`."""

from __future__ import annotations

import os

import click

from server.cli.common import config_option, get_settings, prepare_data_dir
from server.settings import CONFIG_ENV, SETTINGS, display_value


@click.command()
@config_option
@click.option("--host", default=None, help="Address to listen on (setting: host).")
@click.option("--port", type=int, default=None, help="Port to listen on (setting: port).")
@click.option("--workers", type=int, default=None, help="Worker processes (setting: workers).")
def run(config_file: str | None, host: str | None, port: int | None,
        workers: int | None) -> None:
    """Serve the API and console with uvicorn (the schema must be migrated)."""
    import uvicorn

    settings = get_settings(config_file)
    prepare_data_dir(settings)
    if config_file:  # workers are fresh processes: they read the file through the environment
        os.environ[CONFIG_ENV] = os.path.abspath(config_file)
    # proxy_headers off: the app itself resolves X-Forwarded-For against trusted_proxies.
    uvicorn.run("server.app:app_from_environment", factory=True,
                host=host or settings.host, port=port or settings.port,
                workers=workers or settings.workers, proxy_headers=False,
                server_header=False, access_log=False, log_config=None,
                timeout_keep_alive=30)


@click.command()
@config_option
def migrate(config_file: str | None) -> None:
    """Create or upgrade the database schema to the newest version."""
    from server.migrations import head_revision, upgrade
    from server.storage.db import normalise_url

    settings = get_settings(config_file)
    prepare_data_dir(settings)
    url = settings.effective_database_url
    upgrade(url)
    from sqlalchemy.engine import make_url
    shown = make_url(normalise_url(url)).render_as_string(hide_password=True)
    click.echo(f"database {shown} is at schema {head_revision()}")


@click.command("settings")
@config_option
@click.option("--describe", is_flag=True, help="Show each setting's type, default and help.")
def show_settings(config_file: str | None, describe: bool) -> None:
    """Print every setting, its value (secrets masked) and where it came from."""
    if describe:
        for setting in SETTINGS:
            secret = ", secret" if setting.secret else ""
            click.echo(f"{setting.name} ({setting.type_name}{secret}; env {setting.env}; "
                       f"default {display_value(setting, setting.default) or '(empty)'})")
            click.echo(f"    {setting.help}")
        return
    settings = get_settings(config_file)
    rows = settings.report()
    width = max(len(name) for name, _, _ in rows)
    for name, value, source in rows:
        click.echo(f"{name:<{width}}  {value or '(empty)'}  [{source}]")
