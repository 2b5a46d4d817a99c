"""`heedful-server`: the operator's command line.

Each command group lives in its own module and is registered here, so this file stays a table
of contents.
"""

from __future__ import annotations

import click

from server.cli.admin_cmds import api_token, create_admin, devices, employees, enroll_token
from server.cli.ops_cmds import migrate, run, show_settings
from server.cli.publish_cmd import publish
from server.cli.recovery_cmds import assess, mark_lost, recovery
from server.cli.rules_cmd import rules
from server.cli.signin_cmds import COMMANDS as SIGNIN_COMMANDS


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="heedful", prog_name="heedful-server")
def main() -> None:
    """Heedful server: API for agents and integrations, console, ingestion and detection."""


main.add_command(rules)
rules.add_command(publish)
for _command in (run, migrate, show_settings, create_admin, employees, enroll_token, devices,
                 api_token):
    main.add_command(_command)
main.add_command(recovery)  # seal on idle (issue 6): recovery keygen/export, lost devices
devices.add_command(assess)
devices.add_command(mark_lost)
for _command in SIGNIN_COMMANDS:  # sign-ins (issue 4): ingest, logins, connectors
    main.add_command(_command)
