"""Tables and field extraction for Windows logon events 4624/4625 (used by parsers.windows).

Property positions follow the events' published schemas (4624 version 2, 4625 version 0), which
is how `Get-WinEvent` exposes them in `Properties`. Status codes are NTSTATUS values as the
Security log writes them (0xC000006D ...), mapped to words a person understands.
"""

from __future__ import annotations

import re
from typing import Any

from server.ingest.record import clean

# Index in Properties of each EventData field we use.
_PROPERTY_INDEX = {
    "4624": {"TargetUserName": 5, "TargetDomainName": 6, "LogonType": 8,
             "WorkstationName": 11, "IpAddress": 18},
    "4625": {"TargetUserName": 5, "TargetDomainName": 6, "Status": 7, "FailureReason": 8,
             "SubStatus": 9, "LogonType": 10, "WorkstationName": 13, "IpAddress": 19},
}

LOGON_TYPES = {
    "0": "System", "2": "Interactive", "3": "Network", "4": "Batch", "5": "Service",
    "7": "Unlock", "8": "NetworkCleartext", "9": "NewCredentials", "10": "RemoteInteractive",
    "11": "CachedInteractive", "12": "CachedRemoteInteractive", "13": "CachedUnlock",
}
_OS_LOGON_TYPES = {"0", "4", "5"}
_OS_ACCOUNTS = {"SYSTEM", "LOCAL SERVICE", "NETWORK SERVICE", "ANONYMOUS LOGON"}

STATUS_WORDS = {
    0xC0000064: "unknown user name",
    0xC000006A: "wrong password",
    0xC000006C: "password policy not met",
    0xC000006D: "unknown user name or bad password",
    0xC000006E: "account restriction",
    0xC000006F: "outside allowed logon hours",
    0xC0000070: "not allowed from this workstation",
    0xC0000071: "password expired",
    0xC0000072: "account disabled",
    0xC00000DC: "domain controller in the wrong state",
    0xC0000133: "clock out of sync with the domain controller",
    0xC000015B: "logon type not granted to this account",
    0xC000018C: "trust relationship failed",
    0xC0000192: "Netlogon service not started",
    0xC0000193: "account expired",
    0xC0000224: "password must be changed",
    0xC0000234: "account locked out",
    0xC000005E: "no logon server available",
    0xC00002EE: "an error occurred during logon",
    0xC0000413: "blocked by the authentication firewall",
}
# Message text labels -> EventData names, by the section they appear in.
_TARGET_SECTIONS = ("New Logon", "Account For Which Logon Failed")


def from_properties(event_id: Any, properties: Any) -> dict[str, Any] | None:
    """EventData by name from Get-WinEvent's positional Properties; None if unusable."""
    index = _PROPERTY_INDEX.get(str(event_id).strip())
    if index is None or not isinstance(properties, list):
        return None
    if len(properties) <= max(index.values()):
        return None
    values = [p.get("Value") if isinstance(p, dict) else p for p in properties]
    return {name: _text(values[i]) for name, i in index.items()}


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def from_message(message: Any) -> dict[str, str | None]:
    """EventData by name from the rendered Message text (sections of "Label:<tabs>value")."""
    if not isinstance(message, str):
        raise ValueError("event has neither usable Properties nor a Message")
    section = ""
    fields: dict[tuple[str, str], str] = {}
    for raw in message.splitlines():
        if not raw.strip():
            continue
        label, _, value = raw.strip().partition(":")
        value = value.strip()
        if not raw.startswith(("\t", " ")) and not value:
            section = label
        else:
            fields.setdefault((section, label), value)
            fields.setdefault(("", label), value)
    target = next((s for s in _TARGET_SECTIONS if (s, "Account Name") in fields), None)
    return {
        "TargetUserName": fields.get((target, "Account Name")) if target else None,
        "TargetDomainName": fields.get((target, "Account Domain")) if target else None,
        "LogonType": fields.get(("", "Logon Type")),
        "WorkstationName": fields.get(("Network Information", "Workstation Name")),
        "IpAddress": fields.get(("Network Information", "Source Network Address")),
        "Status": fields.get(("Failure Information", "Status")),
        "SubStatus": fields.get(("Failure Information", "Sub Status")),
        "FailureReason": fields.get(("Failure Information", "Failure Reason")),
    }


def is_system_logon(user: str, logon_type: str | None) -> bool:
    """True for logons the OS makes for itself (services, machine accounts, session managers)."""
    return (logon_type in _OS_LOGON_TYPES or user.upper() in _OS_ACCOUNTS or user.endswith("$")
            or re.match(r"(?i)^(DWM|UMFD)-\d+$", user) is not None)


def logon_type_name(logon_type: str | None) -> str:
    """"10" -> "RemoteInteractive, type 10"; unknown codes stay as numbers."""
    if logon_type is None:
        return "type unknown"
    name = LOGON_TYPES.get(logon_type)
    return f"{name}, type {logon_type}" if name else f"type {logon_type}"


def clean_ip(value: Any) -> str | None:
    """IpAddress is "-" for local logons (-> None); any real address is kept as written."""
    return clean(value)


def status_code(value: Any) -> int | None:
    """NTSTATUS from "0xc000006d", "0xC000006D", 3221225581 or -1073741715."""
    if value is None or value == "":
        return None
    try:
        number = int(value, 0) if isinstance(value, str) else int(value)
    except (TypeError, ValueError):
        return None
    return number & 0xFFFFFFFF


def failure_reason(values: dict[str, Any]) -> str:
    """Words for a 4625: the SubStatus when it is specific, else the Status, with the code."""
    for key in ("SubStatus", "Status"):
        code = status_code(values.get(key))
        if code and code in STATUS_WORDS:
            return f"{STATUS_WORDS[code]} (0x{code:08X})"
    code = status_code(values.get("SubStatus")) or status_code(values.get("Status"))
    text = clean(values.get("FailureReason"))
    if text and not text.startswith("%%"):
        return text.rstrip(".")
    return f"logon failed (0x{code:08X})" if code else "logon failed"
