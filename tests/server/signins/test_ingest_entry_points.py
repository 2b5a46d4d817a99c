"""Both entry points (POST /api/v1/ingest/logins and `heedful-server ingest`) on both databases:
every format, idempotent re-ingest, unmapped identities, rejected lines with their numbers,
authentication, the body limit and a streamed (chunked) NDJSON upload."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from click.testing import CliRunner

from server.cli import main
from server.ingest import Rejection, SignIn, parse
from server.storage import signins as signin_store

NOW = datetime(2026, 11, 26, tzinfo=UTC)
SAMPLES_DIR = Path(__file__).resolve().parent.parent / "ingest" / "samples"
CASES = [("okta", "okta-logs.json"), ("okta", "okta-export.ndjson"),
         ("entra", "entra-signins-page.json"), ("entra", "entra-signins-array.json"),
         ("sshd", "sshd-classic.log"), ("sshd", "sshd-journal.json"),
         ("windows", "windows-wevtutil.xml"), ("windows", "windows-getwinevent.json"),
         ("generic", "generic.csv"), ("generic", "generic.ndjson")]


def expected(fmt: str, name: str) -> tuple[int, list[int]]:
    """(distinct sign-ins, rejected line numbers) straight from the parser."""
    items = list(parse(fmt, (SAMPLES_DIR / name).read_bytes(), year=2026, now=NOW))
    keys = {(i.source_system, i.source_event_id) for i in items if isinstance(i, SignIn)}
    return len(keys), [i.line for i in items if isinstance(i, Rejection)]


def stored(h) -> list[dict]:
    with h.ctx.db.transaction() as s:
        return signin_store.list_signins(s.connection(), limit=10_000)


def employees(h) -> None:
    h.add_employee("e1042@corp.example", "GB", ("e1042", "CORP\\e1042"))
    h.add_employee("e2077@corp.example", "GB", ("e2077",))


def test_every_format_through_the_api_is_idempotent(app, kit) -> None:
    employees(app)
    token = kit.ingest_token(app)
    total = 0
    for fmt, name in CASES:
        count, rejected_lines = expected(fmt, name)
        body = (kit.SAMPLES / name).read_bytes()
        first = kit.post_logins(app, token, fmt, body, year=2026)
        assert first.status_code == 200, first.text
        report = first.json()
        assert [r["line"] for r in report["rejected"]] == rejected_lines, name
        assert report["accepted"] + report["duplicates"] >= count, name
        total += report["accepted"]
        again = kit.post_logins(app, token, fmt, body, year=2026).json()
        assert again["accepted"] == 0 and again["duplicates"] >= count, name
        assert again["unmapped"] == 0 and again["flagged"] == 0
    rows = stored(app)
    assert len(rows) == total > 30
    assert {r["source_system"] for r in rows} >= {"okta", "entra", "ssh", "windows"}
    mapped = {r["identity"] for r in rows if r["employee_id"] is not None}
    assert {"e1042", "e1042@corp.example", "CORP\\e1042"} <= mapped  # alias, email, DOMAIN\
    unmapped = [r for r in rows if r["employee_id"] is None]
    assert unmapped and all(r["flags"] == [] for r in unmapped)
    london = next(r for r in rows if r["source_ip"] == "81.2.69.142")
    assert london["country_code"] == "GB" and london["accuracy_radius_km"] == 200.0


def test_report_counts_unmapped_and_rejected(app, kit) -> None:
    employees(app)
    body = (b"identity,time,ip,outcome,event_id\n"
            b"e1042,2026-11-24T08:00:00Z,81.2.69.142,success,a1\n"
            b"nobody@elsewhere.example,2026-11-24T08:01:00Z,81.2.69.142,success,a2\n"
            b"e2077,yesterday,81.2.69.142,success,a3\n"
            b"CORP\\E2077,2026-11-24T08:03:00Z,10.1.2.3,failure,a4\n")
    report = kit.post_logins(app, kit.ingest_token(app), "generic-csv", body).json()
    assert report == {"accepted": 3, "duplicates": 0, "unmapped": 1, "flagged": 0,
                      "rejected": [{"line": 4, "reason": "unreadable time 'yesterday'"}],
                      "rejected_total": 1}
    rows = {r["source_event_id"]: r for r in stored(app)}
    assert rows["a2"]["employee_id"] is None and rows["a2"]["identity"] == \
        "nobody@elsewhere.example"
    assert rows["a4"]["employee_id"] is not None  # CORP\E2077 -> alias e2077
    assert rows["a4"]["place_kind"] == "internal" and rows["a4"]["country_code"] is None


def test_ingest_needs_a_token_with_the_ingest_scope(app, kit) -> None:
    body = b"identity,time\ne1042,2026-11-24T08:00:00Z\n"
    no_token = app.client.post("/api/v1/ingest/logins?format=generic", content=body)
    assert no_token.status_code == 401 and no_token.json()["error"] == "unauthenticated"
    wrong = kit.post_logins(app, "hfa_not-a-token", "generic", body)
    assert wrong.status_code == 401
    admin = kit.ingest_token(app, scopes=("admin:write",), role="security_admin")
    forbidden = kit.post_logins(app, admin, "generic", body)
    assert forbidden.status_code == 403 and forbidden.json()["error"] == "forbidden"
    unknown = kit.post_logins(app, kit.ingest_token(app), "syslog-ng", body)
    assert unknown.status_code == 422 and "known formats" in unknown.json()["message"]
    assert stored(app) == []


def test_streamed_ndjson_and_the_body_limit(make_app, geolocator, kit) -> None:
    h = make_app(geolocator, max_ingest_bytes="2000")
    employees(h)
    token = kit.ingest_token(h)
    lines = [json.dumps({"identity": "e1042", "time": f"2026-11-24T08:{m:02d}:00Z",
                         "ip": "81.2.69.142", "event_id": f"n{m}"}) + "\n" for m in range(10)]

    def chunks():  # no Content-Length: sent chunked, cut mid-line
        text = "".join(lines).encode()
        for start in range(0, len(text), 97):
            yield text[start:start + 97]

    report = kit.post_logins(h, token, "generic-ndjson", chunks()).json()
    assert report["accepted"] == 10 and report["rejected"] == []
    big = ("".join(lines) * 5).encode()
    too_large = kit.post_logins(h, token, "generic-ndjson", big)
    assert too_large.status_code == 413 and too_large.json()["error"] == "body_too_large"
    # other routes keep the ordinary limit; the ingest limit is its own setting
    assert h.settings.max_ingest_bytes == 2000 != h.settings.max_body_bytes


def test_cli_ingest_and_logins(app, tmp_path, kit) -> None:
    employees(app)
    env = {"HEEDFUL_DATA_DIR": str(tmp_path / "cli"), "HEEDFUL_CONFIG": "",
           "HEEDFUL_DATABASE_URL": app.settings.database_url}
    runner = CliRunner()

    def cli(*args: str):
        result = runner.invoke(main, list(args), env=env, catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.output

    total = 0
    for fmt, name in CASES:
        count, rejected_lines = expected(fmt, name)
        path = str(kit.SAMPLES / name)
        report = json.loads(cli("ingest", path, "--format", fmt, "--year", "2026", "--json"))
        assert [r["line"] for r in report["rejected"]] == rejected_lines
        total += report["accepted"]
        again = json.loads(cli("ingest", path, "--format", fmt, "--year", "2026", "--json"))
        assert again["accepted"] == 0
    text = cli("ingest", str(kit.SAMPLES / "generic.csv"), "--format", "generic")
    assert text.startswith("accepted 0, duplicates 4, unmapped 0, flagged 0, rejected 4")
    assert "  line 5: unreadable time 'not a time'" in text
    listed = json.loads(cli("logins", "--json", "--limit", "1000"))
    assert len(listed) == total
    flagged = json.loads(cli("logins", "--flagged", "--json"))
    assert flagged and all(item["flags"] for item in flagged)
    assert any("km/h" in f["reason"] for item in flagged for f in item["flags"])
    mine = json.loads(cli("logins", "--employee", "E2077@corp.example", "--json"))
    assert mine and {item["employee_id"] for item in mine} == {
        next(i for i in listed if i["identity"] == "e2077")["employee_id"]}
    text = cli("logins", "--employee", "e2077@corp.example")
    assert len(text.splitlines()) == len(mine) and "\te2077\tssh\t" in text
