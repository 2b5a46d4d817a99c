"""`heedful-agent`: the agent's command line."""

from __future__ import annotations

import click


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="heedful", prog_name="heedful-agent")
def main() -> None:
    """Heedful agent: seal on idle, browsing nudges and the uplink to the server."""


# Agent core (issue 5): enroll, run, status, ledger, config — see agent/commands.py.
from agent.commands import COMMANDS as _CORE_COMMANDS  # noqa: E402

for _command in _CORE_COMMANDS:
    main.add_command(_command)


# Seal on idle (issue 6): seal-now, unseal-now, seal-status, recover — see agent/seal/cli.py.
from agent.seal.cli import COMMANDS as _SEAL_COMMANDS  # noqa: E402

for _command in _SEAL_COMMANDS:
    main.add_command(_command)


# Browsing nudges (issue 7): history — see agent/browsing/cli.py.
from agent.browsing.cli import history as _history_command  # noqa: E402

main.add_command(_history_command)
