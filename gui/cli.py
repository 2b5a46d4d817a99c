"""`heedful-tray`: the employee's tray app."""

from __future__ import annotations

import click


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="heedful", prog_name="heedful-tray")
def main() -> None:
    """Heedful tray: status, nudges, your sign-ins and reports (talks only to the local agent)."""
    raise click.ClickException(
        "the tray app is not built yet; the agent works without it (see `heedful-agent status`)"
    )
