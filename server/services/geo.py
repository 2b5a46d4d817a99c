"""Geolocation of sign-in source addresses with MaxMind GeoIP2 databases.

`Geolocator.locate(ip)` turns an address into a `Place`. Addresses that are not globally
routable (private, loopback, link-local, CGNAT, multicast, documentation and other reserved
ranges, IPv4 and IPv6) are "internal network", never a place: a database would at best return
nothing and at worst a misleading country. Lookups are cached because sign-ins reuse a small set
of addresses (offices, home routers, VPN exits) over and over.

Without a configured City database the demo default is the GeoLite2 City file shipped inside the
`maxminddb-geolite2` PyPI package (import name `_maxminddb_geolite2`); that data is from 2018,
so a warning says so and `is_demo_database` lets the console say it too.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import geoip2.database
import geoip2.errors

log = logging.getLogger(__name__)

CITY_DB_SETTING = "HEEDFUL_GEOIP_CITY_DB"
DEMO_WARNING = (
    "Using the demo GeoLite2 City database from the maxminddb-geolite2 package: its data is "
    f"from 2018, so places may be out of date. Set {CITY_DB_SETTING} to a current "
    "GeoIP2/GeoLite2 City database for production."
)

# Checked in addition to ipaddress.is_global, whose tables differ between Python versions.
_SPECIAL_NETWORKS = tuple(
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
        "172.16.0.0/12", "192.0.0.0/24", "192.0.2.0/24", "192.168.0.0/16", "198.18.0.0/15",
        "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
        "::/128", "::1/128", "100::/64", "2001:db8::/32", "fc00::/7", "fe80::/10", "ff00::/8",
    )
)
_SPECIAL_RANGES = {
    version: tuple((int(n.network_address), int(n.broadcast_address))
                   for n in _SPECIAL_NETWORKS if n.version == version)
    for version in (4, 6)
}


class GeoDatabaseMissing(RuntimeError):
    """No usable City database: neither a configured file nor the demo package."""


@dataclass(frozen=True)
class Place:
    """Where an address is, as far as the databases know.

    kind: "public" (a routable address the City database placed, at least to a country),
    "internal" (private/reserved ranges: never a place) or "unknown" (unparsable address, or a
    public one the database does not know; ASN/anonymiser fields may still be filled).
    accuracy_radius_km is MaxMind's radius around the coordinates, in kilometres.
    """

    kind: str
    ip: str
    country_code: str | None = None
    country_name: str | None = None
    city: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    accuracy_radius_km: float | None = None
    asn: int | None = None
    network_org: str | None = None
    is_anonymizer: bool = False
    is_hosting: bool = False

    @property
    def label(self) -> str:
        """A human description: "Tokyo, Japan", "Japan", "internal network", "unknown location"."""
        if self.kind == "internal":
            return "internal network"
        if self.city and self.country_name:
            return f"{self.city}, {self.country_name}"
        return self.country_name or self.city or "unknown location"

    @property
    def has_coordinates(self) -> bool:
        """True when latitude and longitude are both known (distance can be computed)."""
        return self.latitude is not None and self.longitude is not None

    def same_location(self, other: Place) -> bool:
        """True when everything but the address is equal: the detectors would judge a
        sign-in from either place alike (two addresses of one office, say)."""
        return (self.latitude == other.latitude and self.longitude == other.longitude
                and self.kind == other.kind and self.country_code == other.country_code
                and self.country_name == other.country_name and self.city == other.city
                and self.accuracy_radius_km == other.accuracy_radius_km
                and self.asn == other.asn and self.network_org == other.network_org
                and self.is_anonymizer == other.is_anonymizer
                and self.is_hosting == other.is_hosting)


def normalise_ip(ip: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """Parse an address (IPv4-mapped IPv6 is unwrapped to IPv4); None when it is not one."""
    try:
        addr = ipaddress.ip_address(ip.strip().strip("[]").split("%", 1)[0])
    except (ValueError, AttributeError):
        return None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    return addr


def is_internal(addr: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """True for addresses that are not a place on the public internet."""
    if not addr.is_global or addr.is_multicast:
        return True
    value = int(addr)
    # Integer ranges: ~10x faster than `addr in network` on the hot ingest path.
    return any(first <= value <= last for first, last in _SPECIAL_RANGES[addr.version])


def demo_city_database() -> Path | None:
    """Path of the GeoLite2 City file inside the maxminddb-geolite2 package, if installed."""
    try:
        import _maxminddb_geolite2  # the package's real import name
    except ImportError:
        return None
    path = Path(_maxminddb_geolite2.geolite2_database())
    return path if path.is_file() else None


_SETTINGS = {"City": CITY_DB_SETTING, "ASN": "HEEDFUL_GEOIP_ASN_DB",
             "Anonymous-IP": "HEEDFUL_GEOIP_ANONYMOUS_DB"}


def _open(path: Path, what: str) -> geoip2.database.Reader:
    if not Path(path).is_file():
        raise GeoDatabaseMissing(f"GeoIP2 {what} database not found at {path} "
                                 f"(setting {_SETTINGS[what]})")
    return geoip2.database.Reader(str(path))


def _optional(path: Path | str | None) -> Path | None:
    """Settings use "" for "not configured"."""
    return Path(path) if path not in (None, "") else None


class Geolocator:
    """Looks addresses up in a City database and, optionally, ASN and Anonymous-IP databases."""

    def __init__(self, city_db: Path | str | None = None, asn_db: Path | str | None = None,
                 anonymous_db: Path | str | None = None, cache_size: int = 65536) -> None:
        city_db, asn_db, anonymous_db = map(_optional, (city_db, asn_db, anonymous_db))
        self.is_demo_database = city_db is None
        if city_db is None:
            city_db = demo_city_database()
            if city_db is None:
                raise GeoDatabaseMissing(
                    f"No GeoIP2 City database: set {CITY_DB_SETTING} to a GeoIP2/GeoLite2 City "
                    "file, or install the demo package (pip install 'heedful[demo]')"
                )
            log.warning(DEMO_WARNING)
        self._paths = {"city_db": city_db, "asn_db": asn_db, "anonymous_db": anonymous_db}
        self._city = _open(city_db, "City")
        self._asn = _open(asn_db, "ASN") if asn_db else None
        self._anonymous = _open(anonymous_db, "Anonymous-IP") if anonymous_db else None
        self._cached = functools.lru_cache(maxsize=cache_size)(self._lookup)

    def locate(self, ip: str | None) -> Place:
        """Place an address; never raises for bad input (it becomes kind="unknown")."""
        if ip is None:
            return Place(kind="unknown", ip="")
        return self._cached(ip)

    def cache_info(self) -> functools._CacheInfo:
        """Hits, misses and size of the lookup cache."""
        return self._cached.cache_info()

    def describe(self) -> dict[str, Any]:
        """Paths, database types and build dates, and whether the 2018 demo data is in use."""
        readers = {"city_db": self._city, "asn_db": self._asn, "anonymous_db": self._anonymous}
        out: dict[str, Any] = {"is_demo_database": self.is_demo_database,
                               "warning": DEMO_WARNING if self.is_demo_database else None}
        for key, reader in readers.items():
            if reader is None:
                out[key] = None
                continue
            meta = reader.metadata()
            built = datetime.fromtimestamp(meta.build_epoch, tz=UTC)
            out[key] = {"path": str(self._paths[key]), "database_type": meta.database_type,
                        "build_date": built.date().isoformat()}
        return out

    def close(self) -> None:
        """Release the database files."""
        for reader in (self._city, self._asn, self._anonymous):
            if reader is not None:
                reader.close()
        self._cached.cache_clear()

    def __enter__(self) -> Geolocator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _lookup(self, ip: str) -> Place:
        addr = normalise_ip(ip)
        if addr is None:
            return Place(kind="unknown", ip=ip)
        text = str(addr)
        if is_internal(addr):
            return Place(kind="internal", ip=text)
        fields: dict[str, Any] = {}
        fields.update(self._city_fields(text))
        fields.update(self._asn_fields(text))
        fields.update(self._anonymous_fields(text))
        located = fields.get("country_code") is not None or fields.get("latitude") is not None
        return Place(kind="public" if located else "unknown", ip=text, **fields)

    def _city_fields(self, ip: str) -> dict[str, Any]:
        try:
            r = self._city.city(ip)
        except (geoip2.errors.AddressNotFoundError, ValueError):
            return {}
        radius = r.location.accuracy_radius
        return {
            "country_code": r.country.iso_code or r.registered_country.iso_code,
            "country_name": r.country.name or r.registered_country.name,
            "city": r.city.name,
            "latitude": r.location.latitude,
            "longitude": r.location.longitude,
            "accuracy_radius_km": float(radius) if radius is not None else None,
        }

    def _asn_fields(self, ip: str) -> dict[str, Any]:
        if self._asn is None:
            return {}
        try:
            r = self._asn.asn(ip)
        except (geoip2.errors.AddressNotFoundError, ValueError):
            return {}
        return {"asn": r.autonomous_system_number, "network_org": r.autonomous_system_organization}

    def _anonymous_fields(self, ip: str) -> dict[str, Any]:
        if self._anonymous is None:
            return {}
        try:
            r = self._anonymous.anonymous_ip(ip)
        except (geoip2.errors.AddressNotFoundError, ValueError):
            return {}
        anonymizer = bool(r.is_anonymous or r.is_anonymous_vpn or r.is_public_proxy
                          or r.is_tor_exit_node or r.is_residential_proxy)
        return {"is_anonymizer": anonymizer, "is_hosting": bool(r.is_hosting_provider)}
