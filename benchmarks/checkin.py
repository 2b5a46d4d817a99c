"""Agent check-ins against the real server: uvicorn with 2 workers on a fresh PostgreSQL
database, many simulated agents over keep-alive connections on 127.0.0.1.

Two phases, each for check-ins and for the trivial `/healthz` of the same server in the same
run, printed side by side with their ratio:

* capacity — many keep-alive connections sending back to back (closed loop): requests per
  second, and the server/PostgreSQL/client CPU each request cost (PostgreSQL: its shared
  processes and this run's database sessions, not other databases' sessions);
* latency at load — requests sent at a fixed rate (default 1,500/s, about 100,000 laptops at
  one check-in a minute) whatever the replies do (open loop, like independent agents): p50 and
  p99 from the scheduled send time, so waiting inside the server counts.

Goals (issue 3): ≥ 1,500 check-ins/s on 2 cores, p99 < 50 ms, check-in cost ≤ 2x trivial.

The load generator is a minimal HTTP/1.1 client on asyncio streams so that it takes little of
the CPU the server needs (a general-purpose client would cost more than the server).

    python -m benchmarks.checkin [--devices 1000] [--connections 64] [--seconds 10] [--rate 1500]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from benchmarks import report

ADMIN_URL = os.environ.get("HEEDFUL_TEST_POSTGRES_URL",
                           "postgresql+psycopg://postgres@127.0.0.1:5432/test")


class Connection:
    """One keep-alive HTTP/1.1 connection speaking just enough of the protocol."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> Connection:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    async def request(self, method: str, path: str, body: bytes = b"",
                      headers: str = "") -> tuple[int, bytes]:
        head = (f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{headers}"
                f"Content-Length: {len(body)}\r\nContent-Type: application/json\r\n\r\n")
        self.writer.write(head.encode() + body)
        raw = await self.reader.readuntil(b"\r\n\r\n")
        status = int(raw[9:12])
        length = 0
        for line in raw.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        return status, await self.reader.readexactly(length) if length else b""

    def close(self) -> None:
        self.writer.close()


def _state(rng: random.Random) -> dict:
    """A device state like the agent's (docs/protocol.md), with varying figures."""
    return {"agent_version": "0.1.0", "rules_version": None, "os": "Windows 11 23H2",
            "idle_seconds": rng.randint(0, 600), "locked": False, "asleep_since": None,
            "seal": {"pending_files": rng.randint(0, 40), "pending_bytes": 3145728,
                     "sealed_files": 0, "sealed_bytes": 0,
                     "last_seal_at": "2024-05-02T07:55:00Z"},
            "footprint": {"cpu_percent": 0.3, "rss_bytes": 41943040}}


class CheckinBodies:
    """Check-in bodies as agents send them: a state, and in a fifth of check-ins a few queued
    events, each with a fresh id (so the server stores every one). States are serialised once
    up front (a few thousand variants) so that making a body costs the load generator — which
    shares the machine with the server — next to nothing."""

    EVENT = ('{"id":"%s","type":"nudge.outcome","occurred_at":"2024-05-02T09:00:00Z",'
             '"data":{"category":"gambling","country":"AE","outcome":"heeded"}}')

    def __init__(self, rng: random.Random, variants: int = 4096) -> None:
        self.rng = rng
        self.states = [json.dumps(_state(rng)) for _ in range(variants)]

    def next(self) -> bytes:
        """One body (JSON bytes)."""
        rng = self.rng
        events = ""
        if rng.random() < 0.2:  # a fifth of check-ins carry a few queued events
            events = ",".join(self.EVENT % uuid.uuid4() for _ in range(rng.randint(1, 3)))
        state = self.states[rng.randrange(len(self.states))]
        return f'{{"state":{state},"events":[{events}]}}'.encode()


async def _drive(port: int, connections: int, seconds: float, max_requests: int,
                 make_request) -> tuple[int, list[float], int]:
    """Run `make_request(conn, i)` on `connections` connections; (count, latencies, errors)."""
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds
    counter = iter(range(max_requests))

    async def worker() -> None:
        nonlocal errors
        conn = await Connection.open(port)
        try:
            for i in counter:
                if time.perf_counter() > deadline:
                    break
                started = time.perf_counter()
                status = await make_request(conn, i)
                latencies.append(time.perf_counter() - started)
                errors += status != 200
        finally:
            conn.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(connections)))
    elapsed = time.perf_counter() - started
    return len(latencies), latencies, errors if elapsed else 0


