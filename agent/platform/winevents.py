"""Parser for Windows Security log events as XML (`wevtutil qe Security /f:xml` output).

| event | meaning | record |
|---|---|---|
| 4624 | logged on (LogonType 2 interactive, 10 remote desktop, 11 cached) | login, success |
| 4624 | LogonType 7 (unlock) | unlock, success |
| 4625 | an account failed to log on (types 2, 10, 11) | login, failure |
| 4625 | LogonType 7 | failed_unlock, failure |
| 4800 | the workstation was locked | lock (parsed, not sent) |
| 4801 | the workstation was unlocked | unlock, success |

Service, batch and network logons (types 3, 4, 5, ...), machine accounts (`NAME$`) and the
system's own sessions (`DWM-1`, `UMFD-0`, `SYSTEM`) are not sign-ins by a person. An unlock
often logs both 4624/type 7 and 4801 within a second; `collapse_unlocks` keeps one.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import datetime, timedelta

from agent.platform.signins import LaptopSignin

NS = "{http://schemas.microsoft.com/win/2004/08/events/event}"
PERSON_TYPES = {"2": "interactive", "7": "unlock", "10": "remote desktop",
                "11": "cached credentials"}
SYSTEM_ACCOUNT = re.compile(r"^(SYSTEM|LOCAL SERVICE|NETWORK SERVICE|ANONYMOUS LOGON|"
                            r"DWM-\d+|UMFD-\d+|-)$|\$$", re.IGNORECASE)


def _split_events(text: str) -> Iterator[ET.Element]:
    """wevtutil prints events back to back without a root element; wrap them in one."""
    body = re.sub(r"<\?xml[^>]*\?>", "", text)
    root = ET.fromstring(f"<Events>{body}</Events>")
    yield from root


def _data(event: ET.Element) -> dict[str, str]:
    out = {}
    for item in event.iter(f"{NS}Data"):
        name = item.get("Name")
        if name:
            out[name] = (item.text or "").strip()
    return out


def _time(event: ET.Element) -> datetime:
    created = event.find(f"{NS}System/{NS}TimeCreated")
    stamp = created.get("SystemTime", "") if created is not None else ""
    # Windows writes 7 fractional digits (100 ns); Python takes at most 6.
    stamp = re.sub(r"(\.\d{6})\d+", r"\1", stamp).replace("Z", "+00:00")
    return datetime.fromisoformat(stamp)


def record_id(event: ET.Element) -> int:
    """The EventRecordID, the reader's checkpoint (monotonic within one log)."""
    found = event.find(f"{NS}System/{NS}EventRecordID")
    return int(found.text) if found is not None and found.text else 0


def parse_event(event: ET.Element) -> LaptopSignin | None:
    """One `<Event>` element to a record, or None if it is not a person's sign-in."""
    ident = event.find(f"{NS}System/{NS}EventID")
    code = (ident.text or "").strip() if ident is not None else ""
    data = _data(event)
    user = data.get("TargetUserName", "")
    if not user or SYSTEM_ACCOUNT.search(user):
        return None
    domain = data.get("TargetDomainName", "")
    identity = f"{domain}\\{user}" if domain and domain != "-" else user
    when = _time(event)
    if code in ("4800", "4801"):
        kind = "lock" if code == "4800" else "unlock"
        verb = "locked" if code == "4800" else "unlocked"
        return LaptopSignin(identity, when, "success", kind, "windows-security",
                            f"{identity} {verb} the workstation", method=f"event {code}")
    logon_type = data.get("LogonType", "")
    if code not in ("4624", "4625") or logon_type not in PERSON_TYPES:
        return None
    return _logon(code, logon_type, identity, when, data)


def _logon(code: str, logon_type: str, identity: str, when: datetime,
           data: dict[str, str]) -> LaptopSignin:
    success = code == "4624"
    unlock = logon_type == "7"
    kind = ("unlock" if success else "failed_unlock") if unlock else "login"
    address = data.get("IpAddress", "")
    remote = address if address not in ("", "-", "127.0.0.1", "::1") else None
    how = PERSON_TYPES[logon_type]
    if success:
        detail = f"{identity} signed in ({how})"
    else:
        reason = data.get("FailureReason", "") or data.get("SubStatus", "")
        detail = f"failed sign-in for {identity} ({how}) {reason}".strip()
    if remote:
        detail += f" from {remote}"
    return LaptopSignin(identity, when, "success" if success else "failure", kind,
                        "windows-security", detail, remote_address=remote,
                        method=f"event {code} type {logon_type}")


def parse_xml(text: str) -> list[tuple[int, LaptopSignin | None]]:
    """Every event in wevtutil XML output as (EventRecordID, record or None)."""
    return [(record_id(event), parse_event(event)) for event in _split_events(text)]


def collapse_unlocks(records: list[LaptopSignin], window: float = 5.0) -> list[LaptopSignin]:
    """Drop a 4801 unlock that repeats a 4624/type 7 unlock of the same person."""
    kept: list[LaptopSignin] = []
    for rec in sorted(records, key=lambda r: r.time):
        duplicate = any(
            rec.kind == "unlock" and prev.kind == "unlock" and prev.identity == rec.identity
            and abs(rec.time - prev.time) <= timedelta(seconds=window)
            for prev in kept[-4:])
        if not duplicate:
            kept.append(rec)
    return kept
