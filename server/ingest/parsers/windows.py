"""Windows Security log logons: event 4624 (success) and 4625 (failure).

Two export shapes, detected from the first character:
- XML from `wevtutil qe Security /f:xml` (a stream of `<Event xmlns=...>` elements with no
  single root) or Event Viewer's "Save as XML" (`<Events>` root). Positions in rejections are the
  1-based index of the <Event> element.
- JSON from `Get-WinEvent ... | ConvertTo-Json` (an array, one object, or NDJSON): Id, RecordId,
  MachineName, TimeCreated ("/Date(ms)/" from PowerShell 5.1 or ISO 8601 from PowerShell 7), and
  the event data in Properties (positional, per the event's schema) or, failing that, Message.
Identity is "TargetDomainName\\TargetUserName". Service, batch and system logons (logon types
0/4/5, SYSTEM, machine accounts ending in "$", DWM-/UMFD- session accounts) are skipped: they
are the OS at work, not a person signing in.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from server.ingest.parsers import windows_fields as wf
from server.ingest.reading import Input, iter_json_records, read_text
from server.ingest.record import Rejection, SignIn, clean, parse_time

SOURCE = "windows"
_EVENT_START = re.compile(r"<Event(?=[\s>/])")
_EVENT_END = "</Event>"


def parse(data: Input, *, year: int | None = None, now: datetime | None = None
          ) -> Iterator[SignIn | Rejection]:
    """Parse a wevtutil/Event Viewer XML export or a Get-WinEvent JSON export."""
    text = read_text(data)
    if text.lstrip()[:1] == "<":
        yield from _parse_xml(text)
    else:
        yield from _parse_json(text)


def _parse_xml(text: str) -> Iterator[SignIn | Rejection]:
    starts = [m.start() for m in _EVENT_START.finditer(text)]
    for index, start in enumerate(starts, start=1):
        stop = starts[index] if index < len(starts) else len(text)
        chunk = text[start:stop]
        end = chunk.find(_EVENT_END)
        if end < 0:
            yield Rejection(index, f"event {index}: no closing </Event>")
            continue
        try:
            # One element per parse: a broken event cannot take its neighbours down, and with
            # no DOCTYPE in an element there are no entities to expand.
            root = ET.fromstring(chunk[: end + len(_EVENT_END)])
            system, values = _xml_fields(root)
            signin = _signin(system, values)
        except (ET.ParseError, ValueError) as exc:
            yield Rejection(index, f"event {index}: {exc}")
            continue
        if signin is not None:
            yield signin


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _xml_fields(root: ET.Element) -> tuple[dict[str, Any], dict[str, str | None]]:
    system: dict[str, Any] = {}
    values: dict[str, str | None] = {}
    for element in root.iter():
        name = _local(element.tag)
        if name == "EventID":
            system["event_id"] = (element.text or "").strip()
        elif name == "TimeCreated":
            system["time"] = element.get("SystemTime")
        elif name in ("EventRecordID", "Computer"):
            system[name] = (element.text or "").strip()
        elif name == "Data" and (data_name := element.get("Name")):
            values[data_name] = element.text
    return system, values


def _parse_json(text: str) -> Iterator[SignIn | Rejection]:
    for position, record in iter_json_records(text):
        if isinstance(record, Rejection):
            yield record
            continue
        try:
            system = {"event_id": record.get("Id", record.get("EventID")),
                      "time": _powershell_time(record.get("TimeCreated")),
                      "EventRecordID": record.get("RecordId"),
                      "Computer": record.get("MachineName")}
            values = wf.from_properties(system["event_id"], record.get("Properties"))
            if values is None:
                values = wf.from_message(record.get("Message"))
            signin = _signin(system, values)
        except ValueError as exc:
            yield Rejection(position, str(exc))
            continue
        if signin is not None:
            yield signin


def _powershell_time(value: Any) -> datetime:
    """PowerShell 5.1 writes "/Date(1705309442123)/"; PowerShell 7 writes ISO 8601."""
    if isinstance(value, dict):  # ConvertTo-Json of a DateTime with extra members
        value = value.get("value") or value.get("DateTime")
    if isinstance(value, str) and (m := re.fullmatch(r"\\?/Date\((-?\d+)([+-]\d{4})?\)\\?/",
                                                      value.strip())):
        return datetime.fromtimestamp(int(m.group(1)) / 1000, tz=UTC)
    return parse_time(value)


def _signin(system: dict[str, Any], values: dict[str, str | None]) -> SignIn | None:
    """4624/4625 -> SignIn; None for other events and for the OS's own logons."""
    event_id = str(system.get("event_id") or "").strip()
    if event_id not in ("4624", "4625"):
        return None
    user = clean(values.get("TargetUserName"))
    if user is None:
        raise ValueError(f"event {event_id} has no TargetUserName")
    logon_type = clean(values.get("LogonType"))
    if wf.is_system_logon(user, logon_type):
        return None
    record_id, computer = clean(system.get("EventRecordID")), clean(system.get("Computer"))
    if record_id is None or computer is None:
        raise ValueError(f"event {event_id} lacks EventRecordID or Computer")
    if not isinstance(system.get("time"), datetime):
        system["time"] = parse_time(system.get("time"))
    domain = clean(values.get("TargetDomainName"))
    failed = event_id == "4625"
    return SignIn(
        identity=f"{domain}\\{user}" if domain else user,
        occurred_at=system["time"],
        source_ip=wf.clean_ip(values.get("IpAddress")),
        source_system=SOURCE,
        application=f"Windows logon to {computer} ({wf.logon_type_name(logon_type)})",
        client=clean(values.get("WorkstationName")),
        outcome="failure" if failed else "success",
        failure_reason=wf.failure_reason(values) if failed else None,
        source_event_id=f"{computer}/{record_id}",
    )
