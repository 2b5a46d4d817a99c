"""Agent footprint: the real headless agent, enrolled against a real local server, left alone.

The server publishes the default rule bundle (`rules/defaults`), which the agent downloads,
verifies and applies before the window opens. Measures the agent process's average CPU (% of
one core) and peak RSS over `--seconds` (default 120), next to a bare
`python -c 'import time; time.sleep(N)'` measured over the same window in the same run. The
agent runs every registered sensor (presence, sign-ins, and those of later features).
Goal: under 0.5 % CPU on average and under 60 MB RSS.

    python -m benchmarks.agent_footprint --seconds 120
"""

from __future__ import annotations

import argparse
import http.client
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

from benchmarks import report

BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"timed out waiting for {what}")


def _healthy(port: int) -> bool:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    conn.request("GET", "/healthz")
    return conn.getresponse().status == 200


def _start_server(folder: Path, env: dict[str, str]) -> tuple[subprocess.Popen, str]:
    server = [str(BIN / "heedful-server")]
    for args in (["migrate"], ["employees", "add", "bench@corp.example", "--home-country", "GB"]):
        subprocess.run(server + args, env=env, check=True, capture_output=True)
    port = _free_port()
    log = (folder / "server.log").open("ab")
    proc = subprocess.Popen(server + ["run", "--port", str(port)], env=env, stdout=log,
                            stderr=log)
    _wait(lambda: _healthy(port), 60, "the server")
    token = subprocess.run(server + ["enroll-token", "bench@corp.example"], env=env,
                           check=True, capture_output=True, text=True).stdout.split()[-1]
    from rules.defaults import default_bundle_path

    subprocess.run(server + ["rules", "publish", str(default_bundle_path())], env=env,
                   check=True, capture_output=True)  # agents download and verify it
    return proc, token


def _measure(procs: dict[str, psutil.Process], seconds: float) -> dict[str, tuple[float, int]]:
    """Average CPU % of one core and peak RSS of each process over `seconds`."""
    start = {n: (p.cpu_times(), p.memory_info().rss) for n, p in procs.items()}
    peak = {n: rss for n, (_, rss) in start.items()}
    began = time.monotonic()
    while time.monotonic() - began < seconds:
        time.sleep(1.0)
        for name, proc in procs.items():
            peak[name] = max(peak[name], proc.memory_info().rss)
    wall = time.monotonic() - began
    out = {}
    for name, proc in procs.items():
        now, then = proc.cpu_times(), start[name][0]
        used = (now.user + now.system) - (then.user + then.system)
        out[name] = (used / wall * 100, peak[name])
    return out


def main(argv: list[str] | None = None) -> None:
    """Run the measurement and print it next to the bare-Python baseline."""
    parser = argparse.ArgumentParser(prog="benchmarks.agent_footprint")
    parser.add_argument("--seconds", type=float, default=120.0, help="measurement window")
    args = parser.parse_args(argv)
    report.header(f"agent footprint: headless agent, enrolled, default rules, "
                  f"{args.seconds:.0f} s")
    with tempfile.TemporaryDirectory(prefix="heedful-bench-") as tmp:
        folder = Path(tmp)
        env = {**os.environ, "HEEDFUL_DATA_DIR": str(folder / "server"),
               "HEEDFUL_DATABASE_URL": f"sqlite:///{folder / 'server.db'}",
               "HEEDFUL_ACCESS_LOG": "false", "HEEDFUL_AGENT_HOME": str(folder / "agent")}
        (folder / "server").mkdir()
        server, token = _start_server(folder, env)
        agent = baseline = None
        try:
            url = f"http://127.0.0.1:{server.args[-1]}"
            subprocess.run([str(BIN / "heedful-agent"), "enroll", "--server", url, "--token",
                            token], env=env, check=True, capture_output=True)
            log = (folder / "agent.log").open("ab")
            agent = subprocess.Popen([str(BIN / "heedful-agent"), "run"], env=env, stdout=log,
                                     stderr=log)
            from agent.localclient import LocalClient

            client = LocalClient(folder / "agent")
            _wait(lambda: (folder / "agent" / "localapi.json").exists(), 60, "the agent")
            _wait(lambda: client.status()["server"]["last_checkin_at"], 60, "a check-in")
            _wait(lambda: client.status()["rules"]["version"], 60, "the default bundle")
            time.sleep(2.0)  # let start-up work settle before the window opens
            baseline = subprocess.Popen([sys.executable, "-c",
                                         f"import time; time.sleep({args.seconds + 30})"])
            time.sleep(0.5)
            found = _measure({"agent": psutil.Process(agent.pid),
                              "baseline": psutil.Process(baseline.pid)}, args.seconds)
            checkins = client.status()["server"]
        finally:
            for proc in (agent, baseline, server):
                if proc is not None and proc.poll() is None:
                    proc.terminate()
                    proc.wait(30)
    (cpu, rss), (base_cpu, base_rss) = found["agent"], found["baseline"]
    report.ratio("agent CPU (% of one core, average)", cpu, max(base_cpu, 1e-3), "%",
                 baseline_name="sleeping python", goal="< 0.5 %")
    report.ratio("agent peak RSS", rss / 2**20, base_rss / 2**20, "MB",
                 baseline_name="sleeping python", goal="< 60 MB")
    if checkins.get("last_outcome") != "ok":
        print(f"warning: the agent's last check-in was not ok: {checkins}")


if __name__ == "__main__":
    main()
