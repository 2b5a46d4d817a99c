"""Realistic synthetic sign-ins for the ingestion benchmark (not a benchmark itself).

Employees sit in real places: random public addresses are geolocated with the demo database and
grouped into ~100 km cells; each employee gets a cell, a shared office address there and a
home address there. Most sign-ins come from those two (so addresses repeat as in real logs), a
few from another cell (travel) and a few from random addresses (mostly failed guesses).
Output is real log text: OpenSSH RFC 3339 syslog lines and Okta System Log NDJSON, one chunk
per day so both sources can be fed interleaved in time order.
"""

from __future__ import annotations

import ipaddress
import json
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from server.services.geo import Geolocator, is_internal

START = datetime(2026, 10, 1, tzinfo=UTC)
OKTA_SAMPLE = (Path(__file__).resolve().parent.parent / "tests" / "server" / "ingest"
               / "samples" / "okta-export.ndjson")


@dataclass
class Person:
    email: str
    alias: str
    office: str
    home: str
    travel: str


def _public_ip(rng: random.Random) -> str:
    while True:
        addr = ipaddress.IPv4Address(rng.getrandbits(32))
        if not is_internal(addr):
            return str(addr)


def _cells(rng: random.Random, probes: int) -> list[list[str]]:
    """Groups of addresses located within the same ~100 km cell, largest first."""
    cells: dict[tuple[str, int, int], list[str]] = {}
    with Geolocator(cache_size=0) as geo:
        for _ in range(probes):
            ip = _public_ip(rng)
            place = geo.locate(ip)
            if place.kind == "public" and place.has_coordinates and place.city:
                key = (place.country_code or "", round(place.latitude or 0),
                       round(place.longitude or 0))
                cells.setdefault(key, []).append(ip)
    return sorted((c for c in cells.values() if len(c) >= 6), key=len, reverse=True)


def people(count: int, seed: int = 11) -> list[Person]:
    """`count` employees spread over real places, offices shared by many."""
    rng = random.Random(seed)
    cells = _cells(rng, probes=60_000)[:120]
    out = []
    for n in range(count):
        cell = cells[min(int(rng.paretovariate(0.8)) - 1, len(cells) - 1)]
        other = cells[rng.randrange(len(cells))]
        out.append(Person(email=f"u{n:06d}@corp.example", alias=f"u{n:06d}",
                          office=cell[rng.randrange(3)], home=rng.choice(cell[3:]),
                          travel=rng.choice(other)))
    return out


def _okta_template() -> str:
    event = json.loads(OKTA_SAMPLE.read_text(encoding="utf-8").splitlines()[0])
    event.update(uuid="@UUID@", published="@TIME@",
                 outcome={"result": "@RESULT@", "reason": "@REASON@"})
    event["actor"]["alternateId"] = "@USER@"
    event["client"]["ipAddress"] = "@IP@"
    event["request"]["ipChain"][0]["ip"] = "@IP@"
    text = json.dumps(event, separators=(",", ":")).replace("%", "%%")
    for name in ("UUID", "TIME", "RESULT", "USER", "IP"):
        text = text.replace(f"@{name}@", f"%({name})s")
    return text.replace('"@REASON@"', "%(REASON)s")


def days(persons: list[Person], events: int, *, seed: int = 12, span_days: int = 30
         ) -> list[tuple[bytes, bytes, list[str]]]:
    """Per day: (sshd log bytes, Okta NDJSON bytes, source addresses in feed order)."""
    rng = random.Random(seed)
    okta = _okta_template()
    per_day = max(1, events // span_days)
    out = []
    made = 0
    for day in range(span_days):
        todo = per_day if day < span_days - 1 else events - made
        made += todo
        seconds = sorted(rng.randrange(86_400) for _ in range(todo))
        ssh_lines, okta_lines, ssh_ips, okta_ips = [], [], [], []
        for i, second in enumerate(seconds):
            person = persons[rng.randrange(len(persons))]
            roll = rng.random()
            ip = (person.office if roll < 0.6 else person.home if roll < 0.97
                  else person.travel if roll < 0.985 else _public_ip(rng))
            failed = rng.random() < (0.5 if roll >= 0.985 else 0.04)
            at = START + timedelta(days=day, seconds=second, microseconds=i % 1000)
            if rng.random() < 0.5:
                verb = "Failed password" if failed else "Accepted publickey"
                ssh_lines.append(f"{at.isoformat()} bastion sshd[{1000 + i}]: {verb} for "
                                 f"{person.alias} from {ip} port {40000 + i % 20000} ssh2")
                ssh_ips.append(ip)
            else:
                okta_lines.append(okta % {
                    "UUID": f"{day:04d}-{i:08d}-{seed}", "TIME": at.isoformat(),
                    "RESULT": "FAILURE" if failed else "SUCCESS", "USER": person.email,
                    "IP": ip, "REASON": '"INVALID_CREDENTIALS"' if failed else "null"})
                okta_ips.append(ip)
        out.append(("\n".join(ssh_lines).encode() + b"\n",
                    "\n".join(okta_lines).encode() + b"\n", ssh_ips + okta_ips))
    return out
