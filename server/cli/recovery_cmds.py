"""Seal on idle on the command line: the recovery key pair, exporting an escrowed key, and the
lost-device commands `devices assess` and `devices mark-lost` (docs/lost-devices.md).

Exports, assessments and loss reports are audited with actor `cli:<os user>`.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import click

from server.cli.common import config_option, get_settings, open_database, service_errors
from server.services import escrow, lost_devices
from server.services.audit import cli_actor
from server.services.clock import utc_now
from server.services.recovery_keys import RecoveryKeyError, write_keypair
from server.settings import BY_NAME


@click.group()
def recovery() -> None:
    """The organisation's recovery key and escrowed device keys: keygen, export."""


@recovery.command("keygen")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Folder for recovery-private.pem and recovery-public.key.")
@click.option("--force", is_flag=True, help="Replace an existing key pair in that folder.")
def keygen(out_dir: str, force: bool) -> None:
    """Make the recovery key pair (X25519) agents escrow their seal key to."""
    try:
        files = write_keypair(Path(out_dir), force=force)
    except (RecoveryKeyError, OSError) as exc:
        raise click.ClickException(str(exc)) from None
    env = BY_NAME["recovery_public_key_path"].env
    click.echo(f"private key: {files.private_path} (mode 0600)\n"
               "  Keep it OFFLINE (not on the server): it opens every escrowed device key. "
               "`heedful-agent recover` needs it.\n"
               f"public key:  {files.public_path} (fingerprint {files.fingerprint})\n"
               "Configure the server with it and restart it:\n"
               f"  recovery_public_key_path = \"{files.public_path.resolve()}\"  "
               f"(or {env})\n"
               "Agents receive it in their next enrolment or check-in reply and escrow their "
               "seal key.")


@recovery.command("export")
@config_option
@click.argument("device_id")
@click.option("--out", "out_file", type=click.Path(dir_okay=False), default=None,
              help="Write the wrapped key to FILE (default: standard output).")
@click.option("--key-id", default=None, help="A specific device key id (default: the newest).")
@service_errors
def export(config_file: str | None, device_id: str, out_file: str | None,
           key_id: str | None) -> None:
    """Give the escrowed (wrapped) seal key of DEVICE_ID for `heedful-agent recover`."""
    if out_file and os.path.exists(out_file):
        raise click.ClickException(f"{out_file} exists already; choose another file")
    tmp = f"{out_file}.{os.getpid()}.tmp" if out_file else None
    try:
        with open_database(get_settings(config_file)) as db, db.transaction() as session:
            found = escrow.export(session, device_id, key_id=key_id, actor=cli_actor(),
                                  now=utc_now())
            if tmp:  # written before the audit entry commits, published after it did
                _write_private(tmp, found.blob)
        if out_file and tmp:
            os.link(tmp, out_file)  # fails rather than replace a file made meanwhile
    except FileExistsError:
        raise click.ClickException(f"{out_file} appeared meanwhile; export again") from None
    finally:
        if tmp and os.path.exists(tmp):
            os.unlink(tmp)
    if not out_file:
        sys.stdout.write(found.blob.decode("utf-8") + "\n")
    click.echo(f"# device {device_id}: key id {found.key_id}, wrapped to recovery key "
               f"{found.recipient}" + (f", written to {out_file}" if out_file else ""), err=True)
    if found.other_key_ids:
        click.echo(f"# older key ids also held (use --key-id): {', '.join(found.other_key_ids)}",
                   err=True)


def _write_private(path: str, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def render(result: dict[str, Any]) -> list[str]:
    """The assessment as lines for the terminal."""
    device, facts = result["device"], result["evidence"]
    seal = facts.get("seal") or {}
    lines = [f"device:   {device['id']} ({device['name']}, {device['employee']})",
             f"verdict:  {result['verdict'].upper().replace('_', ' ')} - {result['summary']}",
             "why:"] + [f"  - {reason}" for reason in result["reasons"]]
    lines += ["evidence:",
              f"  last check-in:  {facts['last_checkin_at'] or 'never'}"
              + (f" (silent {facts['silent_seconds']} s)" if facts["silent_seconds"] is not None
                 else ""),
              f"  last input:     {facts['last_input_at'] or 'unknown'}",
              f"  idle threshold: {facts['idle_threshold_seconds']:.0f} s "
              f"({facts['idle_threshold_source']})",
              f"  pending:        {seal.get('pending_files', '?')} files, "
              f"{seal.get('pending_bytes', '?')} bytes; busy {seal.get('busy_files', '?')}",
              f"  last seal:      {facts.get('last_seal_at') or 'never'}",
              f"  escrowed keys:  {', '.join(facts['escrowed_key_ids']) or 'none'}",
              "timeline:"]
    lines += [f"  {e['at']}  [{e['clock']:<6}] {e['detail']}" for e in result["timeline"]]
    return lines + ["limits:"] + [f"  - {limit}" for limit in result["limits"]]


@click.command("assess")
@config_option
@click.argument("device_id")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@service_errors
def assess(config_file: str | None, device_id: str, as_json: bool) -> None:
    """Does DEVICE_ID still hold fresh plaintext? Verdict, evidence and timeline (audited)."""
    settings = get_settings(config_file)
    with open_database(settings) as db, db.transaction() as session:
        result = lost_devices.assess_device(session, device_id, actor=cli_actor(),
                                            now=utc_now(),
                                            checkin_interval=settings.checkin_interval)
    click.echo(json.dumps(result, indent=2) if as_json else "\n".join(render(result)))


@click.command("mark-lost")
@config_option
@click.argument("device_id")
@click.option("--note", default=None, help="Free text for the audit log (e.g. a ticket).")
@service_errors
def mark_lost(config_file: str | None, device_id: str, note: str | None) -> None:
    """Report DEVICE_ID lost: revoke its credentials, keep its escrowed key for recovery."""
    with open_database(get_settings(config_file)) as db, db.transaction() as session:
        done = lost_devices.mark_lost(session, device_id, actor=cli_actor(), now=utc_now(),
                                      note=note)
    keys = ", ".join(done["escrowed_key_ids"]) or "none (nothing to recover with)"
    click.echo(f"device {device_id} reported lost at {done['reported_lost_at']}; credentials "
               f"revoked; escrowed keys: {keys}")
