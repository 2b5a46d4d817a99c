"""`heedful-server` commands against real databases (both backends), run in-process with
click's runner and a real environment; every privileged command is audited as cli:<user>."""

from __future__ import annotations

import getpass

import pytest
from click.testing import CliRunner

from rules.signing import verify_envelope
from server.cli import main
from server.services.clock import utc_now
from server.storage import audit as audit_store
from server.storage import rulesets
from server.storage.db import Database

BUNDLE = """schema: 1
version: 1
categories:
  gambling:
    lists: [gambling.txt]
"""


@pytest.fixture
def cli(database_url, tmp_path):
    env = {"HEEDFUL_DATA_DIR": str(tmp_path / "data"), "HEEDFUL_DATABASE_URL": database_url,
           "HEEDFUL_CONFIG": ""}
    runner = CliRunner()

    def invoke(*args: str, input: str | None = None, ok: bool = True):
        result = runner.invoke(main, list(args), env=env, input=input, catch_exceptions=False)
        if ok:
            assert result.exit_code == 0, result.output
        return result

    invoke.url = database_url
    return invoke


def _audit(url: str):
    db = Database(url)
    try:
        with db.transaction() as s:
            return [(e.actor, e.action, e.target) for e in reversed(audit_store.entries(s))]
    finally:
        db.dispose()


def test_commands_refuse_an_unmigrated_database(cli):
    result = cli("devices", "list", ok=False)
    assert result.exit_code == 1
    assert "run `heedful-server migrate`" in result.output


def test_operator_workflow(cli, tmp_path):
    from server.migrations import head_revision
    assert f"is at schema {head_revision()}" in cli("migrate").output
    cli("create-admin", "admin@corp.example", "--role", "auditor", "--password-stdin",
        input="correct horse battery\n")
    short = cli("create-admin", "b@corp.example", "--password-stdin", input="short\n", ok=False)
    assert short.exit_code == 1 and "at least 10 characters" in short.output
    cli("employees", "add", "e1042@corp.example", "--home-country", "gb", "--alias", "e1042",
        "--alias", "CORP\\e1042")
    dup = cli("employees", "add", "x@corp.example", "--home-country", "GB", "--alias", "E1042",
              ok=False)
    assert dup.exit_code == 1 and "already used" in dup.output
    assert "e1042, CORP\\e1042" in cli("employees", "list").output

    token = cli("enroll-token", "e1042@corp.example", "--expires", "2d").stdout.strip()
    assert token.startswith("het_") and len(token) == 47
    from fastapi.testclient import TestClient

    from server.app import create_app
    from server.settings import load_settings
    settings = load_settings(environ={"HEEDFUL_DATA_DIR": str(tmp_path / "data"),
                                      "HEEDFUL_DATABASE_URL": cli.url})
    app = create_app(settings, geolocator=None)
    with TestClient(app) as client:
        enrolled = client.post("/api/v1/enroll", json={"token": token, "name": "CLI-LAPTOP",
                                                       "os": "linux", "agent_version": "1"})
        assert enrolled.status_code == 201
        device_id = enrolled.json()["device_id"]
        listing = cli("devices", "list").output
        assert device_id in listing and "CLI-LAPTOP" in listing and "active" in listing
        assert "revoked" in cli("devices", "revoke", device_id).output
        assert "is revoked already" in cli("devices", "revoke", device_id, ok=False).output
        assert cli("devices", "list", "--active").output.count("\n") == 1  # header only
    api = cli("api-token", "create", "siem", "--scope", "ingest")
    assert api.stdout.strip().startswith("hfa_")
    user = getpass.getuser()
    actions = [(actor, action) for actor, action, _ in _audit(cli.url)]
    assert (f"cli:{user}", "console_user.create") in actions
    assert (f"cli:{user}", "employee.create") in actions
    assert (f"cli:{user}", "enrollment_token.create") in actions
    assert (f"cli:{user}", "device.revoke") in actions
    assert (f"cli:{user}", "api_token.create") in actions


def test_rules_publish_signs_next_version_with_server_key(cli, tmp_path):
    cli("migrate")
    folder = tmp_path / "policy"
    folder.mkdir()
    (folder / "bundle.yaml").write_text(BUNDLE)
    (folder / "gambling.txt").write_text("bet365.com\npokerstars.com\n")
    first = cli("rules", "publish", str(folder / "bundle.yaml"), "--as", "sec@corp.example")
    assert "published rules version 1" in first.output and "cli:sec@corp.example" in first.output
    second = cli("rules", "publish", str(folder / "bundle.yaml"))
    assert "published rules version 2" in second.output
    key_path = tmp_path / "data" / "signing-key.pem"
    assert key_path.stat().st_mode & 0o777 == 0o600
    from server.services.signing_keys import load_or_create
    key = load_or_create(key_path, create=False)
    db = Database(cli.url)
    with db.transaction() as s:
        latest = rulesets.latest(s)
        publishers = [r.publisher for r in rulesets.list_versions(s)]
    db.dispose()
    bundle = verify_envelope(latest.envelope, [key.public_key_pem], now=utc_now())
    assert bundle.version == 2
    assert bundle.categories["gambling"].domains == ("bet365.com", "pokerstars.com")
    assert publishers == [f"cli:{getpass.getuser()}", "cli:sec@corp.example"]
    assert ("cli:sec@corp.example", "rules.publish", "rules v1") in _audit(cli.url)
    (folder / "bad.yaml").write_text("schema: 1\nversion: 1\nnudges: [{categories: [x]}]\n")
    bad = cli("rules", "publish", str(folder / "bad.yaml"), ok=False)
    assert bad.exit_code == 1 and "bad.yaml" in bad.output and "nudges[0]" in bad.output


def test_settings_shows_sources_and_masks_secrets(tmp_path):
    config = tmp_path / "heedful.toml"
    config.write_text('checkin_interval = "2m"\nmetrics_token = "topsecret"\n'
                      'trusted_proxies = ["10.0.0.0/8"]\n')
    env = {"HEEDFUL_DATABASE_URL": "postgresql://heedful:hunter2@db.internal/heedful",
           "HEEDFUL_MAX_BODY_BYTES": "2048", "HEEDFUL_CONFIG": ""}
    result = CliRunner().invoke(main, ["settings", "--config", str(config)], env=env)
    assert result.exit_code == 0, result.output
    out = result.output
    assert "hunter2" not in out and "topsecret" not in out
    assert "postgresql+psycopg://heedful:***@db.internal/heedful" in out \
        or "postgresql://heedful:***@db.internal/heedful" in out
    lines = {line.split()[0]: line for line in out.splitlines()}
    assert lines["checkin_interval"].split()[1] == "120"
    assert f"[file {config}]" in lines["checkin_interval"]
    assert "[env HEEDFUL_MAX_BODY_BYTES]" in lines["max_body_bytes"]
    assert "10.0.0.0/8" in lines["trusted_proxies"]
    assert "[default]" in lines["port"]


def test_bad_settings_are_reported_with_their_source(tmp_path):
    result = CliRunner().invoke(main, ["settings"], env={"HEEDFUL_PORT": "eighty",
                                                         "HEEDFUL_CONFIG": ""})
    assert result.exit_code == 1
    assert "setting port from env HEEDFUL_PORT" in result.output
    config = tmp_path / "c.toml"
    config.write_text("no_such_setting = 1\n")
    result = CliRunner().invoke(main, ["settings", "--config", str(config)], env={})
    assert "unknown setting(s) no_such_setting" in result.output

