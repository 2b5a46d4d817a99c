"""`heedful-server rules ...`: validate, sign, verify, import and query rule bundles.

This module holds the offline commands only (files in, files out); commands that talk to a
running server (e.g. `publish`) belong in their own module and are added to this group.

Exit codes: 0 success; 1 invalid input or refused operation; 2 usage error (click). `verify`
uses one code per refusal so scripts can tell them apart: 3 malformed envelope, 4 unknown key,
5 bad signature, 6 rollback refused, 7 expired, 8 not yet valid.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NoReturn

import click

from rules import errors
from rules.categories import CategoryIndex
from rules.loader import load_bundle_file, validate_bundle
from rules.model import Bundle
from rules.signing import (
    envelope_bytes,
    generate_private_key,
    key_id,
    load_private_key,
    load_public_key,
    parse_envelope,
    private_key_to_pem,
    public_key_pem,
    read_envelope_unverified,
    sign_bundle,
    verify_envelope,
)
from rules.types import format_rfc3339
from rules.ut1 import import_ut1

VERIFY_EXIT_CODES: dict[type[errors.VerificationError], int] = {
    errors.MalformedEnvelope: 3,
    errors.UnknownKey: 4,
    errors.SignatureInvalid: 5,
    errors.RollbackRefused: 6,
    errors.BundleExpired: 7,
    errors.BundleNotYetValid: 8,
}
KEY_NAME = "rules-signing"


@click.group()
def rules() -> None:
    """Rule bundles: validate, keygen, sign, verify, import-ut1, lookup, publish."""


def _fail(message: str, code: int = 1) -> NoReturn:
    click.echo(message, err=True)
    raise SystemExit(code)


def _fail_bundle(exc: errors.BundleError) -> NoReturn:
    for line in exc.located():
        click.echo(line, err=True)
    _fail(f"{exc.source}: {len(exc.errors)} problem(s)")


def _load_any(path: Path) -> Bundle:
    """A bundle from a YAML/JSON bundle file (lists resolved) or from a signed envelope, which
    is NOT verified here (callers that need trust use `verify`)."""
    try:
        data = path.read_bytes()
    except OSError:
        data = b""  # let load_bundle_file report the unreadable file
    if data.lstrip().startswith(b"{"):
        try:
            parsed = json.loads(data)
        except ValueError:
            parsed = None  # load_bundle_file reports the syntax error with line and column
        if isinstance(parsed, dict) and "format" in parsed and "signature" in parsed:
            try:
                return read_envelope_unverified(parsed)
            except errors.MalformedEnvelope as exc:
                _fail(f"{path}: {exc}")
    return load_bundle_file(path)


def _summary(bundle: Bundle) -> str:
    return (f"schema {bundle.schema_version}, version {bundle.version}, "
            f"{len(bundle.categories)} categories, {bundle.domain_count():,} domains, "
            f"{len(bundle.nudges)} nudge rules")


@rules.command("validate")
@click.argument("bundle", type=click.Path(dir_okay=False, path_type=Path))
def validate_cmd(bundle: Path) -> None:
    """Check BUNDLE (YAML or JSON, list files included); print each problem with its path."""
    try:
        loaded = _load_any(bundle)
    except errors.BundleError as exc:
        for line in exc.located():
            click.echo(line)
        _fail(f"{bundle}: invalid, {len(exc.errors)} problem(s)")
    click.echo(f"{bundle}: valid ({_summary(loaded)})")


def _write_new(path: Path, data: bytes, mode: int, force: bool) -> None:
    """Write `data` with permission `mode`; without `force`, never replace an existing file."""
    if not force:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        return
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.chmod(tmp, mode)
    os.replace(tmp, path)


@rules.command("keygen")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder for rules-signing.key (private, mode 0600) and rules-signing.pub.")
@click.option("--force", is_flag=True, help="Replace an existing key pair.")
def keygen_cmd(out_dir: Path, force: bool) -> None:
    """Create an Ed25519 key pair for signing bundles."""
    private_path, public_path = out_dir / f"{KEY_NAME}.key", out_dir / f"{KEY_NAME}.pub"
    existing = [str(p) for p in (private_path, public_path) if p.exists()]
    if existing and not force:
        _fail(f"refusing to overwrite {', '.join(existing)}; use --force to replace the key "
              "(agents trusting the old public key will refuse bundles signed with the new one)")
    out_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = generate_private_key()
    try:
        _write_new(private_path, private_key_to_pem(key), 0o600, force)
        _write_new(public_path, public_key_pem(key), 0o644, force)
    except FileExistsError as exc:
        _fail(f"refusing to overwrite {exc.filename}; use --force")
    click.echo(f"private key: {private_path} (keep it secret)")
    click.echo(f"public key:  {public_path} (give it to agents to trust)")
    click.echo(f"key id:      {key_id(key)}")


def _read_key(path: Path, loader: Any) -> Any:
    try:
        return loader(path.read_bytes())
    except OSError as exc:
        _fail(f"{path}: cannot read: {exc.strerror or exc}")
    except errors.KeyFormatError as exc:
        _fail(f"{path}: {exc}")


def _stamped(bundle: Bundle, now: datetime, expires_in_days: int | None) -> Bundle:
    """Set issued_at (if absent) and expires_at (if asked), re-validating the result."""
    data = bundle.to_dict()
    if bundle.issued_at is None:
        data["issued_at"] = format_rfc3339(now)
    if expires_in_days is not None:
        issued = datetime.fromisoformat(data["issued_at"].replace("Z", "+00:00"))
        data["expires_at"] = format_rfc3339(issued + timedelta(days=expires_in_days))
    return validate_bundle(data, source="bundle to sign")


@rules.command("sign")
@click.argument("bundle", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--key", "key_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Private key PEM (from `rules keygen`).")
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the signed envelope (JSON).")
@click.option("--expires-in-days", type=click.IntRange(min=1),
              help="Set expires_at this many days after issued_at.")
def sign_cmd(bundle: Path, key_path: Path, out_path: Path, expires_in_days: int | None) -> None:
    """Resolve BUNDLE's list files and sign it; issued_at is set to now if absent."""
    key = _read_key(key_path, load_private_key)
    try:
        now = datetime.now(UTC).replace(microsecond=0)
        loaded = _stamped(load_bundle_file(bundle), now, expires_in_days)
    except errors.BundleError as exc:
        _fail_bundle(exc)
    if loaded.expires_at is not None and loaded.expires_at <= now:
        _fail(f"{bundle}: expires_at {format_rfc3339(loaded.expires_at)} is already past; "
              "agents would refuse it")
    data = envelope_bytes(sign_bundle(loaded, key))
    tmp = out_path.with_name(out_path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, out_path)
    click.echo(f"signed version {loaded.version} with key {key_id(key)} -> {out_path} "
               f"({_summary(loaded)}; {len(data):,} bytes)")


