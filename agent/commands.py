"""The agent core's commands: `enroll`, `run`, `status`, `ledger`, `config`.

Registered on the `heedful-agent` group in agent/cli.py. Every command takes `--home` (the
state folder; default `HEEDFUL_AGENT_HOME` or the per-user data folder).
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import sys

import click

from agent.errors import AgentError, EnrollmentRefused, ServerError, TransportError
from agent.paths import LOG_FILE, resolve_home

home_option = click.option("--home", type=click.Path(file_okay=False), default=None,
                           envvar="HEEDFUL_AGENT_HOME",
                           help="State folder (default: the per-user data folder).")


@click.command()
@click.option("--server", "server_url", required=True, help="The Heedful server's base URL.")
@click.option("--token", required=True, help="The one-time enrolment token.")
@click.option("--ca-file", type=click.Path(exists=True, dir_okay=False), default=None,
              help="PEM file of CA certificates to trust instead of the system store.")
@home_option
def enroll(server_url: str, token: str, ca_file: str | None, home: str | None) -> None:
    """Enrol this laptop with the server (replaces any previous credential)."""
    from agent import enrolment, settings
    from agent.ledger import Ledger
    from agent.store import Store

    store = Store(resolve_home(home))
    try:
        if ca_file:
            store.put_setting("ca_file", str(ca_file))
        conf = settings.load(store)
        result = enrolment.enroll(store, server_url, token, ca_file=ca_file or conf.ca_file
                                  or None, timeout=conf.request_timeout,
                                  ledger=Ledger(store))
    except EnrollmentRefused as exc:
        raise click.ClickException(f"the server refused the token ({exc.code}): "
                                   f"{exc.message}") from exc
    except (TransportError, ServerError, AgentError) as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        store.close()
    email = result.employee.get("email", "?")
    click.echo(f"enrolled as device {result.device_id} for {email} at {result.server_url}")


def _setup_logging(home, level: str) -> None:
    handler = logging.handlers.RotatingFileHandler(home / LOG_FILE, maxBytes=2_000_000,
                                                   backupCount=2, encoding="utf-8")
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    handler.setFormatter(fmt)
    console = logging.StreamHandler(sys.stderr)
    console.setFormatter(fmt)
    root = logging.getLogger()
    root.handlers[:] = [handler, console]
    root.setLevel(level.upper())


@click.command()
@home_option
def run(home: str | None) -> None:
    """Run the agent in the foreground until SIGTERM/SIGINT."""
    from agent.runtime import Agent

    state = resolve_home(home)
    agent = Agent(state)
    _setup_logging(state, str(agent.settings.log_level))
    sys.exit(agent.run())


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@home_option
def status(as_json: bool, home: str | None) -> None:
    """Enrolment, server, rules, idle/lock, degraded capabilities, outbox, footprint."""
    from agent.localclient import AgentNotRunning, LocalClient
    from agent.status import offline_status, render

    state = resolve_home(home)
    try:
        found = LocalClient(state, timeout=5).status()
    except AgentNotRunning:
        found = offline_status(state)
    click.echo(json.dumps(found, indent=2, default=str) if as_json else render(found))


@click.command()
@click.option("--limit", default=50, show_default=True, help="How many entries.")
@click.option("--brief", is_flag=True, help="One line per entry, without the payloads.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@home_option
def ledger(limit: int, brief: bool, as_json: bool, home: str | None) -> None:
    """Show what this agent sent to the server (newest last)."""
    from agent.ledger import Ledger
    from agent.store import Store

    store = Store(resolve_home(home))
    try:
        entries = list(reversed(Ledger(store).entries(limit=limit)))
    finally:
        store.close()
    if as_json:
        click.echo(json.dumps([e.as_dict() for e in entries], indent=2))
        return
    if not entries:
        click.echo("nothing has been sent to the server yet")
    for entry in entries:
        click.echo(entry.render(with_detail=not brief))


@click.group()
def config() -> None:
    """Show or set agent settings (see docs/agent.md)."""


@config.command("show")
@home_option
def config_show(home: str | None) -> None:
    """Every setting with its value and source."""
    from agent import settings
    from agent.store import Store

    store = Store(resolve_home(home))
    try:
        rows = settings.load(store).describe()
    finally:
        store.close()
    for row in rows:
        click.echo(f"{row['name']:<24} {row['value']!s:<14} ({row['source']}; {row['env']})")


@config.command("set")
@click.argument("name")
@click.argument("value")
@home_option
def config_set(name: str, value: str, home: str | None) -> None:
    """Persist a setting in the state folder (takes effect at the next start)."""
    from agent import settings
    from agent.store import Store

    if name not in settings.BY_NAME:
        raise click.BadParameter(f"unknown setting {name!r}", param_hint="NAME")
    try:
        settings.Settings({name: value}, env={}).get(name)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="VALUE") from exc
    store = Store(resolve_home(home))
    try:
        store.put_setting(name, value)
    finally:
        store.close()
    click.echo(f"{name} = {value}")


COMMANDS = (enroll, run, status, ledger, config)
