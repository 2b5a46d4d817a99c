"""`heedful-server rules ...`: through click's CliRunner, and once as a real process."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from rules.defaults import default_bundle_path
from rules.signing import key_id, load_private_key, load_public_key
from server.cli import main

REPO = Path(__file__).resolve().parents[2]


def run(*args: str):
    return CliRunner().invoke(main, ["rules", *map(str, args)])


@pytest.fixture
def keys(tmp_path):
    result = run("keygen", "--out", tmp_path / "keys")
    assert result.exit_code == 0, result.output
    return tmp_path / "keys" / "rules-signing.key", tmp_path / "keys" / "rules-signing.pub"


def test_validate_good_and_bad(write, tmp_path):
    good = run("validate", default_bundle_path())
    assert good.exit_code == 0
    assert "valid (schema 1, version 1, 8 categories" in good.stdout
    bad = write("bad.yaml", """\
        version: 1
        categories:
          gambling: {domains: [casino.com], colour: red}
        nudges:
          - {categories: [gambling], countries: [FR, XX], messages: [hi]}
        """)
    result = run("validate", bad)
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        f"{bad}:3: categories.gambling.colour: unknown key; expected one of: title, "
        "description, domains, lists, reasons",
        f"{bad}:5: nudges[0].countries[1]: 'XX' is not an ISO 3166-1 alpha-2 code"]
    assert "invalid, 2 problem(s)" in result.stderr
    missing = run("validate", tmp_path / "missing.yaml")
    assert missing.exit_code == 1 and "cannot read" in missing.stdout


def test_keygen_modes_and_no_overwrite(tmp_path, keys):
    private, public = keys
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    pem = private.read_bytes()
    assert key_id(load_private_key(pem)) == key_id(load_public_key(public.read_bytes()))
    again = run("keygen", "--out", private.parent)
    assert again.exit_code == 1 and "refusing to overwrite" in again.stderr
    assert private.read_bytes() == pem
    forced = run("keygen", "--out", private.parent, "--force")
    assert forced.exit_code == 0 and private.read_bytes() != pem
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert f"key id:      {key_id(load_private_key(private.read_bytes()))}" in forced.stdout


def test_sign_then_verify(tmp_path, keys):
    private, public = keys
    signed = tmp_path / "signed.json"
    result = run("sign", default_bundle_path(), "--key", private, "--out", signed,
                 "--expires-in-days", "30")
    assert result.exit_code == 0, result.output
    envelope = json.loads(signed.read_text())
    assert envelope["format"] == "heedful-signed-bundle/1"
    assert envelope["bundle"]["issued_at"] and envelope["bundle"]["expires_at"]
    assert envelope["bundle"]["categories"]["gambling"]["lists"] == []
    good = run("verify", signed, "--trust", public)
    assert good.exit_code == 0 and good.stdout == "1\n"
    assert "good signature by key" in good.stderr


def test_verify_refusals_have_distinct_exit_codes(tmp_path, keys, write):
    private, public = keys
    signed = tmp_path / "signed.json"
    run("sign", default_bundle_path(), "--key", private, "--out", signed)
    other = run("keygen", "--out", tmp_path / "other")
    assert other.exit_code == 0
    rollback = run("verify", signed, "--trust", public, "--min-version", "1")
    assert rollback.exit_code == 6 and "not newer than version 1" in rollback.stderr
    unknown = run("verify", signed, "--trust", tmp_path / "other" / "rules-signing.pub")
    assert unknown.exit_code == 4 and "not trusted" in unknown.stderr
    rotated = run("verify", signed, "--trust", tmp_path / "other" / "rules-signing.pub",
                  "--trust", public)
    assert rotated.exit_code == 0
    tampered = tmp_path / "tampered.json"
    tampered.write_text(signed.read_text().replace('"daily_cap":3', '"daily_cap":30'))
    bad = run("verify", tampered, "--trust", public)
    assert bad.exit_code == 5 and "signature does not match" in bad.stderr
    garbage = write("garbage.json", "{oops")
    malformed = run("verify", garbage, "--trust", public)
    assert malformed.exit_code == 3 and "not JSON" in malformed.stderr
    not_a_key = run("verify", signed, "--trust", garbage)
    assert not_a_key.exit_code == 1 and "not a PEM public key" in not_a_key.stderr


def test_verify_expired_and_not_yet_valid(tmp_path, keys, write):
    private, public = keys
    for name, stamp, code, words in (
            ("old", "issued_at: 2020-01-01T00:00:00Z\nexpires_at: 2020-02-01T00:00:00Z", 1,
             "already past"),
            ("future", "issued_at: 2999-01-01T00:00:00Z", 8, "not valid before")):
        source = write(f"{name}.yaml", f"version: 3\n{stamp}\n")
        out = tmp_path / f"{name}.json"
        result = run("sign", source, "--key", private, "--out", out)
        if name == "old":  # sign refuses to produce a bundle agents would refuse
            assert result.exit_code == code and words in result.stderr and not out.exists()
            continue
        assert result.exit_code == 0
        refused = run("verify", out, "--trust", public)
        assert refused.exit_code == code and words in refused.stderr


def test_sign_reports_bundle_problems(tmp_path, keys, write):
    private, _ = keys
    source = write("b.yaml", "version: 1\ncategories: {g: {lists: [missing.txt]}}\n")
    result = run("sign", source, "--key", private, "--out", tmp_path / "s.json")
    assert result.exit_code == 1
    assert "categories.g.lists[0]: cannot read 'missing.txt'" in result.stderr
    nokey = run("sign", source, "--key", tmp_path / "none.key", "--out", tmp_path / "s.json")
    assert nokey.exit_code == 1 and "cannot read" in nokey.stderr


def test_import_ut1_then_lookup(ut1_dir, tmp_path):
    out = tmp_path / "ut1"
    result = run("import-ut1", ut1_dir, "--out", out, "--category", "gambling",
                 "--category", "stalkerware")
    assert result.exit_code == 0, result.output
    assert "gambling: 32,247 domains" in result.stdout
    assert sorted(p.name for p in (out / "lists").iterdir()) == ["gambling.txt",
                                                                 "stalkerware.txt"]
    lookup = run("lookup", out / "bundle.yaml", "WWW.0-Casino.info.", "example.com")
    assert lookup.stdout == "WWW.0-Casino.info.\tgambling\nexample.com\t\n"
    unknown = run("import-ut1", ut1_dir, "--out", out, "--category", "nope")
    assert unknown.exit_code == 1 and "unknown UT1 category 'nope'" in unknown.stderr


def test_lookup_reads_signed_envelopes_too(tmp_path, keys):
    private, _ = keys
    signed = tmp_path / "signed.json"
    run("sign", default_bundle_path(), "--key", private, "--out", signed)
    result = run("lookup", signed, "www.pokerstars.com", "mega.nz", "[::1]")
    assert result.exit_code == 0
    assert result.stdout == "www.pokerstars.com\tgambling\nmega.nz\tfile_sharing\n[::1]\t\n"


def test_real_process_keygen_sign_verify(tmp_path):
    """The installed console script, as an operator runs it."""
    exe = Path(sys.executable).parent / "heedful-server"
    assert exe.exists(), f"{exe} missing: install the project into the venv (make test)"

    def cli(*args):
        return subprocess.run([str(exe), "rules", *map(str, args)], capture_output=True,
                              text=True, timeout=60, cwd=REPO)

    assert cli("keygen", "--out", tmp_path / "k").returncode == 0
    key, pub = tmp_path / "k" / "rules-signing.key", tmp_path / "k" / "rules-signing.pub"
    signed = tmp_path / "signed.json"
    sign = cli("sign", default_bundle_path(), "--key", key, "--out", signed)
    assert sign.returncode == 0, sign.stderr
    verify = cli("verify", signed, "--trust", pub, "--min-version", "0")
    assert (verify.returncode, verify.stdout) == (0, "1\n")
    # (each start of heedful-server costs ~1.5 s here; the other commands go through CliRunner)
