"""Which address a request really came from, honouring trusted reverse proxies.

`X-Forwarded-For` is believed only as far as it was written by proxies we trust: starting from
the socket peer, walk the header right to left while the current hop is a trusted proxy; the
first address that is not a trusted proxy is the client. A client can prepend anything to the
header, so taking its left-most entry would let anyone choose their own address.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from functools import lru_cache

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def _parse(text: str) -> Address | None:
    try:
        address = ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


class ClientIpResolver:
    """Resolves the client address from the peer and X-Forwarded-For given trusted proxies."""

    def __init__(self, trusted_proxies: Iterable[str] = ()) -> None:
        self._networks: tuple[Network, ...] = tuple(
            ipaddress.ip_network(cidr, strict=False) for cidr in trusted_proxies)
        self._is_trusted = lru_cache(maxsize=4096)(self._check_trusted)
        # Agents come back from the same few addresses every minute: cache whole answers.
        self.resolve = lru_cache(maxsize=65536)(self._resolve)  # type: ignore[method-assign]

    def _check_trusted(self, address: Address) -> bool:
        return any(address in network for network in self._networks)

    def trusts(self, peer: str | None) -> bool:
        """True if `peer` is one of the trusted proxies."""
        address = _parse(peer) if peer else None
        return address is not None and self._is_trusted(address)

    def resolve(self, peer: str | None, forwarded_for: str | None) -> str | None:
        """The client's address as text (None if the peer is unknown)."""
        return self._resolve(peer, forwarded_for)

    def _resolve(self, peer: str | None, forwarded_for: str | None) -> str | None:
        current = _parse(peer) if peer else None
        if current is None:
            return peer
        if not forwarded_for or not self._networks:
            return str(current)
        hops = [h for h in (part.strip() for part in forwarded_for.split(",")) if h]
        while hops and self._is_trusted(current):
            candidate = _parse(hops.pop())
            if candidate is None:  # garbage written by the client: stop at the last good hop
                break
            current = candidate
        return str(current)
