"""sshd parser: the real Debian 12 log, classic syslog, journald JSON, year inference."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from server.ingest import Rejection, SignIn, parse

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def _split(items) -> tuple[list[SignIn], list[Rejection]]:
    items = list(items)
    return ([i for i in items if isinstance(i, SignIn)],
            [i for i in items if isinstance(i, Rejection)])


def test_real_debian_log(samples_dir: Path) -> None:
    data = (samples_dir / "sshd-auth.log").read_bytes()
    signins, rejections = _split(parse("sshd", data))
    assert rejections == []  # PAM noise, disconnects and "Server listening" are skipped
    summary = [(s.identity, s.source_ip, s.outcome, s.failure_reason, s.client) for s in signins]
    assert summary == [
        ("carol", "::1", "success", None, "password"),
        ("admin", "127.0.0.1", "failure", "unknown user", None),
        ("admin", "127.0.0.1", "failure", "unknown user (password attempt)", "password"),
        ("carol", "127.0.0.1", "failure", "wrong password", "password"),
        ("carol", "127.0.0.1", "success", None, "keyboard-interactive/pam"),
    ]
    first = signins[0]
    assert first.occurred_at == datetime(2026, 11, 25, 20, 20, 49, 626165, tzinfo=UTC)
    assert first.source_system == "ssh" and first.application == "ssh to vm"


def test_reingest_gives_the_same_ids(samples_dir: Path) -> None:
    data = (samples_dir / "sshd-auth.log").read_bytes()
    first = [s.source_event_id for s in parse("sshd", data)]
    again = [s.source_event_id for s in parse("sshd", data.decode().splitlines(keepends=True))]
    assert first == again
    assert len(set(first)) == len(first)


def test_classic_syslog_sample(ingest_samples: Path) -> None:
    data = (ingest_samples / "sshd-classic.log").read_bytes()
    signins, rejections = _split(parse("sshd", data, now=NOW))
    assert rejections == [Rejection(11, "not a syslog line (expected an RFC 3339 or RFC 3164 "
                                        "timestamp)")]
    by_identity = {}
    for s in signins:
        by_identity.setdefault(s.identity, []).append(s)
    accepted = by_identity["e1042"][0]
    assert accepted.occurred_at == datetime(2026, 11, 24, 23, 58, 2, tzinfo=UTC)
    assert accepted.client == ("publickey ED25519 "
                               "SHA256:Q3J9m2m8gXoWcTnq4k7P0yqv1w2b8Yh0rJ4oQk3bZs8")
    # sshd-session (OpenSSH >= 9.8) and IPv6
    assert by_identity["e2077"][0].source_ip == "2001:4860:4860::8888"
    assert [s.failure_reason for s in by_identity["oracle"]] == [
        "unknown user", "unknown user (password attempt)"]
    # "message repeated 2 times" counts twice, with distinct ids
    failures = [s for s in by_identity["e1042"] if s.outcome == "failure"]
    assert [s.failure_reason for s in failures] == ["wrong password"] * 3 + [
        "public key not accepted"]
    assert len({s.source_event_id for s in failures}) == 4
    assert by_identity["e3001"][0].client == "keyboard-interactive/pam"
    # "Nov  5" (space-padded day)
    assert by_identity["e4004"][0].occurred_at == datetime(2026, 11, 5, 9, 0, tzinfo=UTC)


def test_year_inference_never_puts_lines_in_the_future() -> None:
    lines = [  # an iterable is read as chunks of a stream, so lines keep their endings
        "Dec 31 23:59:58 gw sshd[1]: Accepted password for a from 8.8.8.8 port 1 ssh2\n",
        "Jan  1 00:00:03 gw sshd[2]: Accepted password for b from 8.8.8.8 port 2 ssh2\n",
    ]
    now = datetime(2027, 1, 1, 0, 5, tzinfo=UTC)
    years = [s.occurred_at.year for s in parse("sshd", lines, now=now)]
    assert years == [2026, 2027]


def test_explicit_year_wins() -> None:
    line = "Dec 31 23:59:58 gw sshd[1]: Accepted password for a from 8.8.8.8 port 1 ssh2\n"
    (signin,) = parse("sshd", line, year=2019, now=NOW)
    assert signin.occurred_at == datetime(2019, 12, 31, 23, 59, 58, tzinfo=UTC)


def test_leap_day_without_year_goes_back_to_a_leap_year() -> None:
    line = "Feb 29 10:00:00 gw sshd[1]: Failed password for a from 8.8.8.8 port 1 ssh2"
    (signin,) = parse("sshd", line, now=datetime(2026, 3, 1, tzinfo=UTC))
    assert signin.occurred_at.date().isoformat() == "2024-02-29"
    (rejection,) = parse("sshd", line, year=2026)
    assert isinstance(rejection, Rejection) and rejection.line == 1


def test_rfc3339_offsets_become_utc() -> None:
    line = ("2026-11-25T21:07:15.758918+01:00 host sshd-session[123]: Accepted publickey for "
            "e1042 from 203.0.113.5 port 51234 ssh2: ED25519 SHA256:abc")
    (signin,) = parse("sshd", line)
    assert signin.occurred_at == datetime(2026, 11, 25, 20, 7, 15, 758918, tzinfo=UTC)
    assert signin.client == "publickey ED25519 SHA256:abc"


def test_journald_json(ingest_samples: Path) -> None:
    data = (ingest_samples / "sshd-journal.json").read_bytes()
    signins, rejections = _split(parse("sshd", data))
    assert rejections == [Rejection(6, "journal entry without a usable __REALTIME_TIMESTAMP")]
    assert [s.identity for s in signins] == ["carol", "admin", "admin", "r\ufffdot", "e1042"]
    assert signins[0].occurred_at == datetime(2026, 11, 25, 20, 20, 49, 626165, tzinfo=UTC)
    assert signins[-1].source_ip == "2a02:ec0:200::1"
    assert signins[-1].application == "ssh to vm"


@pytest.mark.parametrize("line", [
    "Nov 25 20:07:15 host sshd[123]: Connection closed by 203.0.113.5 port 51234 [preauth]",
    "Nov 25 20:07:15 host sshd[123]: pam_unix(sshd:auth): authentication failure; user=e1",
    "Nov 25 20:07:15 host sudo: e1042 : TTY=pts/0 ; PWD=/home ; USER=root ; COMMAND=/bin/ls",
    "",
])
def test_non_auth_lines_are_skipped(line: str) -> None:
    assert list(parse("sshd", line, now=NOW)) == []
