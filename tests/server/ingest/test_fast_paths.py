"""The parsers' fast paths give exactly what the plain ones give: Okta's partial decoding
against the standard library's, NDJSON found without decoding a whole upload, line splitting,
and sshd event ids unchanged (a re-ingest after an upgrade must still find its duplicates)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from server.ingest import Rejection, fastjson, parse
from server.ingest.parsers import okta
from server.ingest.reading import iter_json_records, iter_lines
from server.ingest.record import stable_id

EVENT = {"eventType": "user.session.start", "uuid": "u-1", "published": "2026-11-24T08:02:11Z",
         "actor": {"alternateId": "e1042@corp.example"},
         "client": {"ipAddress": "81.2.69.142", "userAgent": {"rawUserAgent": "curl/8"},
                    "geographicalContext": {"city": "London"}},
         "outcome": {"result": "SUCCESS"}, "debugContext": {"debugData": {"x": [1, 2]}}}


def _line(**changes: object) -> str:
    return json.dumps({**EVENT, **changes})


ODD_LINES = [
    _line(),
    _line(uuid="u-2") + "   ",
    '{"uuid": "a", "uuid": "u-3", ' + _line()[1:],  # a repeated key: the last one counts
    _line(debugContext=float("nan"), uuid="u-4"),  # NaN: not JSON, yet json.loads takes it
    _line(uuid="\ud800"),  # a lone surrogate
    _line(uuid=123456789012345678901234567890),  # beyond 64 bits
    _line(published=1.7e9, uuid="u-5"),
    _line(client="81.2.69.142", uuid="u-6"),  # a broken event: rejected
    _line(outcome=None, uuid="u-7"),
    '["not", "an", "object"]',
    '{"torn": ',
    "",
    "42",
]


def _plain(text: str) -> list[object]:
    """What the parser made of `text` when every record was decoded by json.loads."""
    out: list[object] = []
    for position, record in iter_json_records(text, decode=json.loads):
        if isinstance(record, Rejection):
            out.append(record)
            continue
        try:
            out.append(okta.event_to_signin(record))
        except ValueError as exc:
            out.append(Rejection(position, str(exc)))
    return [item for item in out if item is not None]


@pytest.mark.parametrize("text", [
    "\n".join(ODD_LINES),
    "[" + ",".join(line for line in ODD_LINES[:9] if line.strip()) + "]",
    json.dumps(EVENT, indent=2),  # one event over several lines
    json.dumps(EVENT) + "\n",
    json.dumps([EVENT, 1, EVENT]),
])
def test_okta_partial_decoding_matches_the_standard_library(text: str) -> None:
    assert list(parse("okta", text)) == _plain(text)


def test_okta_samples_decode_alike(ingest_samples: Path) -> None:
    for name in ("okta-logs.json", "okta-export.ndjson"):
        text = (ingest_samples / name).read_text()
        assert list(parse("okta", text)) == _plain(text), name


def test_ndjson_is_read_line_by_line_and_documents_whole() -> None:
    ndjson = '{"a": 1}\n{"a": 2}\n\n{"a": \n'
    assert [r if isinstance(r, Rejection) else r["a"] for _, r in iter_json_records(ndjson)] \
        == [1, 2, Rejection(4, "invalid JSON: Expecting value at column 7")]
    document = '{"value": [{"a": 1},\n {"a": 2}]}\n'
    assert [r for _, r in iter_json_records(document, page_key="value")] == [{"a": 1},
                                                                             {"a": 2}]
    assert [r for _, r in iter_json_records('{"a": 1}\n\n  \n')] == [{"a": 1}]


@pytest.mark.parametrize("text", ["", "\n", "a", "a\n", "a\n\n", "\ufeffa\r\nb\r\r\n", "x\ny",
                                  "\r\n\r\n"])
def test_lines_split_as_str_split_would(text: str) -> None:
    lines = text[:-1].split("\n") if text.endswith("\n") else text.split("\n")
    expected = [(n, line.lstrip("\ufeff") if n == 1 else line)
                for n, line in enumerate(lines, start=1)]
    assert list(iter_lines(text)) == [(n, line.rstrip("\r")) for n, line in expected]


def test_sshd_event_ids_are_the_stable_ids_they_always_were() -> None:
    line = ("2026-11-25T20:07:15.758918+00:00 host sshd[123]: message repeated 2 times: "
            "[ Failed password for e1042 from 203.0.113.5 port 51234 ssh2]")
    ids = [s.source_event_id for s in parse("sshd", f"{line}\n{line}\n")]
    assert ids == [stable_id("ssh", line, 1, 0), stable_id("ssh", line, 1, 1),  # repeated
                   stable_id("ssh", line, 2, 0), stable_id("ssh", line, 2, 1)]  # next line


@pytest.mark.parametrize("text", [*ODD_LINES[:7], '{"a": Infinity}', "[1, 2.5, null]", '"x"'])
def test_fast_json_means_what_json_means(text: str) -> None:
    assert fastjson.loads(text) == json.loads(text) or text == ODD_LINES[3]  # NaN != NaN
    decoded = json.loads(text)
    assert json.loads(fastjson.dumps_compact(decoded)) == decoded or text in (
        ODD_LINES[3], '{"a": Infinity}')  # not JSON: stored as null


def test_fast_json_refuses_what_json_refuses() -> None:
    for text in ('{"torn": ', "", "[1,]", "{'a': 1}"):
        with pytest.raises(json.JSONDecodeError) as fast:
            fastjson.loads(text)
        with pytest.raises(json.JSONDecodeError) as plain:
            json.loads(text)
        assert str(fast.value) == str(plain.value)
