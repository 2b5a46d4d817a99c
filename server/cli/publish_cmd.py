"""`heedful-server rules publish BUNDLE`: sign a bundle file with the server's key as the next
version and store it for agents (audited, with who published)."""

from __future__ import annotations

import click

from rules.errors import BundleError
from rules.loader import load_bundle_file
from server.cli.common import config_option, get_settings, open_database, service_errors
from server.services import publishing
from server.services.audit import cli_actor
from server.services.clock import utc_now
from server.services.signing_keys import load_or_create


@click.command("publish")
@config_option
@click.argument("bundle", type=click.Path(exists=True, dir_okay=False))
@click.option("--as", "as_email", default=None,
              help="Who publishes, for the audit log (default: the OS user).")
@service_errors
def publish(config_file: str | None, bundle: str, as_email: str | None) -> None:
    """Validate BUNDLE (YAML/JSON, list files inlined), sign it and publish the next version."""
    settings = get_settings(config_file)
    try:
        loaded = load_bundle_file(bundle)
    except BundleError as exc:
        raise click.ClickException("\n".join(["the bundle is not valid:", *exc.located()])) \
            from None
    with open_database(settings) as db:
        key = load_or_create(settings.effective_signing_key_path)
        with db.transaction() as session:
            published = publishing.publish(session, loaded, key=key,
                                           actor=cli_actor(as_email), now=utc_now())
    click.echo(f"published rules version {published.version} (key {published.key_id}, "
               f"sha256 {published.sha256[:16]}…) as {published.publisher}")
