"""Privileged operator commands: console admins, employees, enrolment tokens, devices, API
tokens. Every one of them is audited with actor `cli:<os user>`."""

from __future__ import annotations

import sys

import click

from server.cli.common import config_option, get_settings, open_database, service_errors
from server.services import api_tokens, console_auth, enrollment, fleet
from server.services.audit import cli_actor
from server.services.clock import rfc3339, utc_now
from server.services.roles import ROLES
from server.settings import parse_duration


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return click.prompt("Password", hide_input=True, confirmation_prompt=True)


@click.command("create-admin")
@config_option
@click.argument("email")
@click.option("--role", type=click.Choice(ROLES), default="security_admin", show_default=True)
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@service_errors
def create_admin(config_file: str | None, email: str, role: str, password_stdin: bool) -> None:
    """Create a console user with ROLE (prompts for the password)."""
    password = _read_password(password_stdin)
    with open_database(get_settings(config_file)) as db, db.transaction() as session:
        console_auth.create_user(session, email=email, password=password, role=role,
                                 actor=cli_actor(), now=utc_now())
    click.echo(f"console user {email} created with role {role}")


@click.group()
def employees() -> None:
    """Employees: add, list."""


@employees.command("add")
@config_option
@click.argument("email")
@click.option("--home-country", required=True, help="ISO 3166-1 alpha-2 code, e.g. GB.")
@click.option("--alias", "aliases", multiple=True,
              help="Another identity the employee signs in with (repeatable).")
@click.option("--name", "display_name", default=None, help="Display name.")
@service_errors
def employees_add(config_file: str | None, email: str, home_country: str,
                  aliases: tuple[str, ...], display_name: str | None) -> None:
    """Add an employee with their home country and identity aliases."""
    with open_database(get_settings(config_file)) as db, db.transaction() as session:
        added = fleet.add_employee(session, email=email, home_country=home_country,
                                   aliases=aliases, display_name=display_name,
                                   actor=cli_actor(), now=utc_now())
    click.echo(f"employee {added['email']} added (id {added['id']})")


@employees.command("list")
@config_option
def employees_list(config_file: str | None) -> None:
    """List employees with their aliases."""
    with open_database(get_settings(config_file)) as db, db.transaction() as session:
        rows = fleet.list_employees(session, limit=100_000)
    for row in rows:
        click.echo(f"{row['email']}\t{row['home_country']}\t{', '.join(row['aliases'])}")


@click.command("enroll-token")
@config_option
@click.argument("email")
@click.option("--expires", default=None, help="Lifetime like 7d, 12h, 30m (default: setting "
              "enroll_token_lifetime).")
@service_errors
def enroll_token(config_file: str | None, email: str, expires: str | None) -> None:
    """Print a one-time enrolment token for the employee EMAIL."""
    settings = get_settings(config_file)
    lifetime = parse_duration(expires) if expires else settings.enroll_token_lifetime
    with open_database(settings) as db, db.transaction() as session:
        issued = enrollment.issue_token(session, email=email, lifetime_seconds=lifetime,
                                        actor=cli_actor(), now=utc_now())
    click.echo(f"# one-time enrolment token for {issued.email}, "
               f"valid until {rfc3339(issued.expires_at)}", err=True)
    click.echo(issued.token)


@click.group()
def devices() -> None:
    """Devices: list, revoke, assess, mark-lost."""


@devices.command("list")
@config_option
@click.option("--active", is_flag=True, help="Hide revoked devices.")
def devices_list(config_file: str | None, active: bool) -> None:
    """List devices with owner, last check-in and state."""
    with open_database(get_settings(config_file)) as db, db.transaction() as session:
        rows = fleet.list_devices(session, include_revoked=not active)
    click.echo("id\tname\temployee\tos\tlast_checkin\tcountry\tstatus")
    for d in rows:
        status = (f"lost {d['reported_lost_at']}" if d.get("reported_lost_at") else
                  f"revoked {d['revoked_at']}" if d["revoked_at"] else "active")
        click.echo(f"{d['id']}\t{d['name']}\t{d['employee']}\t{d['os']}\t"
                   f"{d['last_checkin_at'] or 'never'}\t{d['last_country_code'] or '-'}\t{status}")


@devices.command("revoke")
@config_option
@click.argument("device_id")
@service_errors
def devices_revoke(config_file: str | None, device_id: str) -> None:
    """Revoke a device: its agent must enrol again."""
    with open_database(get_settings(config_file)) as db, db.transaction() as session:
        fleet.revoke_device(session, device_id, actor=cli_actor(), now=utc_now())
    click.echo(f"device {device_id} revoked")


@click.group("api-token")
def api_token() -> None:
    """Integration API tokens: create, revoke."""


@api_token.command("create")
@config_option
@click.argument("name")
@click.option("--scope", "scopes", multiple=True, required=True,
              type=click.Choice(api_tokens.SCOPES), help="Scope (repeatable).")
@click.option("--role", type=click.Choice(ROLES), default=None,
              help="Role the token acts with (needed for admin:* scopes).")
@service_errors
def api_token_create(config_file: str | None, name: str, scopes: tuple[str, ...],
                     role: str | None) -> None:
    """Create an API token NAME and print it (shown only once)."""
    with open_database(get_settings(config_file)) as db, db.transaction() as session:
        token_id, token = api_tokens.create(session, name=name, scopes=list(scopes), role=role,
                                            actor=cli_actor(), now=utc_now())
    click.echo(f"# API token {name} (id {token_id}), scopes {' '.join(scopes)}", err=True)
    click.echo(token)


@api_token.command("revoke")
@config_option
@click.argument("token_id")
@service_errors
def api_token_revoke(config_file: str | None, token_id: str) -> None:
    """Revoke the API token with id TOKEN_ID."""
    with open_database(get_settings(config_file)) as db, db.transaction() as session:
        api_tokens.revoke(session, token_id, actor=cli_actor(), now=utc_now())
    click.echo(f"API token {token_id} revoked")
