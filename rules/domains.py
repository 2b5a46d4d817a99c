"""Host-name normalisation shared by list entries and lookups.

Everything that lands in a category list and everything that is looked up goes through the same
rules, so the two always agree: lower case, no trailing dot, international names as punycode
(`bücher.de` -> `xn--bcher-kva.de`), IP literals in their canonical text form (IPv6 compressed,
no brackets).

`normalize_domain` is strict (list entries: a bad entry is an error with a reason);
`normalize_host` is lenient (lookups: a host we cannot make sense of just matches nothing).
"""

from __future__ import annotations

import ipaddress
import re

import idna

# Underscores are not valid in host names by the letter of RFC 1123, but real sites use them
# (UT1 lists `clan_ubh.tripod.com`) and browsers resolve them, so they are accepted.
_ASCII_DOMAIN = re.compile(r"(?:[a-z0-9_-]{1,63}\.)*[a-z0-9_-]{1,63}")
_BAD_CHAR = re.compile(r"[^a-z0-9_.-]")
_IDEOGRAPHIC_DOTS = str.maketrans({"\u3002": ".", "\uff0e": ".", "\uff61": "."})
MAX_DOMAIN_LENGTH = 253
IP_KEY_PREFIX = "ip:"
"""Prefix of index keys for IP literals, so a suffix of a name can never match an address."""


def label_to_ascii(label: str) -> str | None:
    """One non-ASCII label as punycode (UTS 46 / IDNA 2008, then IDNA 2003), or None.

    IDNA 2008 rejects symbols such as emoji that browsers still resolve through the older
    IDNA 2003 rules, hence the fallback.
    """
    try:
        return idna.encode(label, uts46=True).decode("ascii")
    except (idna.IDNAError, UnicodeError, ValueError):
        pass
    try:
        return label.encode("idna").decode("ascii").lower()
    except UnicodeError:
        return None


def _to_ascii(name: str) -> tuple[str, str | None]:
    """Convert the non-ASCII labels of `name`; returns (name, first label that failed)."""
    if name.isascii():
        return name, None
    out = []
    for label in name.split("."):
        if label.isascii():
            out.append(label)
            continue
        converted = label_to_ascii(label)
        if converted is None:
            return name, label
        out.append(converted)
    return ".".join(out), None


def _ip_literal(text: str) -> str | None:
    """Canonical text of an IP literal (IPv6 may be bracketed), or None if it is not one."""
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


def _looks_numeric(name: str) -> bool:
    """A name whose last label is all digits can only be an IPv4 address (no TLD is numeric)."""
    return name.rpartition(".")[2].isdigit()


def normalize_domain(text: str) -> str:
    """Canonical form of a list entry, or ValueError with a reason a person can act on."""
    raw = text.strip()
    if not raw:
        raise ValueError("empty domain")
    if "://" in raw or "/" in raw:
        raise ValueError(f"{raw!r} looks like a URL; list only the host name")
    if raw.startswith("*."):
        raise ValueError(f"{raw!r}: wildcards are not needed, '{raw[2:]}' already matches "
                         "all its subdomains")
    if ":" in raw or raw.startswith("["):
        ip = _ip_literal(raw)
        if ip is None:
            raise ValueError(f"{raw!r} is not a valid host name or IP address")
        return ip
    name = raw.translate(_IDEOGRAPHIC_DOTS).lower().removesuffix(".")
    if _looks_numeric(name):
        ip = _ip_literal(name)
        if ip is None:
            raise ValueError(f"{raw!r} is not a valid IPv4 address")
        return ip
    name, failed = _to_ascii(name)
    if failed is not None:
        raise ValueError(f"{raw!r}: label {failed!r} cannot be converted to punycode")
    _check_ascii_domain(raw, name)
    return name


def _check_ascii_domain(raw: str, name: str) -> None:
    """Raise ValueError naming what is wrong with an ASCII host name."""
    if len(name) > MAX_DOMAIN_LENGTH:
        raise ValueError(f"{raw!r} is longer than {MAX_DOMAIN_LENGTH} characters")
    if _ASCII_DOMAIN.fullmatch(name):
        return
    bad = _BAD_CHAR.search(name)
    if bad:
        raise ValueError(f"{raw!r}: character {bad.group()!r} is not allowed in a host name")
    if any(len(label) > 63 for label in name.split(".")):
        raise ValueError(f"{raw!r} has a label longer than 63 characters")
    raise ValueError(f"{raw!r} has an empty label (two dots in a row, or a leading dot)")


def normalize_host(host: str) -> str | None:
    """Canonical form of a host seen in a URL, for lookups; None if it cannot be a host.

    Accepts what browsers and people produce: any case, a trailing dot, a `:port`, IPv6 in
    brackets, Unicode labels. IP literals come back as `ip:<canonical address>`.
    """
    name = host.strip()
    if not name:
        return None
    if ":" in name or name.startswith("["):
        return _host_with_colon(name)
    name = name.lower().rstrip(".")
    if not name.isascii():
        name, failed = _to_ascii(name.translate(_IDEOGRAPHIC_DOTS))
        if failed is not None:
            return None
    if name and _looks_numeric(name):
        ip = _ip_literal(name)
        return IP_KEY_PREFIX + ip if ip else None
    return name or None


def _host_with_colon(name: str) -> str | None:
    """`[v6]`, `[v6]:port`, bare v6, or `host:port`."""
    if name.startswith("["):
        end = name.find("]")
        ip = _ip_literal(name[1:end]) if end > 0 else None
        return IP_KEY_PREFIX + ip if ip else None
    if name.count(":") == 1:
        hostname, _, port = name.partition(":")
        return normalize_host(hostname) if port.isdigit() and hostname else None
    ip = _ip_literal(name)
    return IP_KEY_PREFIX + ip if ip else None


def index_key(domain: str) -> str:
    """The key under which an already-normalised list entry is stored in an index."""
    if ":" in domain or _looks_numeric(domain):
        return IP_KEY_PREFIX + domain
    return domain
