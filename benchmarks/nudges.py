"""Browsing nudges: read and classify a big history, then one new visit; RSS with UT1 loaded.

Setup: the real UT1 lists from ../shared/data/ut1 (about 260,000 domains in 14 categories)
imported with `rules.ut1.import_ut1` and loaded as a bundle; a Chromium `History` (Chromium's
own schema) with 100,000 visits over 20,000 URLs: 5% on listed UT1 sites under `www.`, the rest
on unlisted hosts; 10% are sub-frames and 4% redirect chains.

Measured, each next to the same work with a plain `set` of the domains (suffix lookups, one
membership test per label boundary) in the same run:

* a full read: consistent snapshot (copy, open, query), the visit rules, and a category
  lookup per visit (what the agent does on first start with `backfill`);
* an incremental read after one new visit (median of 25): snapshot + read + classify;
* resident memory of a fresh agent-like process (psutil RSS) after loading the bundle and
  building the index, against the same process building a `set` instead.

    python -m benchmarks nudges [--visits N] [--ut1 DIR]
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from benchmarks.report import figure, header, ratio

UT1 = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "ut1"
CHROMIUM_DDL = """
CREATE TABLE urls(id INTEGER PRIMARY KEY AUTOINCREMENT,url LONGVARCHAR,title LONGVARCHAR,
  visit_count INTEGER DEFAULT 0 NOT NULL,typed_count INTEGER DEFAULT 0 NOT NULL,
  last_visit_time INTEGER NOT NULL,hidden INTEGER DEFAULT 0 NOT NULL);
CREATE TABLE visits(id INTEGER PRIMARY KEY AUTOINCREMENT,url INTEGER NOT NULL,
  visit_time INTEGER NOT NULL,from_visit INTEGER,external_referrer_url TEXT,
  transition INTEGER DEFAULT 0 NOT NULL,segment_id INTEGER,
  visit_duration INTEGER DEFAULT 0 NOT NULL,
  incremented_omnibox_typed_score BOOLEAN DEFAULT FALSE NOT NULL,opener_visit INTEGER,
  originator_cache_guid TEXT,originator_visit_id INTEGER,originator_from_visit INTEGER,
  originator_opener_visit INTEGER,is_known_to_sync BOOLEAN DEFAULT FALSE NOT NULL,
  consider_for_ntp_most_visited BOOLEAN DEFAULT FALSE NOT NULL,
  visited_link_id INTEGER DEFAULT 0 NOT NULL,app_id TEXT);
CREATE TABLE visit_source(id INTEGER PRIMARY KEY,source INTEGER NOT NULL);
CREATE INDEX visits_url_index ON visits (url);
CREATE INDEX visits_from_index ON visits (from_visit);
CREATE INDEX visits_time_index ON visits (visit_time);
"""
SINGLE, START, END, REDIRECT = 0x30000000, 0x10000000, 0x20000000, 0x80000000


def import_bundle(ut1: Path, out: Path):
    """UT1 -> our list files -> a resolved bundle (through the rules package)."""
    from rules.loader import load_bundle_file
    from rules.ut1 import import_ut1

    import_ut1(ut1, out)
    return load_bundle_file(out / "bundle.yaml")


def write_history(path: Path, listed: list[str], visits: int, seed: int = 3) -> None:
    """A Chromium History with `visits` visits (see the module docstring for the mix)."""
    from agent.browsing.visits import webkit_us

    rng = random.Random(seed)
    hosts = [f"www.{rng.choice(listed)}" if rng.random() < 0.05 else
             f"site{rng.randrange(10**6)}.example{rng.randrange(50)}.com"
             for _ in range(visits // 5)]
    urls = [(f"https://{h}/page{rng.randrange(100)}", "title", 0) for h in hosts]
    start = datetime.now(UTC) - timedelta(days=30)
    rows, vid, when = [], 0, start
    while vid < visits:
        when += timedelta(seconds=rng.randint(1, 50))
        url_id, t = rng.randrange(len(urls)) + 1, webkit_us(when)
        if rng.random() < 0.04 and vid + 2 <= visits:  # a redirect chain of two
            rows += [(vid + 1, url_id, t, 0, 0x1 | START), (vid + 2, rng.randrange(len(urls)) + 1,
                                                            t, vid + 1, 0x1 | END | REDIRECT)]
            vid += 2
            continue
        vid += 1
        rows.append((vid, url_id, t, 0, (3 if rng.random() < 0.1 else 0) | SINGLE))
    rows = [(i, u, t, f, tr - (1 << 32) if tr >= 1 << 31 else tr) for i, u, t, f, tr in rows]
    with sqlite3.connect(path) as conn:
        conn.executescript(CHROMIUM_DDL)
        conn.executemany("INSERT INTO urls (url, title, last_visit_time) VALUES (?, ?, ?)", urls)
        conn.executemany("INSERT INTO visits (id, url, visit_time, from_visit, transition) "
                         "VALUES (?, ?, ?, ?, ?)", rows)
    conn.close()


def set_lookup(names: set[str], host: str) -> bool:
    """The baseline: a membership test for the host and every parent domain."""
    while True:
        if host in names:
            return True
        dot = host.find(".")
        if dot < 0:
            return False
        host = host[dot + 1:]


class Checkpoints(dict):
    """An in-memory checkpoint store for the benchmark (the agent uses agent.store.Store)."""

    def get_checkpoint(self, name, default=None):
        return self.get(name, default)

    def put_checkpoint(self, name, value):
        self[name] = value


def read_and_classify(reader, profile, classify) -> tuple[int, int]:
    """One incremental read, every visit classified, checkpoint committed."""
    result = reader.read_new(profile)
    hits = sum(1 for v in result.visits if classify(v.host))
    reader.commit(profile, result)
    return len(result.visits), hits


def time_reads(history: Path, classify, visits_to_add: int = 25) -> dict[str, float]:
    """Full read, then `visits_to_add` single new visits; seconds and milliseconds."""
    from agent.browsing.profiles import Profile
    from agent.browsing.reader import HistoryReader
    from agent.browsing.visits import webkit_us

    reader = HistoryReader(Checkpoints(), settle=0.0, backfill=True)
    profile = Profile("chromium", "chromium", history.parent)
    started = time.perf_counter()
    count, hits = read_and_classify(reader, profile, classify)
    full = time.perf_counter() - started
    singles = []
    with sqlite3.connect(history) as writer:
        for _ in range(visits_to_add):
            writer.execute("INSERT INTO visits (url, visit_time, transition) VALUES (1, ?, ?)",
                           (webkit_us(datetime.now(UTC)), SINGLE))
            writer.commit()
            started = time.perf_counter()
            assert read_and_classify(reader, profile, classify)[0] == 1
            singles.append(time.perf_counter() - started)
    writer.close()
    return {"full_s": full, "visits": count, "hits": hits,
            "single_ms": statistics.median(singles) * 1000}


def _rss_child(kind: str, bundle_dir: str) -> None:
    """Run in a fresh process: RSS before and after loading UT1 the agent's way, as JSON."""
    import psutil

    import agent.browsing.nudger  # noqa: F401 - the agent's modules are loaded either way
    from rules.categories import CategoryIndex
    from rules.loader import load_bundle_file

    gc.collect()
    before = psutil.Process().memory_info().rss
    bundle = load_bundle_file(Path(bundle_dir) / "bundle.yaml")
    if kind == "index":
        keep = CategoryIndex.from_bundle(bundle)
    else:
        keep = {d for c in bundle.categories.values() for d in c.domains}
    gc.collect()
    with_bundle = psutil.Process().memory_info().rss
    del bundle
    gc.collect()
    alone = psutil.Process().memory_info().rss
    print(json.dumps({"before": before, "with_bundle": with_bundle, "alone": alone,
                      "size": len(keep)}))


