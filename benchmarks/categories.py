"""CategoryIndex vs a plain `set` of strings: retained memory and lookups per second.

Synthetic but realistic data: 1,000,000 listed names built from syllables, digits and hyphens
over a weighted mix of TLDs (com, net, org, country codes, two-label suffixes like co.uk), a
fifth of them with a subdomain, spread over 20 categories (3% in two). Queries are hosts as a
browser shows them: a third are listed names under a random subdomain (hits), two thirds are
unlisted names with 2-4 labels (misses, the common case on a real laptop).

The set baseline answers a lookup the only way a set can with suffix semantics: one membership
test per label-boundary suffix of the host. Memory is measured in a fresh subprocess per
structure with tracemalloc: "retained" is what stays allocated after building with the input
freed (for the set, the strings themselves); "peak" includes the generated input list, which
both sides hold while building.

    python -m benchmarks categories [--domains N] [--queries N]
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Iterator

from benchmarks.report import figure, header, ratio

SYLLABLES = ("ka", "lo", "mi", "tre", "bet", "cas", "ino", "win", "pro", "net", "shop", "ma",
             "ri", "zo", "vel", "star", "lux", "pix", "go", "nova", "tek", "bio", "sun", "max",
             "an", "el", "or", "us", "da", "ve", "qui", "ton", "ber", "fa", "ne", "sol", "ju",
             "pla", "cor", "in", "tal", "gra", "mon", "ex", "ly", "do", "sa", "ku", "pe", "ra")
TLDS = (("com", 45), ("net", 8), ("org", 6), ("de", 5), ("ru", 5), ("info", 4), ("fr", 3),
        ("co.uk", 3), ("com.br", 2), ("xyz", 3), ("io", 2), ("nl", 2), ("pl", 2), ("it", 2),
        ("online", 2), ("site", 2), ("com.au", 1), ("co.jp", 1), ("es", 1), ("top", 1))
SUBDOMAINS = ("www", "m", "shop", "app", "cdn", "mail", "blog", "eu", "static", "play")
CATEGORIES = tuple(f"category{i:02d}" for i in range(20))


def _names(seed: int, count: int) -> Iterator[str]:
    """`count` pseudo-random registrable-looking names (fresh string objects each call)."""
    rng = random.Random(seed)
    tlds = [t for t, _ in TLDS]
    weights = [w for _, w in TLDS]
    for _ in range(count):
        stem = "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(3, 5)))
        if rng.random() < 0.4:
            stem += str(rng.randint(0, 9999))
        if rng.random() < 0.15:
            stem += "-" + rng.choice(SYLLABLES)
        name = f"{stem}.{rng.choices(tlds, weights)[0]}"
        if rng.random() < 0.2:
            name = f"{rng.choice(SUBDOMAINS)}.{name}"
        yield name


def listed_by_category(count: int) -> dict[str, list[str]]:
    """{category: names}, deterministic; 3% of names are in a second category too."""
    rng = random.Random(7)
    out: dict[str, list[str]] = {c: [] for c in CATEGORIES}
    for name in _names(1, count):
        out[rng.choice(CATEGORIES)].append(name)
        if rng.random() < 0.03:
            out[rng.choice(CATEGORIES)].append(name)
    return out


def queries(listed: dict[str, list[str]], count: int) -> list[str]:
    """Hosts to look up: 1/3 listed names under a subdomain, 2/3 unlisted names."""
    rng = random.Random(3)
    flat = [n for names in listed.values() for n in names]
    misses = _names(99, count)
    out = []
    for i in range(count):
        if i % 3 == 0:
            out.append(f"{rng.choice(SUBDOMAINS)}.{rng.choice(flat)}")
        else:
            out.append(next(misses))
    return out


def set_lookup(names: set[str], host: str) -> bool:
    """Baseline: test every label-boundary suffix of the lower-cased host."""
    host = host.lower().rstrip(".")
    pos = 0
    while True:
        if host[pos:] in names:
            return True
        pos = host.find(".", pos) + 1
        if not pos:
            return False


def _measure_memory(kind: str, count: int) -> dict[str, int]:
    """Bytes still allocated after building `kind` ("index" or "set") from fresh strings."""
    from rules.categories import CategoryIndex

    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    listed = listed_by_category(count)  # allocated while traced, so the set's strings count
    if kind == "index":
        built: object = CategoryIndex(listed, normalized=True)
    else:
        built = {n for names in listed.values() for n in names}
    del listed  # the strings now live only inside the set (or nowhere, for the index)
    gc.collect()
    current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert built is not None
    return {"retained": current - before, "peak": peak - before}


def _memory_in_subprocess(kind: str, count: int) -> dict[str, int]:
    out = subprocess.run([sys.executable, "-m", "benchmarks.categories", "--memory-of", kind,
                          "--domains", str(count)], check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _rate(lookup, hosts: list[str], rounds: int = 3) -> float:
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        for host in hosts:
            lookup(host)
        best = min(best, time.perf_counter() - start)
    return len(hosts) / best


def main(argv: list[str] | None = None) -> None:
    """Measure and print memory and lookup rate of CategoryIndex against the set baseline."""
    parser = argparse.ArgumentParser(prog="benchmarks.categories")
    parser.add_argument("--domains", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=300_000)
    parser.add_argument("--memory-of", choices=("index", "set"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.memory_of:
        print(json.dumps(_measure_memory(args.memory_of, args.domains)))
        return
    from rules.categories import CategoryIndex

    header(f"categories: {args.domains:,} listed names, {args.queries:,} lookups")
    index_mem = _memory_in_subprocess("index", args.domains)
    set_mem = _memory_in_subprocess("set", args.domains)
    ratio("memory retained (MB)", index_mem["retained"] / 1e6, set_mem["retained"] / 1e6, "MB",
          baseline_name="set of str", goal="far less than the set (ratio << 1)")
    ratio("memory peak while building (MB)", index_mem["peak"] / 1e6, set_mem["peak"] / 1e6,
          "MB", baseline_name="set of str")
    listed = listed_by_category(args.domains)
    start = time.perf_counter()
    index = CategoryIndex(listed, normalized=True)
    figure("index build time", time.perf_counter() - start, "s")
    names = {n for group in listed.values() for n in group}
    hosts = queries(listed, args.queries)
    hits = sum(1 for h in hosts if index.lookup(h))
    assert hits == sum(1 for h in hosts if set_lookup(names, h)), "index and set disagree"
    figure("distinct names in the index", len(index), "names")
    figure("hosts found in a category", 100 * hits / len(hosts), "%")
    ratio("lookups per second", _rate(index.lookup, hosts),
          _rate(lambda h: set_lookup(names, h), hosts), "lookups/s",
          baseline_name="set of str", goal="hundreds of thousands per second")


if __name__ == "__main__":
    main()
