"""Smaller parts of the pipeline: identity mapping rules (both databases), how uploads are
handed to parsers, laptop_signin conversion, location windows and paging cursors."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from server.ingest import Rejection, SignIn, parse
from server.services.device_signals import laptop_signin, window_start
from server.services.errors import InvalidInput
from server.services.identity_map import IdentityMapper, bare_name
from server.services.ingest_input import ingest_input
from server.services.my_logins import decode_cursor, encode_cursor

NOW = datetime(2024, 5, 2, 9, 0, tzinfo=UTC)


def test_identity_mapping_rules(app) -> None:
    app.add_employee("e1042@corp.example", "GB", ("e1042", "CORP\\e1042"))
    app.add_employee("ada@corp.example", "GB")  # no aliases
    mapper = IdentityMapper()
    names = ["E1042@CORP.EXAMPLE", "corp\\E1042", "OTHER\\e1042", "e1042@corp.onmicrosoft.com",
             "  e1042 ", "CORP\\ada", "ada@elsewhere.example", "ada@corp.example", "nobody"]
    with app.ctx.db.transaction() as s:
        mapper.resolve(s.connection(), names)
    got = {name: mapper.get(name) for name in names}
    e1042 = got["E1042@CORP.EXAMPLE"]
    assert e1042 is not None
    assert [got[n] for n in names[:5]] == [e1042] * 5  # email, alias, bare name via alias
    ada = got["ada@corp.example"]
    assert ada is not None and ada != e1042
    # a bare name is matched against aliases only, never an email's local part
    assert got["CORP\\ada"] is None and got["ada@elsewhere.example"] is None
    assert got["nobody"] is None
    assert bare_name("DOMAIN\\User") == "user" and bare_name("plain") is None


def test_uploads_stream_line_formats_and_read_documents_whole() -> None:
    ndjson = [b'{"identity": "a", "time": "2024-05-02T09:00:00Z"}\n', b'{"identity": "b", ',
              b'"time": "2024-05-02T09:01:00Z"}\n']
    streamed = ingest_input("generic-ndjson", iter(ndjson))
    assert not isinstance(streamed, bytes)  # handed on as a stream
    okta_ndjson = ingest_input("okta", iter(ndjson))
    assert not isinstance(okta_ndjson, bytes)
    assert b"".join(okta_ndjson) == b"".join(ndjson)  # nothing lost while peeking
    page = json.dumps({"value": [{"id": "x"}]}, indent=2).encode()
    whole = ingest_input("entra", iter([page[:10], page[10:]]))
    assert whole == page
    items = list(parse("generic-ndjson", ingest_input("generic-ndjson", iter(ndjson))))
    assert [i.identity for i in items if isinstance(i, SignIn)] == ["a", "b"]


@dataclass
class Event:
    data: dict[str, Any]
    occurred_at: datetime = NOW
    id: uuid.UUID = field(default_factory=uuid.uuid4)
    type: str = "laptop_signin"


def test_laptop_signin_conversion() -> None:
    data = {"identity": "CORP\\alice", "time": "2024-05-02T08:59:00Z", "outcome": "failure",
            "kind": "failed_unlock", "method": "unix_chkpwd", "detail": "wrong password",
            "remote_address": None}
    event = Event(data)
    signin = laptop_signin(event, "dev-1", "81.2.69.142", NOW)
    assert isinstance(signin, SignIn)
    assert signin.source_event_id == f"dev-1:{event.id}" and signin.source_system == "laptop"
    assert signin.source_ip == "81.2.69.142"  # at the keyboard, recently: where the laptop is
    assert signin.failure_reason == "wrong password"
    assert signin.application == "this laptop: failed unlock (unix_chkpwd)"
    old = laptop_signin(Event({**data, "time": "2024-05-01T08:00:00Z"}), "d", "1.2.3.4", NOW)
    assert isinstance(old, SignIn) and old.source_ip is None  # queued offline: unplaced
    remote = laptop_signin(Event({**data, "remote_address": "2001:db8::1"}), "d", "1.2.3.4",
                           NOW)
    assert isinstance(remote, SignIn) and remote.source_ip == "2001:db8::1"
    assert isinstance(laptop_signin(Event({**data, "identity": " "}), "d", None, NOW),
                      Rejection)
    assert isinstance(laptop_signin(Event({**data, "outcome": "maybe"}), "d", None, NOW),
                      Rejection)
    assert isinstance(laptop_signin(Event({**data, "time": "soon"}), "d", None, NOW), Rejection)


def test_location_windows_and_cursors() -> None:
    assert window_start(datetime(2024, 5, 2, 9, 14, 59, tzinfo=UTC)) == datetime(
        2024, 5, 2, 9, 0, tzinfo=UTC)
    assert window_start(datetime(2024, 5, 2, 9, 15, tzinfo=UTC)).minute == 15
    moment = datetime(2024, 5, 2, 9, 14, 7, 250_000, tzinfo=UTC)
    assert decode_cursor(encode_cursor(moment, 42)) == (moment, 42)
    for bad in ("", "!!!", encode_cursor(moment, 1)[:-3] + "xyz", "MjAyNC0wNQ"):
        with pytest.raises(InvalidInput):
            decode_cursor(bad)
