"""`heedful-agent history`: one record per counted visit, UTC time, host, categories."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from click.testing import CliRunner

from agent.browsing import chromium as c
from agent.cli import main

T0 = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
SINGLE = c.CHAIN_START | c.CHAIN_END
BUNDLE = """schema: 1
version: 4
categories:
  gambling:
    title: Online gambling
    domains: [casino.com, bet.example]
  news:
    domains: [news.example]
"""


def run(*args, home):
    return CliRunner().invoke(main, ["history", *args, "--home", str(home)])


def make_profile(chromium_db):
    db = chromium_db()
    db.visit("https://www.casino.com/roulette?table=7", T0, c.TYPED | SINGLE)
    db.visit("https://ads.example.net/", T0, c.AUTO_SUBFRAME | SINGLE)
    db.visit("https://news.example/today", T0 + timedelta(hours=1), c.LINK | SINGLE)
    db.visit("https://example.org/", T0 + timedelta(hours=2), c.LINK | SINGLE)
    return db


def test_json_lines_with_categories_from_a_bundle_file(chromium_db, tmp_path):
    db = make_profile(chromium_db)
    bundle = tmp_path / "bundle.yaml"
    bundle.write_text(BUNDLE, encoding="utf-8")
    result = run("--browser", "chromium", "--profile", str(db.path.parent), "--json",
                 "--bundle", str(bundle), home=tmp_path / "agent")
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.output.splitlines()]
    assert records == [
        {"time": "2026-03-02T09:30:00Z", "host": "www.casino.com", "categories": ["gambling"]},
        {"time": "2026-03-02T10:30:00Z", "host": "news.example", "categories": ["news"]},
        {"time": "2026-03-02T11:30:00Z", "host": "example.org", "categories": []}]
    assert "roulette" not in result.output  # hosts only, never paths


def test_since_and_text_output(chromium_db, tmp_path):
    db = make_profile(chromium_db)
    bundle = tmp_path / "bundle.yaml"
    bundle.write_text(BUNDLE, encoding="utf-8")
    result = run("--browser", "chromium", "--profile", str(db.path), "--since",
                 "2026-03-02T10:00:00+00:00", "--bundle", str(bundle), home=tmp_path / "agent")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("2026-03-02T10:30:00Z  news.example") and lines[0].endswith("news")


def test_firefox_profile_with_the_agents_own_bundle(firefox_db, tmp_path):
    from rules.defaults import load_default_bundle

    listed = load_default_bundle().categories["gambling"].domains[0]
    db = firefox_db()
    db.visit(f"https://www.{listed}/", T0)
    result = run("--browser", "firefox", "--profile", str(db.path.parent), "--json",
                 home=tmp_path / "agent")  # never enrolled: the built-in bundle is in force
    assert result.exit_code == 0, result.output
    record = json.loads(result.output)
    assert record["host"] == f"www.{listed}" and "gambling" in record["categories"]


def test_errors_say_what_is_wrong(tmp_path):
    profile = tmp_path / "Default"
    profile.mkdir()
    (profile / "History").write_bytes(b"garbage, not a database at all" * 100)
    result = run("--browser", "chromium", "--profile", str(profile), home=tmp_path / "agent")
    assert result.exit_code == 1
    assert "cannot read the history now" in result.output and "History" in result.output
    result = run("--browser", "chromium", "--profile", str(profile), "--since", "yesterday",
                 home=tmp_path / "agent")
    assert result.exit_code == 2 and "not an ISO 8601 date" in result.output
