"""Okta System Log and Microsoft Graph signIn parsers on exports shaped as the vendors document."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from server.ingest import Rejection, SignIn, parse


def _split(items) -> tuple[list[SignIn], list[Rejection]]:
    items = list(items)
    return ([i for i in items if isinstance(i, SignIn)],
            [i for i in items if isinstance(i, Rejection)])


def test_okta_api_array(ingest_samples: Path) -> None:
    signins, rejections = _split(parse("okta", (ingest_samples / "okta-logs.json").read_bytes()))
    # policy.evaluate_sign_on, user.session.end and a CHALLENGE outcome are skipped, not rejected
    assert [s.source_event_id[-2:] for s in signins] == ["01", "02", "03", "04", "07"]
    assert rejections == [Rejection(9, "event 9f0c7a2e-ca5b-11ef-9d1c-3b6e3b2a1f09 has no "
                                       "actor.alternateId")]
    login, sso, failed, mfa, ipv6 = signins
    assert login.identity == "e1042@corp.example"
    assert login.occurred_at == datetime(2026, 11, 24, 8, 2, 11, 412000, tzinfo=UTC)
    assert login.source_ip == "81.2.69.142" and login.application == "Okta"
    assert login.client.startswith("Mozilla/5.0 (Windows NT 10.0")
    assert login.vendor_geo["city"] == "London"
    assert sso.application == "Salesforce.com"
    assert (failed.outcome, failed.failure_reason) == ("failure", "invalid credentials")
    assert mfa.outcome == "success" and mfa.source_ip == "203.180.0.1"
    assert ipv6.source_ip == "2a02:ec0:200::1" and ipv6.vendor_geo is None


def test_okta_ndjson_export_survives_a_torn_line(ingest_samples: Path) -> None:
    data = (ingest_samples / "okta-export.ndjson").read_bytes()
    signins, rejections = _split(parse("okta", data))
    assert [s.identity for s in signins] == ["e1042@corp.example", "e3001@corp.example"]
    assert [r.line for r in rejections] == [2]
    assert rejections[0].reason.startswith("invalid JSON")


def test_okta_streamed_in_small_chunks_matches_whole(ingest_samples: Path) -> None:
    data = (ingest_samples / "okta-export.ndjson").read_bytes()
    chunks = [data[i:i + 7] for i in range(0, len(data), 7)]
    assert list(parse("okta", chunks)) == list(parse("okta", data))


def test_okta_truncated_array_keeps_complete_events(ingest_samples: Path) -> None:
    text = (ingest_samples / "okta-logs.json").read_text()
    cut = text[: text.index("9f0c7a2e-ca5b-11ef-9d1c-3b6e3b2a1f03")]
    signins, rejections = _split(parse("okta", cut))
    assert [s.source_event_id[-2:] for s in signins] == ["01", "02"]
    assert len(rejections) == 1 and rejections[0].line == 3


def test_entra_graph_page(ingest_samples: Path) -> None:
    data = (ingest_samples / "entra-signins-page.json").read_bytes()
    signins, rejections = _split(parse("entra", data))
    assert [r.line for r in rejections] == [4, 5]
    assert "status.errorCode" in rejections[0].reason
    ok, failed, ipv6 = signins
    assert ok.source_event_id == "66ea54eb-6301-4ee5-be62-ff5a759b8100"
    # 7 fraction digits, as Graph writes them
    assert ok.occurred_at == datetime(2026, 11, 24, 8, 3, 41, 619583, tzinfo=UTC)
    assert ok.client == "WS-1042 · Windows 10 · Edge 131.0.2903 (Browser)"
    assert ok.application == "Office 365 Exchange Online" and ok.outcome == "success"
    assert ok.vendor_geo["countryOrRegion"] == "GB"
    assert failed.outcome == "failure"
    assert failed.failure_reason == ("Error validating credentials due to invalid username or "
                                     "password. (error 50126)")
    assert failed.client == "Ios 18 · Mobile Safari (Mobile Apps and Desktop clients)"
    assert ipv6.source_ip == "2001:4860:4860::8888" and ipv6.vendor_geo is None


def test_entra_bare_array_and_ndjson_of_pages(ingest_samples: Path) -> None:
    array = json.loads((ingest_samples / "entra-signins-array.json").read_text())
    signins, _ = _split(parse("entra", json.dumps(array)))
    assert [s.identity for s in signins] == ["e1042@corp.example", "e3001@corp.example"]
    assert signins[1].failure_reason.endswith("(error 50053)")
    pages = "\n".join(json.dumps({"value": [item]}) for item in array)
    assert [s.identity for s in parse("entra", pages)] == [s.identity for s in signins]


def test_vendor_ids_are_kept_so_reingest_is_idempotent(ingest_samples: Path) -> None:
    data = (ingest_samples / "okta-logs.json").read_bytes()
    ids = [s.source_event_id for s in parse("okta", data) if isinstance(s, SignIn)]
    assert ids == [s.source_event_id for s in parse("okta", data) if isinstance(s, SignIn)]
