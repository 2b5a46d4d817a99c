"""`heedful-agent seal-now`, `unseal-now`, `seal-status` and the offline `recover` tool.

`seal-now` and `unseal-now` work whether or not the agent is running: they use the same
journal (`seal.db` in the state folder) and wait for the same lock (`seal.lock`) as the
agent, so two processes never seal at once. `recover` needs no state folder at all.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from agent.commands import home_option
from agent.paths import resolve_home


def _bundle(home: Path) -> Any:
    from agent import enrolment
    from agent.rulebook import Rulebook
    from agent.store import Store

    store = Store(home)
    try:
        found = enrolment.load(store)
        return Rulebook(store).load(found.public_keys() if found else [])
    finally:
        store.close()


def _folders_and_policy(home: Path) -> tuple[list, Any]:
    from agent import platform
    from agent.seal.policy import SealPolicy
    from agent.seal.setup import folders_for, seal_settings

    settings = seal_settings(_bundle(home))
    return (folders_for(settings.protected_folders, platform.known_folders()),
            SealPolicy.from_rules(settings))


def _stack(home: str | None):
    from agent.seal.keys import KeyStoreError
    from agent.seal.setup import build

    state = resolve_home(home)
    folders, policy = _folders_and_policy(state)
    try:
        return build(state, folders=folders, policy=policy, lock_timeout=120.0)
    except KeyStoreError as exc:
        raise click.ClickException(str(exc)) from exc


def _run(home: str | None, action: str) -> dict[str, Any]:
    from agent.seal.errors import SealBusyError

    stack = _stack(home)
    try:
        stack.service.start_up(watch=False)
        event = stack.service.seal_now() if action == "seal" else stack.service.unseal_now()
        errors = [e.as_dict() for e in stack.service.drain_events() if e.name == "seal_error"]
    except SealBusyError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        stack.close()
    return {**event.as_dict(), "errors": errors}


def _files(n: int) -> str:
    return f"{n} file" + ("" if n == 1 else "s")


@click.command("seal-now")
@home_option
def seal_now(home: str | None) -> None:
    """Seal every pending file in the protected folders now."""
    done = _run(home, "seal")
    click.echo(f"sealed {_files(done['sealed_files'])} ({done['sealed_bytes']} bytes) in "
               f"{done['duration_seconds']} s; {done['busy_files']} busy, "
               f"{done['failed_files']} failed, {done['remaining_files']} still pending")
    for error in done["errors"]:
        click.echo(f"  {error['folder']}: {error['kind']}: {error['message']}", err=True)


@click.command("unseal-now")
@home_option
def unseal_now(home: str | None) -> None:
    """Unseal every file this agent sealed."""
    done = _run(home, "unseal")
    click.echo(f"unsealed {_files(done['unsealed_files'])} ({done['unsealed_bytes']} bytes) in "
               f"{done['duration_seconds']} s; {done['failed_files']} failed")
    for error in done["errors"]:
        click.echo(f"  {error['folder']}: {error['kind']}: {error['message']}", err=True)


def _running_state(home: Path) -> str:
    from agent.localclient import LocalApiError, LocalClient

    try:
        sensors = LocalClient(home, timeout=3.0).status().get("sensors") or []
    except (LocalApiError, OSError, ValueError):
        return "agent not running"
    seal: dict[str, Any] = next((s for s in sensors if s.get("name") == "seal"), {})
    return (seal.get("seal") or {}).get("state") or seal.get("state") or "unknown"


@click.command("seal-status")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@home_option
def seal_status(as_json: bool, home: str | None) -> None:
    """Pending, busy and sealed files, the last seal, and where the device key lives."""
    from agent.seal.db import SealDB
    from agent.seal.folders import excluding
    from agent.seal.journal import Journal
    from agent.seal.keys import KeyStoreError, load_device_key
    from agent.seal.pending import PendingJournal
    from agent.seal.setup import SEAL_DB, never_sealed
    from agent.seal.status import build_status
    from agent.seal.watcher import scan

    state = resolve_home(home)
    folders, policy = _folders_and_policy(state)
    try:
        key_status = load_device_key(state, create=False).status()
    except KeyStoreError as exc:
        key_status = {"store": f"no key yet ({exc})", "weaker": False, "key_id": ""}
    db, running = SealDB(state / SEAL_DB), _running_state(state)
    try:
        journal, pending = Journal(db), PendingJournal(db)
        if running == "agent not running":  # nobody keeps the journal current: look now
            scan(excluding(folders, *never_sealed(state)), pending, journal)
        status = build_status(journal, pending, folders, policy, key_status=key_status,
                              state=running)
    finally:
        db.close()
    if as_json:
        click.echo(json.dumps(status.as_dict(), indent=2))
    else:
        click.echo("\n".join(status.lines()))


@click.command("recover")
@click.option("--wrapped", type=click.Path(exists=True, dir_okay=False), required=True,
              help="The device's escrowed key (from `heedful-server recovery export`).")
@click.option("--recovery-key", type=click.Path(exists=True, dir_okay=False), required=True,
              help="The organisation's recovery private key (PEM), kept offline.")
@click.option("--output", type=click.Path(file_okay=False), default=None,
              help="Folder for the recovered files (default: next to each sealed file).")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
def recover(wrapped: str, recovery_key: str, output: str | None, files: tuple[str, ...]) -> None:
    """Offline: decrypt sealed FILES of a device with the organisation's recovery key."""
    from agent.seal.recover import recover_files
    from rules.escrow import EscrowError

    if output:
        Path(output).mkdir(parents=True, exist_ok=True)
    try:
        results = recover_files(Path(wrapped).read_bytes(), Path(recovery_key).read_bytes(),
                                [Path(f) for f in files], output=Path(output) if output else None)
    except EscrowError as exc:
        raise click.ClickException(f"cannot unwrap the device key: {exc}") from exc
    failed = 0
    for result in results:
        if result.output is not None:
            click.echo(f"{result.sealed} -> {result.output} ({result.size} bytes)")
        else:
            failed += 1
            click.echo(f"{result.sealed}: {result.error_kind}: {result.error}", err=True)
    if failed:
        raise click.ClickException(f"{failed} of {len(results)} files could not be recovered")


COMMANDS = (seal_now, unseal_now, seal_status, recover)
