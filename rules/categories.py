"""Host -> categories, compact enough for a laptop agent holding a million listed domains.

Matching: an entry matches itself and every subdomain, on label boundaries (`casino.com`
matches `www.casino.com`, never `notcasino.com`); case-insensitive; a trailing dot and a `:port`
are ignored; international names are compared as punycode; IP literals (IPv4, IPv6 with or
without brackets) match only exactly. When several suffixes of a host are listed, the host gets
the union of their categories.

Layout (why it is small): instead of a set of strings (~100 bytes per entry), each entry is a
56-bit hash of its normalised name in one sorted `array('Q')` (8 bytes), a parallel array of
1-2 byte indices into a table of distinct category sets, and a bit filter (2 bits per entry)
that answers most misses — the common case — without a binary search. About 11 bytes per entry.

Trade-offs, stated plainly:
* Hashes are Python's built-in `hash()` of str (SipHash, keyed per process), so an index is
  built in, and valid for, one process only; it is never written to disk.
* Two different names could share a 56-bit hash. With a million entries the chance that a
  given unlisted host is wrongly matched is about 4 in 10^11 per lookup, and the per-process key
  means nobody can craft such a collision in advance.
* At most 256 categories per index.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rules.domains import IP_KEY_PREFIX, index_key, normalize_domain, normalize_host

if TYPE_CHECKING:
    from rules.model import Bundle

_MASK64 = (1 << 64) - 1
_EMPTY: frozenset[str] = frozenset()
MAX_CATEGORIES = 256
"""The index packs a category number into one byte; bundles are limited to match."""


def _key_hash(key: str) -> int:
    """56-bit hash of an index key; the low byte of the packed build value holds the category."""
    return (hash(key) & _MASK64) >> 8


@dataclass(frozen=True)
class Match:
    """A lookup result with the listed domain that matched (the broadest one, if several)."""

    site: str
    categories: frozenset[str]


class CategoryIndex:
    """Immutable host -> frozenset of category names (see the module docstring)."""

    __slots__ = ("_keys", "_ids", "_sets", "_filter", "_shift", "_label_counts", "_names",
                 "_tables")

    def __init__(self, domains_by_category: Mapping[str, Iterable[str]], *,
                 normalized: bool = False) -> None:
        """Build from {category: domains}. Pass normalized=True for domains that already went
        through `normalize_domain` (e.g. from a validated bundle) to skip that work."""
        names = sorted(domains_by_category)
        if len(names) > MAX_CATEGORIES:
            raise ValueError(f"{len(names)} categories; an index holds at most {MAX_CATEGORIES}")
        self._names = tuple(names)
        packed, label_counts = self._packed_entries(domains_by_category, normalized)
        self._label_counts = label_counts
        self._build_tables(packed)

    def _packed_entries(self, domains_by_category: Mapping[str, Iterable[str]],
                        normalized: bool) -> tuple[list[array], int]:
        """(hash << 8 | category id) per entry, in 256 buckets by top byte, and a bit mask of
        the label counts present. Buckets let the build sort 1/256th at a time, so building
        never holds a million Python ints at once."""
        buckets = [array("Q") for _ in range(256)]
        label_counts = 0
        for cid, name in enumerate(self._names):
            for domain in domains_by_category[name]:
                if not normalized:
                    try:
                        domain = normalize_domain(domain)
                    except ValueError as exc:
                        raise ValueError(f"category {name!r}: {exc}") from None
                key = index_key(domain)
                if not key.startswith(IP_KEY_PREFIX):
                    label_counts |= 1 << min(key.count(".") + 1, 127)
                value = _key_hash(key) << 8 | cid
                buckets[value >> 56].append(value)
        return buckets, label_counts

    def _build_tables(self, buckets: list[array]) -> None:
        """Sort, merge equal hashes into category sets, and fill the miss filter."""
        keys, ids = array("Q"), array("I")
        set_ids: dict[frozenset[str], int] = {}
        previous, members = -1, set[str]()
        for bucket in buckets:
            for value in sorted(bucket):
                h = value >> 8
                if h != previous and members:
                    keys.append(previous)
                    ids.append(set_ids.setdefault(frozenset(members), len(set_ids)))
                    members = set()
                members.add(self._names[value & 0xFF])
                previous = h
            del bucket[:]  # free each bucket as soon as it is merged
        if members:
            keys.append(previous)
            ids.append(set_ids.setdefault(frozenset(members), len(set_ids)))
        self._keys = keys
        self._ids = array("B" if len(set_ids) <= 256 else "H" if len(set_ids) <= 65536 else "I",
                          ids)
        self._sets = tuple(sorted(set_ids, key=set_ids.__getitem__))
        self._make_filter()

    def _make_filter(self) -> None:
        bits = 1 << 16
        while bits < 16 * len(self._keys) and bits < 1 << 30:
            bits <<= 1
        self._shift = 56 - (bits.bit_length() - 1)
        table = bytearray(bits // 8)
        for h in self._keys:
            slot = h >> self._shift
            table[slot >> 3] |= 1 << (slot & 7)
        self._filter = bytes(table)
        # One attribute, unpacked into locals by lookup(): cheaper than six attribute loads.
        self._tables = (self._keys, self._ids, self._sets, self._filter, self._shift,
                        self._label_counts)

    @classmethod
    def from_bundle(cls, bundle: Bundle) -> CategoryIndex:
        """Index the categories of a resolved bundle (as verified by an agent)."""
        if not bundle.is_resolved():
            raise ValueError("bundle still refers to list files; resolve it first "
                             "(rules.loader.resolve_bundle)")
        return cls({name: c.domains for name, c in bundle.categories.items()}, normalized=True)

    def __len__(self) -> int:
        """Number of distinct listed names (domains and IP literals)."""
        return len(self._keys)

    @property
    def categories(self) -> tuple[str, ...]:
        """Names of the indexed categories, sorted."""
        return self._names

    @property
    def nbytes(self) -> int:
        """Approximate memory held by the index tables."""
        return (self._keys.itemsize * len(self._keys) + self._ids.itemsize * len(self._ids)
                + len(self._filter))

    def _probe(self, key: str) -> frozenset[str] | None:
        keys, ids, sets, bits, shift, _ = self._tables
        h = (hash(key) & _MASK64) >> 8
        slot = h >> shift
        if not bits[slot >> 3] >> (slot & 7) & 1:
            return None
        i = bisect_left(keys, h)
        return sets[ids[i]] if i < len(keys) and keys[i] == h else None

    def lookup(self, host: str) -> frozenset[str]:
        """Categories of `host` (empty when unlisted or not a host at all)."""
        name = _fast_normalize(host)
        if name is None:
            return _EMPTY
        if name.startswith(IP_KEY_PREFIX):
            return self._probe(name) or _EMPTY
        # The hot path: inlined probes over each label-boundary suffix, locals only.
        keys, ids, sets, bits, shift, mask = self._tables
        size, result = len(keys), _EMPTY
        labels, pos = name.count(".") + 1, 0
        while True:
            if mask >> labels & 1:
                h = (hash(name[pos:]) & _MASK64) >> 8
                slot = h >> shift
                if bits[slot >> 3] >> (slot & 7) & 1:
                    i = bisect_left(keys, h)
                    if i < size and keys[i] == h:
                        result = sets[ids[i]] if not result else result | sets[ids[i]]
            pos = name.find(".", pos) + 1
            if not pos:
                return result
            labels -= 1

    def match(self, host: str) -> Match | None:
        """The broadest listed domain matching `host` and the union of categories, or None.

        The matched domain is a good identity for "the site" (per-site cooldowns, heed
        tracking): `www.casino.com` and `m.casino.com` both match `casino.com`.
        """
        name = _fast_normalize(host)
        if name is None:
            return None
        if name.startswith(IP_KEY_PREFIX):
            found = self._probe(name)
            return Match(name[len(IP_KEY_PREFIX):], found) if found else None
        site, union = None, _EMPTY
        pos = 0
        while True:
            found = self._probe(name[pos:])
            if found is not None:
                site, union = name[pos:], union | found
            pos = name.find(".", pos) + 1
            if not pos:
                return Match(site, union) if site is not None else None

    def __contains__(self, host: object) -> bool:
        return isinstance(host, str) and self.match(host) is not None


def _fast_normalize(host: str) -> str | None:
    """normalize_host, with a shortcut for the common case of a plain ASCII name."""
    if host.isascii() and ":" not in host and "[" not in host:
        name = host.strip().lower().rstrip(".")
        if name and not name.rpartition(".")[2].isdigit():
            return name
    return normalize_host(host)
