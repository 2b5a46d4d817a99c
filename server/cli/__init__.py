"""`heedful-server`: the operator's command line.

Each command group lives in its own module and is registered here, so this file stays a table
of contents.
"""

from __future__ import annotations

import click

from server.cli.rules_cmd import rules


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="heedful", prog_name="heedful-server")
def main() -> None:
    """Heedful server: API for agents and integrations, console, ingestion and detection."""


main.add_command(rules)
