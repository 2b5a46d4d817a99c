"""Generic sign-ins for any other source: CSV with a header row, or NDJSON, same columns.

Columns (CSV header names / NDJSON keys; unknown ones are ignored):
- identity (required): the account as the source spells it.
- time (required): ISO 8601 (a zone is strongly advised; naive times are taken as UTC) or
  epoch seconds.
- ip: source address. source: one of okta, entra, ssh, windows, generic, laptop (default generic).
- application, client: free text. reason: failure reason.
- outcome: success/failure (also accepted: succeeded, ok, true / failed, fail, false).
  Default success.
- event_id: the source's id; when absent, a hash of the row (and how many identical rows came
  before it) keeps re-ingests idempotent.
Positions in rejections are line numbers (the CSV header is line 1). A CSV record must fit on
one line (no line breaks inside quoted fields).
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from server.ingest.reading import Input, iter_lines
from server.ingest.record import SOURCE_SYSTEMS, Rejection, SignIn, clean, parse_time, stable_id

COLUMNS = ("identity", "time", "ip", "source", "application", "client", "outcome", "reason",
           "event_id")
REQUIRED = ("identity", "time")
_OUTCOMES = {"success": "success", "succeeded": "success", "ok": "success", "true": "success",
             "failure": "failure", "failed": "failure", "fail": "failure", "false": "failure"}


def parse(data: Input, *, year: int | None = None, now: datetime | None = None
          ) -> Iterator[SignIn | Rejection]:
    """CSV or NDJSON, told apart by the first non-blank line ("{" means NDJSON)."""
    lines = _skip_blank_start(iter_lines(data))
    first = next(lines, None)
    if first is None:
        return
    rows = _chain(first, lines)
    yield from (_ndjson_rows(rows) if first[1].lstrip().startswith("{") else _csv_rows(rows))


def parse_csv(data: Input, *, year: int | None = None, now: datetime | None = None
              ) -> Iterator[SignIn | Rejection]:
    """CSV: a header row naming the columns, then one sign-in per line."""
    return _csv_rows(_skip_blank_start(iter_lines(data)))


def parse_ndjson(data: Input, *, year: int | None = None, now: datetime | None = None
                 ) -> Iterator[SignIn | Rejection]:
    """NDJSON: one JSON object per line with the column names as keys."""
    return _ndjson_rows(iter_lines(data))


def _skip_blank_start(lines: Iterator[tuple[int, str]]) -> Iterator[tuple[int, str]]:
    for number, line in lines:
        if line.strip():
            yield number, line
            yield from lines
            return


def _chain(first: tuple[int, str], rest: Iterator[tuple[int, str]]
           ) -> Iterator[tuple[int, str]]:
    yield first
    yield from rest


def _csv_rows(lines: Iterator[tuple[int, str]]) -> Iterator[SignIn | Rejection]:
    first = next(lines, None)
    if first is None:
        return
    header_number, header_line = first
    header = [h.strip().lower() for h in next(csv.reader([header_line]), [])]
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        yield Rejection(header_number, f"CSV header lacks required column(s) "
                                       f"{', '.join(missing)}; columns: {', '.join(COLUMNS)}")
        return
    seen: Counter[str] = Counter()
    for number, line in lines:
        if not line.strip():
            continue
        cells = next(csv.reader([line]), [])
        if len(cells) > len(header):
            yield Rejection(number, f"{len(cells)} fields but the header has {len(header)}")
            continue
        yield _row(number, dict(zip(header, cells, strict=False)), line, seen)


def _ndjson_rows(lines: Iterator[tuple[int, str]]) -> Iterator[SignIn | Rejection]:
    seen: Counter[str] = Counter()
    for number, line in lines:
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            yield Rejection(number, f"invalid JSON: {exc.msg} at column {exc.colno}")
            continue
        if not isinstance(row, dict):
            yield Rejection(number, "line is not a JSON object")
            continue
        yield _row(number, row, line, seen)


def _row(number: int, row: dict[str, Any], raw: str, seen: Counter[str]) -> SignIn | Rejection:
    try:
        return _signin(row, raw, seen)
    except ValueError as exc:
        return Rejection(number, str(exc))


def _signin(row: dict[str, Any], raw: str, seen: Counter[str]) -> SignIn:
    identity = clean(row.get("identity"))
    if identity is None:
        raise ValueError("identity is empty")
    source = (clean(row.get("source")) or "generic").lower()
    if source not in SOURCE_SYSTEMS:
        raise ValueError(f"source {source!r} is not one of {', '.join(SOURCE_SYSTEMS)}")
    outcome_text = (clean(row.get("outcome")) or "success").lower()
    if outcome_text not in _OUTCOMES:
        raise ValueError(f"outcome {outcome_text!r} is not success or failure")
    outcome = _OUTCOMES[outcome_text]
    event_id = clean(row.get("event_id"))
    if event_id is None:
        seen[raw] += 1
        event_id = stable_id(source, raw, seen[raw])
    return SignIn(
        identity=identity, occurred_at=parse_time(row.get("time")),
        source_ip=clean(row.get("ip")), source_system=source,
        application=clean(row.get("application")), client=clean(row.get("client")),
        outcome=outcome,
        failure_reason=(clean(row.get("reason")) or "failed") if outcome == "failure" else None,
        source_event_id=event_id,
    )
