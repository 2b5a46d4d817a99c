"""`heedful-server recovery keygen|export` and `devices assess|mark-lost|list` in-process with
click's runner, on a database the real API filled (both backends); each audited as cli:<user>."""

from __future__ import annotations

import getpass
import json
import os

import pytest
from click.testing import CliRunner

from rules import escrow as escrow_format
from server.cli import main
from server.storage import audit as audit_store

from .conftest import report, seal_state, wrap

KEY = bytes(range(64, 96))


@pytest.fixture
def cli(migrated_url, tmp_path):
    env = {"HEEDFUL_DATA_DIR": str(tmp_path / "cli-data"), "HEEDFUL_DATABASE_URL": migrated_url,
           "HEEDFUL_CONFIG": ""}
    runner = CliRunner()

    def invoke(*args: str, ok: bool = True):
        result = runner.invoke(main, list(args), env=env, catch_exceptions=False)
        if ok:
            assert result.exit_code == 0, result.output
        return result

    return invoke


def test_keygen_writes_the_pair_once_and_says_where_to_configure_it(cli, tmp_path):
    out = tmp_path / "keys"
    made = cli("recovery", "keygen", "--out", str(out))
    private, public = out / "recovery-private.pem", out / "recovery-public.key"
    assert os.stat(private).st_mode & 0o777 == 0o600
    assert "recovery_public_key_path" in made.output
    assert "HEEDFUL_RECOVERY_PUBLIC_KEY_PATH" in made.output and "OFFLINE" in made.output
    first = public.read_bytes()
    refused = cli("recovery", "keygen", "--out", str(out), ok=False)
    assert refused.exit_code == 1 and "--force" in refused.output
    assert public.read_bytes() == first
    cli("recovery", "keygen", "--out", str(out), "--force")
    assert public.read_bytes() != first
    pair_public = escrow_format.load_public_key(public.read_bytes())
    blob = escrow_format.wrap_key(KEY, pair_public, key_id="k", device_id="d")
    raw = escrow_format.load_private_key(private.read_bytes())
    assert escrow_format.unwrap_key(blob, raw).secret == KEY


def test_export_assess_mark_lost_and_list(cli, escrow_harness, recovery, tmp_path):
    from agent.seal.format import key_id

    h = escrow_harness
    device = h.enroll(name="LAPTOP-CLI")
    device_id, kid = device["device_id"], key_id(KEY).hex()
    blob = wrap(KEY, recovery, device_id)
    assert h.client.put("/api/v1/escrow", json={"key_id": kid, "escrow": blob},
                        headers=h.auth(device)).status_code == 201
    report(h, device, seal_state(idle=900, state="away", pending_files=2, pending_bytes=99))

    target = tmp_path / "wrapped.json"
    exported = cli("recovery", "export", device_id, "--out", str(target))
    assert target.read_bytes() == blob.encode() and os.stat(target).st_mode & 0o777 == 0o600
    assert kid in exported.output
    assert cli("recovery", "export", device_id, "--out", str(target), ok=False).exit_code == 1
    printed = cli("recovery", "export", device_id).output
    assert blob in printed
    missing = cli("recovery", "export", "no-such-device", ok=False)
    assert missing.exit_code == 1 and "no device" in missing.output

    result = json.loads(cli("devices", "assess", device_id, "--json").output)
    assert result["verdict"] == "likely_exposure" and result["device"]["name"] == "LAPTOP-CLI"
    text = cli("devices", "assess", device_id).output
    assert "verdict:  LIKELY EXPOSURE" in text and "2 files (99 B)" in text and kid in text

    marked = cli("devices", "mark-lost", device_id, "--note", "stolen from a car")
    assert "revoked" in marked.output and kid in marked.output
    assert f"lost {marked.output.split(' at ')[1].split(';')[0]}" in \
        cli("devices", "list").output
    assert h.checkin(device).json()["error"] == "device_invalid"
    with h.ctx.db.transaction() as s:
        actors = {(e.action, e.actor) for e in audit_store.entries(s, limit=50)}
    me = f"cli:{getpass.getuser()}"
    assert {("escrow.export", me), ("device.assess", me), ("device.mark_lost", me)} <= actors
