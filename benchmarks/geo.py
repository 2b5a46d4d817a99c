"""Geolocation lookups/s: cached Geolocator against the same lookups with no cache.

The address stream mimics sign-ins: most come from a small pool of offices, home routers and VPN
exits that repeat all day, a minority from addresses seen once. Baseline: the same Geolocator
code with cache_size=0, so the ratio is what the LRU cache buys on a realistic mix.
"""

from __future__ import annotations

import argparse
import ipaddress
import random
import time

from benchmarks import report
from server.services.geo import Geolocator, is_internal


def _random_public_ip(rng: random.Random) -> str:
    while True:
        addr = ipaddress.IPv4Address(rng.getrandbits(32))
        if not is_internal(addr):
            return str(addr)


def address_stream(count: int, *, pool: int, reuse: float, seed: int = 7) -> list[str]:
    """`count` addresses; a `reuse` share drawn (skewed) from a fixed pool of `pool` addresses."""
    rng = random.Random(seed)
    common = [_random_public_ip(rng) for _ in range(pool)]
    stream = []
    for _ in range(count):
        if rng.random() < reuse:
            # Pareto-ish skew: a few addresses (big offices) dominate.
            stream.append(common[min(int(rng.paretovariate(1.2)) - 1, pool - 1)])
        else:
            stream.append(_random_public_ip(rng))
    return stream


def _rate(locator: Geolocator, stream: list[str]) -> float:
    start = time.perf_counter()
    for ip in stream:
        locator.locate(ip)
    return len(stream) / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> None:
    """Print cached vs uncached lookups/s on the demo (or given) City database."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks geo")
    parser.add_argument("--lookups", type=int, default=200_000)
    parser.add_argument("--pool", type=int, default=5_000, help="recurring addresses")
    parser.add_argument("--reuse", type=float, default=0.9, help="share from the pool")
    args = parser.parse_args(argv)
    stream = address_stream(args.lookups, pool=args.pool, reuse=args.reuse)
    report.header(f"geolocation: {args.lookups:,} lookups, {args.reuse:.0%} from "
                  f"{args.pool:,} recurring addresses")
    uncached = Geolocator(cache_size=0)
    cached = Geolocator()
    try:
        base = _rate(uncached, stream)
        value = _rate(cached, stream)
    finally:
        uncached.close()
        cached.close()
    report.ratio("Geolocator.locate, LRU cache", value, base, "lookups/s",
                 baseline_name="no cache", goal="> 1 (cache pays off)")


if __name__ == "__main__":
    main()