@rules.command("verify")
@click.argument("signed", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--trust", "trusted", required=True, multiple=True,
              type=click.Path(dir_okay=False, path_type=Path),
              help="Trusted public key PEM; repeat for several (key rotation).")
@click.option("--min-version", type=int,
              help="Version already applied: the bundle must be newer.")
def verify_cmd(signed: Path, trusted: tuple[Path, ...], min_version: int | None) -> None:
    """Verify SIGNED.json; print its version on success, the reason for refusal otherwise."""
    keys = [_read_key(path, load_public_key) for path in trusted]
    try:
        data = signed.read_bytes()
    except OSError as exc:
        _fail(f"{signed}: cannot read: {exc.strerror or exc}")
    now = datetime.now(UTC)
    try:
        bundle = verify_envelope(data, keys, now=now, min_version=min_version)
    except errors.VerificationError as exc:
        _fail(f"{signed}: rejected: {exc}", VERIFY_EXIT_CODES.get(type(exc), 1))
    click.echo(str(bundle.version))
    issued = format_rfc3339(bundle.issued_at) if bundle.issued_at else "unset"
    expires = format_rfc3339(bundle.expires_at) if bundle.expires_at else "never"
    click.echo(f"{signed}: good signature by key {parse_envelope(data)['key_id']}; version "
               f"{bundle.version}, issued {issued}, expires {expires}", err=True)


@rules.command("import-ut1")
@click.argument("src", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder for lists/<category>.txt and bundle.yaml.")
@click.option("--category", "categories", multiple=True,
              help="Import only this UT1 category; repeat for several (default: all).")
def import_ut1_cmd(src: Path, out_dir: Path, categories: tuple[str, ...]) -> None:
    """Convert a UT1 blacklist folder into our list files and a categories bundle."""
    try:
        results = import_ut1(src, out_dir, categories or None)
    except ValueError as exc:
        _fail(str(exc))
    for result in results:
        click.echo(f"{result.name}: {result.domains:,} domains -> {result.list_path}"
                   + (f" ({len(result.skipped)} invalid lines skipped)" if result.skipped else ""))
        for line in result.skipped[:5]:
            click.echo(f"  skipped {line}", err=True)
    total = sum(r.domains for r in results)
    click.echo(f"{len(results)} categories, {total:,} domains; bundle: {out_dir / 'bundle.yaml'}")


@rules.command("lookup")
@click.argument("bundle", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("hosts", nargs=-1, required=True)
def lookup_cmd(bundle: Path, hosts: tuple[str, ...]) -> None:
    """Print `HOST<TAB>categories` for each HOST (BUNDLE: YAML/JSON bundle or signed JSON;
    a signature is not checked here, use `verify` for that)."""
    try:
        index = CategoryIndex.from_bundle(_load_any(bundle))
    except errors.BundleError as exc:
        _fail_bundle(exc)
    for host in hosts:
        click.echo(f"{host}\t{','.join(sorted(index.lookup(host)))}")
