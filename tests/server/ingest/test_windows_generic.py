"""Windows Security 4624/4625 exports and the generic CSV/NDJSON format."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from server.ingest import Rejection, SignIn, UnknownFormat, parse
from server.ingest.formats import FORMATS


def _split(items) -> tuple[list[SignIn], list[Rejection]]:
    items = list(items)
    return ([i for i in items if isinstance(i, SignIn)],
            [i for i in items if isinstance(i, Rejection)])


def test_wevtutil_xml_stream(ingest_samples: Path) -> None:
    data = (ingest_samples / "windows-wevtutil.xml").read_bytes()
    signins, rejections = _split(parse("windows", data))
    # SYSTEM service logon, machine account and the 4634 logoff are skipped; the broken 6th
    # <Event> is rejected without losing the ones after it.
    assert [r.line for r in rejections] == [6]
    assert rejections[0].reason.startswith("event 6: mismatched tag")
    rdp, bad_password, locked, local = signins
    assert rdp.identity == "CORP\\e1042"
    assert rdp.occurred_at == datetime(2026, 11, 24, 8, 2, 11, 452187, tzinfo=UTC)
    assert rdp.source_ip == "81.2.69.142" and rdp.client == "WS-1042"
    assert rdp.application == "Windows logon to WS-1042.corp.example (RemoteInteractive, type 10)"
    assert rdp.source_event_id == "WS-1042.corp.example/1849221"
    assert bad_password.failure_reason == "wrong password (0xC000006A)"
    assert locked.failure_reason == "account locked out (0xC0000234)"
    assert locked.source_ip == "2001:4860:4860::8888"
    assert local.identity == "CORP\\e2077" and local.source_ip == "127.0.0.1"


def test_event_viewer_save_as_xml_with_root(ingest_samples: Path) -> None:
    events = (ingest_samples / "windows-wevtutil.xml").read_text().splitlines()[0]
    wrapped = f'<?xml version="1.0" encoding="utf-8"?>\n<Events>{events}</Events>'
    (signin,) = parse("windows", wrapped)
    assert signin.identity == "CORP\\e1042"


def test_local_logon_address_dash_is_none(ingest_samples: Path) -> None:
    line = (ingest_samples / "windows-wevtutil.xml").read_text().splitlines()[0]
    local = line.split("<Event ")[1].replace("81.2.69.142", "-")
    (signin,) = parse("windows", "<Event " + local)
    assert signin.source_ip is None


def test_get_winevent_json_properties(ingest_samples: Path) -> None:
    data = (ingest_samples / "windows-getwinevent.json").read_bytes()
    signins, rejections = _split(parse("windows", data))
    assert rejections == [Rejection(3, "unreadable time '/Date(garbage)/'")]
    ok, failed = signins
    assert ok.identity == "CORP\\e1042" and ok.source_ip == "193.0.6.139"
    assert ok.occurred_at == datetime(2026, 11, 24, 10, 15, 30, 250000, tzinfo=UTC)
    assert ok.source_event_id == "SRV-FILES01.corp.example/552001"
    # Status/SubStatus arrive as unsigned numbers from Properties
    assert failed.identity == "SRV-FILES01\\administrator"
    assert failed.failure_reason == "wrong password (0xC000006A)"
    assert failed.client is None


def test_powershell7_message_only_utf16(ingest_samples: Path) -> None:
    data = (ingest_samples / "windows-getwinevent-ps7-message.json").read_bytes()
    assert data[:2] == b"\xff\xfe"
    failed, ok = parse("windows", data)
    assert failed.identity == "SRV-FILES01\\administrator"
    assert failed.failure_reason == "wrong password (0xC000006A)"
    assert failed.occurred_at == datetime(2026, 11, 24, 10, 16, 2, 123456, tzinfo=UTC)
    assert failed.source_ip == "161.117.0.1"
    assert ok.identity == "CORP\\e1042" and ok.client == "WS-1042"
    assert ok.application.endswith("(Network, type 3)")


def test_generic_csv(ingest_samples: Path) -> None:
    signins, rejections = _split(parse("generic", (ingest_samples / "generic.csv").read_bytes()))
    assert [(r.line, r.reason) for r in rejections] == [
        (5, "unreadable time 'not a time'"),
        (6, "identity is empty"),
        (7, "source 'mainframe' is not one of okta, entra, ssh, windows, generic, laptop"),
        (8, "outcome 'maybe' is not success or failure"),
    ]
    vpn, tokyo, laptop, failed = signins
    assert vpn.source_event_id == "vpn-000101" and vpn.client == "Firefox 132"
    assert tokyo.occurred_at == datetime(2026, 11, 23, 23, 45, tzinfo=UTC)  # +09:00 -> UTC
    assert tokyo.client == "Chrome 131, macOS" and tokyo.failure_reason == "wrong one-time code"
    assert laptop.source_system == "laptop" and laptop.source_ip is None
    assert laptop.occurred_at == datetime(2026, 11, 24, 9, 0, tzinfo=UTC)  # naive = UTC
    assert len(laptop.source_event_id) == 32
    assert failed.outcome == "failure" and failed.failure_reason == "failed"


def test_generic_ndjson(ingest_samples: Path) -> None:
    data = (ingest_samples / "generic.ndjson").read_bytes()
    signins, rejections = _split(parse("generic", data))
    assert [r.line for r in rejections] == [3, 4]
    assert [s.identity for s in signins] == ["e1042@corp.example", "e2077", "e3001"]
    assert signins[1].occurred_at == datetime(2026, 11, 24, 9, 0, tzinfo=UTC)  # epoch seconds
    assert signins[1].failure_reason == "screen unlock failed"
    assert list(parse("generic-ndjson", data)) == list(parse("generic", data))


def test_generic_csv_header_must_name_required_columns() -> None:
    (rejection,) = parse("generic-csv", "user,when\ne1,2026-01-01T00:00:00Z\n")
    assert rejection.line == 1 and "identity, time" in rejection.reason


def test_generic_rows_without_ids_are_stable_and_distinct() -> None:
    row = "e1,2026-01-01T00:00:00Z,8.8.8.8,,,,failure,,\n"
    data = "identity,time,ip,source,application,client,outcome,reason,event_id\n" + row * 2
    ids = [s.source_event_id for s in parse("generic-csv", data)]
    assert len(set(ids)) == 2
    assert ids == [s.source_event_id for s in parse("generic-csv", data)]


def test_unknown_format_lists_known_ones() -> None:
    with pytest.raises(UnknownFormat) as info:
        parse("syslog-ng", b"")
    for name in FORMATS:
        assert name in str(info.value)
