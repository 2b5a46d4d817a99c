"""`heedful-agent history`: exactly what the agent reads from one browser profile.

For transparency and for operators: one record per visit the agent would count (after
skipping sub-frames, synced visits and HTTPS-upgrade duplicates, and following redirects),
with its UTC time, host and categories. It reads a private snapshot, like the agent, so it is
safe to run while the browser is open. Nothing is sent anywhere.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import click

from agent.browsing import chromium, firefox
from agent.browsing.policy import index_of
from agent.browsing.reader import read_database
from agent.browsing.snapshot import SnapshotError

DATABASES = {"chromium": chromium.DATABASE_NAME, "firefox": firefox.DATABASE_NAME}


def parse_since(text: str | None) -> datetime | None:
    """ISO 8601 date or date-time; without a zone it is taken as UTC."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise click.BadParameter(f"{text!r} is not an ISO 8601 date or date-time "
                                 "(e.g. 2026-03-02 or 2026-03-02T09:30:00Z)") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _bundle(bundle_file: str | None, home: str | None):
    if bundle_file:
        from rules.loader import load_bundle_file

        return load_bundle_file(bundle_file)
    from agent import enrolment
    from agent.paths import resolve_home
    from agent.rulebook import Rulebook
    from agent.store import Store

    store = Store(resolve_home(home))
    try:
        found = enrolment.load(store)
        return Rulebook(store).load(found.public_keys() if found else [])
    finally:
        store.close()


def _database(browser: str, profile: str) -> Path:
    path = Path(profile)
    return path if path.is_file() else path / DATABASES[browser]


@click.command("history")
@click.option("--browser", type=click.Choice(["chromium", "firefox"]), required=True,
              help="Which history format: chromium (Chrome, Edge, Brave, Vivaldi) or firefox.")
@click.option("--profile", "profile", required=True, type=click.Path(exists=True),
              help="The profile folder (or its History / places.sqlite file).")
@click.option("--since", default=None, help="Only visits at or after this ISO date-time.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.option("--bundle", "bundle_file", type=click.Path(exists=True, dir_okay=False),
              default=None, help="Categorise with this bundle file instead of the agent's.")
@click.option("--home", type=click.Path(file_okay=False), default=None,
              help="The agent's state folder (default: HEEDFUL_AGENT_HOME, then the "
                   "per-user data folder).")
def history(browser: str, profile: str, since: str | None, as_json: bool,
            bundle_file: str | None, home: str | None) -> None:
    """Print what the agent reads from a browser profile: UTC time, host, categories."""
    start = parse_since(since)
    index = index_of(_bundle(bundle_file, home))
    try:
        visits = read_database(_database(browser, profile), browser, since=start, settle=0.0)
    except SnapshotError as exc:
        raise click.ClickException(f"cannot read the history now: {exc}") from exc
    for visit in visits:
        when = visit.time.isoformat(timespec="seconds").replace("+00:00", "Z")
        categories = sorted(index.lookup(visit.host))
        if as_json:
            click.echo(json.dumps({"time": when, "host": visit.host,
                                   "categories": categories}))
        else:
            click.echo(f"{when}  {visit.host:<40} {','.join(categories)}")
