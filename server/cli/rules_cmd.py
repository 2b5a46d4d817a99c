"""`heedful-server rules ...`: validate, sign, verify, import and query rule bundles."""

from __future__ import annotations

import click


@click.group()
def rules() -> None:
    """Rule bundles: validate, keygen, sign, verify, import-ut1, lookup, publish."""