def _rss(kind: str, bundle_dir: Path) -> dict[str, int]:
    out = subprocess.run([sys.executable, "-m", "benchmarks.nudges", "--rss-of", kind,
                          "--bundle-dir", str(bundle_dir)], capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout)


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and print the figures next to their same-run baselines."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks nudges")
    parser.add_argument("--visits", type=int, default=100_000)
    parser.add_argument("--ut1", type=Path, default=UT1)
    parser.add_argument("--rss-of", choices=["index", "set"], help=argparse.SUPPRESS)
    parser.add_argument("--bundle-dir", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.rss_of:
        _rss_child(args.rss_of, args.bundle_dir)
        return
    from rules.categories import CategoryIndex

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        bundle = import_bundle(args.ut1, work / "ut1")
        index = CategoryIndex.from_bundle(bundle)
        names = {d for c in bundle.categories.values() for d in c.domains}
        (work / "a" / "Default").mkdir(parents=True)
        (work / "b" / "Default").mkdir(parents=True)
        write_history(work / "a" / "Default" / "History", sorted(names), args.visits)
        (work / "b" / "Default" / "History").write_bytes(
            (work / "a" / "Default" / "History").read_bytes())
        size_mb = (work / "a" / "Default" / "History").stat().st_size / 2**20
        with_index = time_reads(work / "a" / "Default" / "History", index.lookup)
        with_set = time_reads(work / "b" / "Default" / "History",
                              lambda h: set_lookup(names, h))
        rss_index, rss_set = _rss("index", work / "ut1"), _rss("set", work / "ut1")
    _report(args.visits, len(names), size_mb, with_index, with_set, rss_index, rss_set)


def _report(visits, domains, size_mb, with_index, with_set, rss_index, rss_set) -> None:
    mb = 2**20
    header(f"nudges: {visits:,} visits ({size_mb:.1f} MB History), UT1 {domains:,} domains")
    figure("visits counted (after the visit rules)", with_index["visits"], "visits")
    figure("  ... of which on UT1-listed sites", with_index["hits"], "visits")
    assert (with_index["visits"], with_index["hits"]) == (with_set["visits"], with_set["hits"])
    ratio("full read + classify", with_index["full_s"], with_set["full_s"], "s",
          baseline_name="set")
    ratio("incremental read, 1 new visit", with_index["single_ms"], with_set["single_ms"],
          "ms", baseline_name="set", goal="a few ms")
    ratio("agent RSS, bundle + index", rss_index["with_bundle"] / mb,
          rss_set["with_bundle"] / mb, "MB", baseline_name="bundle + set")
    ratio("RSS added by the index alone", (rss_index["alone"] - rss_index["before"]) / mb,
          (rss_set["alone"] - rss_set["before"]) / mb, "MB", baseline_name="set alone",
          goal="< 50 MB")
    ratio("RSS added by bundle + index", (rss_index["with_bundle"] - rss_index["before"]) / mb,
          (rss_set["with_bundle"] - rss_set["before"]) / mb, "MB",
          baseline_name="bundle + set")


if __name__ == "__main__":
    main()
