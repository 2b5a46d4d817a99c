"""Sign-in commands: `ingest FILE`, `logins`, and `connectors pull okta|graph` (docs/ingest.md).

Files are streamed (line formats are never read whole); the report is the same as the API's.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from typing import Any

import click

from server.cli.common import config_option, get_settings, open_database, service_errors
from server.context import geolocator_from_settings
from server.ingest import FORMATS, parse
from server.ingest.connectors import ConnectorError, GraphSignInConnector, OktaLogConnector
from server.ingest.connectors.graph import GRAPH_V1
from server.services import connector_runs
from server.services.clock import rfc3339
from server.services.ingest_input import ingest_input
from server.services.ingestion import Ingestor
from server.services.signin_records import signin_json
from server.storage import connector_cursors
from server.storage import employees as employee_store
from server.storage import signins as signin_store

format_option = click.option("--format", "format_name", required=True,
                             type=click.Choice(sorted(FORMATS)), help="Input format.")
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


def _print_report(report: dict[str, Any], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    summary = ", ".join(f"{key} {report[key]}" for key in
                        ("accepted", "duplicates", "unmapped", "flagged") if key in report)
    click.echo(summary + f", rejected {report['rejected_total']}")
    for item in report["rejected"]:
        click.echo(f"  line {item['line']}: {item['reason']}")


@click.command("ingest")
@config_option
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@format_option
@click.option("--year", type=int, default=None,
              help="Year of classic syslog lines, which carry none (default: inferred).")
@json_option
@service_errors
def ingest(config_file: str | None, path: str, format_name: str, year: int | None,
           as_json: bool) -> None:
    """Ingest sign-ins from PATH; re-ingesting the same file changes nothing."""
    settings = get_settings(config_file)
    geolocator = geolocator_from_settings(settings)
    with (open_database(settings) as db, open(path, "rb") as stream,
          Ingestor(db, geolocator=geolocator) as ingestor):
        chunks = iter(lambda: stream.read(1 << 16), b"")
        ingestor.feed(parse(format_name, ingest_input(format_name, chunks), year=year))
    _print_report(ingestor.report.as_dict(), as_json)


def _row_line(row: dict[str, Any]) -> str:
    shown = signin_json(row)
    flags = "; ".join(f"{f['kind']}: {f['reason']}" for f in shown["flags"])
    return "\t".join([shown["occurred_at"], row["identity"], shown["source_system"],
                      shown["outcome"], shown["source_ip"] or "-", shown["place"]["label"],
                      flags or "-"])


@click.command("logins")
@config_option
@click.option("--employee", default=None, help="Only this employee (email).")
@click.option("--flagged", is_flag=True, help="Only sign-ins a detector flagged.")
@click.option("--limit", type=click.IntRange(1, 100_000), default=50, show_default=True)
@json_option
@service_errors
def logins(config_file: str | None, employee: str | None, flagged: bool, limit: int,
           as_json: bool) -> None:
    """List stored sign-ins, newest first, with place and flags."""
    with open_database(get_settings(config_file)) as db, db.transaction() as session:
        employee_id = None
        if employee is not None:
            person = employee_store.get_by_email(session, employee)
            if person is None:
                raise click.ClickException(f"no employee {employee}")
            employee_id = person.id
        rows = signin_store.list_signins(session.connection(), employee_id=employee_id,
                                         flagged=flagged, limit=limit)
    if as_json:
        click.echo(json.dumps([{**signin_json(r, with_details=True), "identity": r["identity"],
                                "employee_id": r["employee_id"]} for r in rows], indent=2))
        return
    for row in rows:
        click.echo(_row_line(row))


@click.group("connectors")
def connectors() -> None:
    """Pull sign-ins from identity providers' APIs (cursor kept in the database)."""


@connectors.group("pull")
def pull() -> None:
    """Pull from one provider until caught up; run again later to continue."""


def _token(variable: str) -> str:
    value = os.environ.get(variable, "").strip()
    if not value:
        raise click.ClickException(f"environment variable {variable} is empty or not set")
    return value


def _run(config_file: str | None, make: Any, max_pages: int | None, as_json: bool) -> None:
    settings = get_settings(config_file)
    geolocator = geolocator_from_settings(settings)
    with open_database(settings) as db:
        store = connector_runs.DatabaseCursorStore(db)
        connector = make(store)
        with Ingestor(db, geolocator=geolocator) as ingestor:
            try:
                result = connector_runs.pull(connector, ingestor, max_pages=max_pages)
            except ConnectorError as exc:
                raise click.ClickException(f"{exc} (the cursor keeps the last page "
                                           "completed; run again to resume)") from None
    if not as_json:
        click.echo(f"pages {result['pages']}, ", nl=False)
    _print_report(result, as_json)


since_option = click.option("--since", type=click.DateTime(["%Y-%m-%dT%H:%M:%S%z",
                                                            "%Y-%m-%d"]),
                            default=None, help="Where the first run starts (no stored cursor).")
pages_option = click.option("--max-pages", type=click.IntRange(1), default=None,
                            help="Stop after this many pages (the cursor is kept).")
size_option = click.option("--page-size", type=click.IntRange(1, 1000), default=None,
                           help="Records per page (default: Okta 1000, Graph 999).")


def _aware(moment: datetime | None) -> datetime | None:
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


@pull.command("okta")
@config_option
@click.option("--url", required=True, help="Okta org URL, e.g. https://corp.okta.com")
@click.option("--token-env", required=True, help="Environment variable holding the API token.")
@since_option
@pages_option
@size_option
@json_option
@service_errors
def pull_okta(config_file: str | None, url: str, token_env: str, since: datetime | None,
              max_pages: int | None, page_size: int | None, as_json: bool) -> None:
    """Okta System Log (GET /api/v1/logs)."""
    token = _token(token_env)
    _run(config_file, lambda store: OktaLogConnector(url, token, cursor_store=store,
                                                     since=_aware(since),
                                                     limit=page_size or 1000),
         max_pages, as_json)


@pull.command("graph")
@config_option
@click.option("--url", default=GRAPH_V1, show_default=True, help="Microsoft Graph base URL.")
@click.option("--token-env", required=True, help="Environment variable holding a bearer token.")
@since_option
@pages_option
@size_option
@json_option
@service_errors
def pull_graph(config_file: str | None, url: str, token_env: str, since: datetime | None,
               max_pages: int | None, page_size: int | None, as_json: bool) -> None:
    """Microsoft Entra ID sign-ins (GET /auditLogs/signIns)."""
    token = _token(token_env)
    _run(config_file, lambda store: GraphSignInConnector(token, cursor_store=store,
                                                         base_url=url, since=_aware(since),
                                                         page_size=page_size or 999),
         max_pages, as_json)


@connectors.command("cursors")
@config_option
def cursors(config_file: str | None) -> None:
    """Show each connector's stored cursor."""
    with open_database(get_settings(config_file)) as db, db.transaction() as session:
        rows = connector_cursors.list_cursors(session)
    for row in rows:
        click.echo(f"{row.key}\t{rfc3339(row.updated_at)}\t{row.value}")
    if not rows:
        click.echo("no cursors stored yet")


COMMANDS = (ingest, logins, connectors)