async def _open_loop(port: int, rate: float, seconds: float, make_request,
                     max_connections: int = 256) -> tuple[float, list[float], int]:
    """Send at a fixed rate whatever the replies do (like many independent agents); latency
    counts from the scheduled send time, so queueing inside the server is included."""
    idle: asyncio.Queue[Connection] = asyncio.Queue()
    opened = 0
    latencies: list[float] = []
    errors = 0
    tasks = []

    async def one(i: int, scheduled: float) -> None:
        nonlocal opened, errors
        if idle.empty() and opened < max_connections:
            opened += 1
            conn = await Connection.open(port)
        else:
            conn = await idle.get()
        status = await make_request(conn, i)
        latencies.append(time.perf_counter() - scheduled)
        errors += status != 200
        idle.put_nowait(conn)

    start = time.perf_counter()
    for i in range(int(rate * seconds)):
        scheduled = start + i / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.ensure_future(one(i, scheduled)))
    await asyncio.gather(*tasks)
    achieved = len(latencies) / (time.perf_counter() - start)
    while not idle.empty():
        idle.get_nowait().close()
    return achieved, latencies, errors


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


async def _enroll(port: int, tokens: list[str]) -> list[str]:
    headers: list[str] = []
    conns = [await Connection.open(port) for _ in range(8)]

    async def run(conn: Connection, part: list[str]) -> None:
        for token in part:
            body = json.dumps({"token": token, "name": "BENCH", "os": "windows",
                               "agent_version": "0.1.0"}).encode()
            status, data = await conn.request("POST", "/api/v1/enroll", body)
            assert status == 201, data
            reply = json.loads(data)
            headers.append(f"Authorization: Device {reply['device_id']}:"
                           f"{reply['device_secret']}\r\n")

    await asyncio.gather(*(run(c, tokens[i::8]) for i, c in enumerate(conns)))
    for conn in conns:
        conn.close()
    return headers


def _seed(url: str, devices: int) -> list[str]:
    """Migrate the fresh database and create one employee + enrolment token per device."""
    from server.migrations import upgrade
    from server.services import enrollment, fleet
    from server.services.audit import Actor
    from server.services.clock import utc_now
    from server.storage.db import Database

    upgrade(url)
    db = Database(url)
    tokens = []
    with db.transaction() as s:
        for n in range(devices):
            email = f"bench{n}@corp.example"
            fleet.add_employee(s, email=email, home_country="GB", aliases=(),
                               actor=Actor("bench"), now=utc_now())
            tokens.append(enrollment.issue_token(s, email=email, lifetime_seconds=3600,
                                                 actor=Actor("bench"), now=utc_now()).token)
    db.dispose()
    return tokens


def _start_server(url: str, port: int, workers: int, data_dir: Path,
                  access_log: bool) -> subprocess.Popen[bytes]:
    env = {**os.environ, "HEEDFUL_DATABASE_URL": url, "HEEDFUL_DATA_DIR": str(data_dir),
           "HEEDFUL_ACCESS_LOG": "true" if access_log else "false",
           "HEEDFUL_LOG_LEVEL": "warning" if not access_log else "info"}
    log = open(data_dir / "server.log", "wb")  # noqa: SIM115 - lives as long as the server
    return subprocess.Popen([sys.executable, "-m", "server.cli", "run", "--port", str(port),
                             "--workers", str(workers)], env=env, stdout=log, stderr=log)


async def _wait_ready(port: int, process: subprocess.Popen[bytes]) -> None:
    for _ in range(300):
        if process.poll() is not None:
            raise RuntimeError("server exited during start-up")
        try:
            conn = await Connection.open(port)
            status, _ = await conn.request("GET", "/readyz")
            conn.close()
            if status == 200:
                return
        except OSError:
            pass
        await asyncio.sleep(0.1)
    raise RuntimeError("server did not become ready")


def _cpu_seconds(pids: list[int]) -> float:
    """User+system CPU seconds used so far by these processes (Linux /proc)."""
    total = 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def _process_groups(server_pid: int, database: str) -> dict[str, list[int]]:
    """Server processes (uvicorn and its workers) and PostgreSQL's: its shared processes and
    the sessions of this run's database (not other databases' sessions on the same server)."""
    groups: dict[str, list[int]] = {"server": [server_pid], "postgres": []}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if name.startswith("postgres"):
            session = re.match(r"postgres: [^:]*: (?:\S+ (\S+) \S+\(\d+\)|autovacuum worker (\S+))",
                               command)
            if session is None or database in session.groups():
                groups["postgres"].append(int(entry.name))
        elif parent == server_pid:
            groups["server"].append(int(entry.name))
    return groups


