"""What the agent reads from databases written by real Chromium and Firefox (see conftest)."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from agent.browsing import chromium, firefox
from agent.browsing.snapshot import open_snapshot
from agent.browsing.visits import Role

pytestmark = pytest.mark.slow


def raw_rows(run):
    module = chromium if run.family == "chromium" else firefox
    with open_snapshot(run.database) as conn:
        return module.read_rows(conn, 0)


def test_chromium_counts_the_pages_a_person_ended_on(chromium_run):
    assert [v.host for v in chromium_run.stopped] == ["www.news.example", "www.poker.example"]
    rows = raw_rows(chromium_run)
    casino = [r for r in rows if urlsplit(r.url).hostname == "www.casino.com"]
    # the redirect chain went through casino.com over http and, for the automatic HTTPS
    # upgrade, https: several rows, none of them the end of the chain
    assert {urlsplit(r.url).scheme for r in casino} == {"http", "https"}
    assert all(r.role is Role.HOP for r in casino)
    assert not any("ads.example.net" in r.url and r.role is Role.FINAL for r in rows)


def test_chromium_history_read_while_the_browser_runs(chromium_run):
    assert [v.host for v in chromium_run.running] == [v.host for v in chromium_run.stopped]
    assert [v.time for v in chromium_run.running] == [v.time for v in chromium_run.stopped]


def test_firefox_counts_redirect_targets_and_drops_https_first_retries(firefox_run):
    assert [v.host for v in firefox_run.stopped] == [
        "www.news.example", "www.casino.com", "www.poker.example"]
    rows = raw_rows(firefox_run)
    short = [r for r in rows if urlsplit(r.url).hostname == "short.example"]
    assert short and all(r.role is Role.HOP for r in short)  # source of the 302
    casino = [r for r in rows if urlsplit(r.url).hostname == "www.casino.com"]
    # HTTPS-First tried https (refused), then loaded http again: two rows for one navigation
    assert len(casino) >= 2 and all(r.role is Role.FINAL for r in casino)


def test_firefox_visits_still_in_the_wal_are_read_while_it_runs(firefox_run):
    assert [v.host for v in firefox_run.running] == [v.host for v in firefox_run.stopped]
    # the newest visits were only in places.sqlite-wal when the snapshot was taken
    assert firefox_run.running_main_only_rows < len(raw_rows(firefox_run))


def test_times_are_utc_and_in_visit_order(chromium_run, firefox_run):
    for run in (chromium_run, firefox_run):
        times = [v.time for v in run.stopped]
        assert times == sorted(times)
        assert all(t.utcoffset().total_seconds() == 0 for t in times)


def test_history_command_on_a_real_chromium_profile(chromium_run, tmp_path):
    import json

    from click.testing import CliRunner

    from agent.cli import main

    bundle = tmp_path / "bundle.yaml"
    bundle.write_text("schema: 1\nversion: 2\ncategories:\n  gambling:\n"
                      "    domains: [casino.com, poker.example]\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["history", "--browser", "chromium", "--profile",
                                       str(chromium_run.profile), "--json", "--bundle",
                                       str(bundle), "--home", str(tmp_path / "agent")])
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.output.splitlines()]
    assert [(r["host"], r["categories"]) for r in records] == [
        ("www.news.example", []), ("www.poker.example", ["gambling"])]
    assert all(r["time"].endswith("Z") for r in records)
