"""Demo sign-ins in Okta System Log NDJSON, placed relative to "now" so the demo looks alive.

Two weeks of ordinary London sign-ins (past the detectors' learning period), a burst of failed
passwords, then a Tokyo sign-in 40 minutes after a London one: new country and impossible travel.
Addresses are ones the bundled 2018 GeoLite2 demo database places in those cities.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

LONDON_IP = "81.2.69.142"
TOKYO_IP = "203.180.0.1"
AMSTERDAM_IP = "193.0.6.139"
CHROME_ON_WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)


def okta_event(login: str, ip: str, at: datetime, *, success: bool = True) -> dict:
    """One `user.session.start` LogEvent as Okta's System Log API returns it."""
    return {
        "uuid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"heedful-demo/{login}/{ip}/{at.isoformat()}")),
        "published": at.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "eventType": "user.session.start",
        "version": "0",
        "severity": "INFO" if success else "WARN",
        "displayMessage": "User login to Okta",
        "actor": {"id": "00u8k2j1hgFEdcBA9876", "type": "User", "alternateId": login,
                  "displayName": login.split("@")[0].title(), "detailEntry": None},
        "client": {"userAgent": {"rawUserAgent": CHROME_ON_WINDOWS, "os": "Windows 10",
                                 "browser": "CHROME"},
                   "zone": "null", "device": "Computer", "id": None, "ipAddress": ip,
                   "geographicalContext": None},
        "outcome": {"result": "SUCCESS" if success else "FAILURE",
                    "reason": None if success else "INVALID_CREDENTIALS"},
        "transaction": {"type": "WEB", "id": uuid.uuid4().hex[:26], "detail": {}},
    }


def demo_events(login: str, now: datetime) -> list[dict]:
    """The demo story for one employee, oldest first."""
    events = []
    for day in range(16, 0, -1):
        events.append(okta_event(login, LONDON_IP, now - timedelta(days=day, hours=-8)))
    events.append(okta_event(login, AMSTERDAM_IP, now - timedelta(hours=26)))
    start = now - timedelta(hours=3)
    events += [okta_event(login, AMSTERDAM_IP, start + timedelta(seconds=20 * i), success=False)
               for i in range(6)]
    events.append(okta_event(login, LONDON_IP, now - timedelta(minutes=90)))
    events.append(okta_event(login, TOKYO_IP, now - timedelta(minutes=50)))
    return events


def write_demo_signins(path, login: str, now: datetime | None = None) -> int:
    """Write the demo story as NDJSON to `path`; returns the number of events."""
    events = demo_events(login, now or datetime.now(UTC))
    path.write_text("".join(json.dumps(e) + "\n" for e in events), encoding="utf-8")
    return len(events)