async def _measure(args: argparse.Namespace, port: int, auth: list[str],
                   server_pid: int, database: str) -> dict[str, tuple]:
    bodies = CheckinBodies(random.Random(7))

    async def trivial(conn: Connection, _i: int) -> int:
        return (await conn.request("GET", "/healthz"))[0]

    async def checkin(conn: Connection, i: int) -> int:
        body = bodies.next()
        return (await conn.request("POST", "/api/v1/checkin", body, auth[i % len(auth)]))[0]

    results: dict[str, tuple] = {}
    await _drive(port, args.connections, 1.5, 10**9, trivial)  # warm up both paths
    await _drive(port, args.connections, 1.5, 10**9, checkin)
    groups = _process_groups(server_pid, database)
    for name, func in (("trivial", trivial), ("checkin", checkin)):
        before = {g: _cpu_seconds(p) for g, p in groups.items()}
        before["client"] = time.process_time()
        started = time.perf_counter()
        count, latencies, errors = await _drive(port, args.connections, args.seconds,
                                                args.max_requests, func)
        cpu = {g: _cpu_seconds(p) - before[g] for g, p in groups.items()}
        cpu["client"] = time.process_time() - before["client"]
        per_request = {g: seconds / max(count, 1) * 1000 for g, seconds in cpu.items()}
        results[name] = (count / (time.perf_counter() - started), latencies, errors,
                         per_request)
    for name, func in (("trivial", trivial), ("checkin", checkin)):
        results[f"{name}@rate"] = await _open_loop(port, args.rate, args.seconds, func)
    return results


def _print(results: dict[str, tuple], args: argparse.Namespace) -> None:
    report.header(f"check-ins: uvicorn {args.workers} workers, PostgreSQL, {args.devices} "
                  f"devices, {args.connections} connections, {args.seconds:g} s per phase")
    trivial_rps, _, trivial_err, trivial_cpu = results["trivial"]
    rps, _, errors, cpu = results["checkin"]
    report.ratio("capacity: check-ins per second", rps, trivial_rps, "req/s",
                 baseline_name="/healthz", goal=">= 1,500/s")
    report.figure("capacity: check-in cost vs trivial", trivial_rps / rps if rps else 0, "x",
                  goal="<= 2x")
    achieved, lat, rate_errors = results["checkin@rate"]
    t_achieved, t_lat, t_errors = results["trivial@rate"]
    report.ratio(f"at {args.rate:g}/s offered: achieved", achieved, t_achieved, "req/s",
                 baseline_name="/healthz")
    report.ratio(f"at {args.rate:g}/s: p50 latency", _percentile(lat, 0.5),
                 _percentile(t_lat, 0.5), "ms", baseline_name="/healthz")
    report.ratio(f"at {args.rate:g}/s: p99 latency", _percentile(lat, 0.99),
                 _percentile(t_lat, 0.99), "ms", baseline_name="/healthz", goal="< 50 ms")
    errors += rate_errors + t_errors
    for group in ("server", "postgres", "client"):
        report.ratio(f"CPU per request: {group}", cpu[group], trivial_cpu[group], "ms",
                     baseline_name="/healthz")
    report.figure("errors (non-200)", errors + trivial_err, "replies")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="benchmarks.checkin", description=__doc__)
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--max-requests", type=int, default=200_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rate", type=float, default=1500.0,
                        help="Offered check-ins per second for the latency phase.")
    parser.add_argument("--no-access-log", action="store_true",
                        help="Run the server without its per-request JSON log line.")
    args = parser.parse_args(argv)

    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"heedful_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    process = None
    try:
        tokens = _seed(url, args.devices)
        with tempfile.TemporaryDirectory(prefix="heedful-bench-") as data:
            port = _free_port()
            process = _start_server(url, port, args.workers, Path(data), not args.no_access_log)
            try:
                asyncio.run(_wait_ready(port, process))
                auth = asyncio.run(_enroll(port, tokens))
                _print(asyncio.run(_measure(args, port, auth, process.pid, name)), args)
            except Exception:
                errors = [line for line in (Path(data) / "server.log").read_text().splitlines()
                          if '"level":"error"' in line or "Traceback" in line]
                print("server errors (last 5):", *errors[-5:], sep="\n  ", file=sys.stderr)
                raise
            finally:
                process.terminate()
                process.wait(timeout=20)
    finally:
        if process is not None and process.poll() is None:
            process.kill()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _free_port() -> int:
    import socket
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


if __name__ == "__main__":
    main()
