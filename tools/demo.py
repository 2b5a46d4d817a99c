"""`make demo`: the whole product on its embedded defaults, on this machine.

SQLite, the bundled GeoLite2 demo database, the default rule bundle signed by the server's own
key, and one local agent enrolled as the demo employee. Everything lives under `.demo/` (wiped
at each start); the agent's home folder is redirected there too, so it never touches your files.
Runs until Ctrl-C (or `--seconds N`).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tools.demo_signins import write_demo_signins

REPO = Path(__file__).resolve().parent.parent
DEMO = Path(os.environ.get("HEEDFUL_DEMO_DIR", REPO / ".demo"))  # tests put it elsewhere
BIN = Path(sys.executable).parent
EMPLOYEE = "alice@corp.example"
SETTLE_SECONDS = 11  # the seal engine leaves files alone for 10 s after their last change
ADMIN, HELPDESK, PASSWORD = "admin@corp.example", "helpdesk@corp.example", "heedful-demo"


def free_port(preferred: int) -> int:
    """`preferred` if it is free on loopback, otherwise any free port."""
    for port in (preferred, 0):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return sock.getsockname()[1]
    raise RuntimeError("no free port on 127.0.0.1")


def step(title: str) -> None:
    print(f"\n\033[1m== {title}\033[0m", flush=True)


def run(*args: str, env: dict, stdin: str | None = None) -> str:
    """Run one CLI command, echo it, and stop the demo with its output if it fails."""
    print("$", " ".join(args), flush=True)
    done = subprocess.run([str(BIN / args[0]), *args[1:]], env=env, input=stdin, text=True,
                          capture_output=True)
    if done.returncode != 0:
        sys.exit(f"demo step failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    if done.stdout.strip():
        print(done.stdout.rstrip())
    return done.stdout


def wait_ready(url: str, server: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            sys.exit("the server exited during start-up; see the log above")
        try:
            with urllib.request.urlopen(url + "/readyz", timeout=2) as reply:
                if reply.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    sys.exit(f"the server did not become ready at {url}/readyz within {timeout:.0f} s")


def prepare_server(env: dict) -> None:
    step("Server: database schema, console users, an employee, signed default rules")
    run("heedful-server", "migrate", env=env)
    run("heedful-server", "recovery", "keygen", "--out", str(DEMO / "recovery"), env=env)
    for email, role in ((ADMIN, "security_admin"), (HELPDESK, "helpdesk")):
        run("heedful-server", "create-admin", email, "--role", role, "--password-stdin",
            env=env, stdin=PASSWORD + "\n")
    run("heedful-server", "employees", "add", EMPLOYEE, "--home-country", "GB",
        "--alias", "alice", "--alias", "CORP\\alice", env=env)
    run("heedful-server", "rules", "publish", str(REPO / "rules/defaults/bundle.yaml"),
        "--as", ADMIN, env=env)
    step("Sign-ins: two weeks in London, a failure burst, then Tokyo 40 minutes after London")
    signins = DEMO / "okta-demo.ndjson"
    write_demo_signins(signins, EMPLOYEE)
    run("heedful-server", "ingest", str(signins), "--format", "okta", env=env)
    run("heedful-server", "logins", "--employee", EMPLOYEE, "--flagged", env=env)


def wait_until_pending(env: dict, timeout: float = 30) -> None:
    """Poll `seal-status --json` until the agent's watcher has recorded the new file."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = subprocess.run([str(BIN / "heedful-agent"), "seal-status", "--json"], env=env,
                              text=True, capture_output=True)
        if done.returncode == 0 and json.loads(done.stdout).get("pending_files", 0) > 0:
            return
        time.sleep(1)
    sys.exit("the agent did not notice the new file in ~/Sensitive; see the log above")


def start_agent(url: str, env: dict) -> subprocess.Popen:
    step("Agent: enrol this machine as Alice's laptop and start it")
    token = run("heedful-server", "enroll-token", EMPLOYEE, env=env).strip().splitlines()[-1]
    agent_env = {**env, "HOME": str(DEMO / "home"), "HEEDFUL_AGENT_HOME": str(DEMO / "agent")}
    (DEMO / "home" / "Sensitive").mkdir(parents=True)
    (DEMO / "home" / "Downloads").mkdir(parents=True)
    run("heedful-agent", "enroll", "--server", url, "--token", token, env=agent_env)
    agent = subprocess.Popen([str(BIN / "heedful-agent"), "run"], env=agent_env)
    time.sleep(3)
    report = DEMO / "home" / "Sensitive" / "q3-board-report.txt"
    report.write_text("Quarterly figures, confidential.\n" * 200)
    step("Seal on idle: this headless machine has no idle counter, so seal by hand")
    print(f"wrote {report}; waiting until the agent has it pending and it "
          f"has settled (files still being written are left alone)", flush=True)
    wait_until_pending(agent_env)
    time.sleep(SETTLE_SECONDS)
    run("heedful-agent", "seal-now", env=agent_env)
    run("heedful-agent", "seal-status", env=agent_env)
    run("heedful-agent", "status", env=agent_env)
    return agent


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--seconds", type=float, default=0, help="stop after N s (0: Ctrl-C)")
    args = parser.parse_args(argv)
    shutil.rmtree(DEMO, ignore_errors=True)
    DEMO.mkdir()
    port = free_port(args.port)
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "HEEDFUL_DATA_DIR": str(DEMO / "server"), "HEEDFUL_PORT": str(port),
           "HEEDFUL_ACCESS_LOG": "false",
           "HEEDFUL_RECOVERY_PUBLIC_KEY_PATH": str(DEMO / "recovery" / "recovery-public.key")}
    prepare_server(env)
    step(f"Starting the server on {url}")
    server = subprocess.Popen([str(BIN / "heedful-server"), "run"], env=env)
    agent = None
    try:
        wait_ready(url, server)
        agent = start_agent(url, env)
        step("Running")
        print(json.dumps({"console": url + "/console/", "security admin": ADMIN,
                          "help desk": HELPDESK, "password": PASSWORD,
                          "API docs": url + "/api/docs"}, indent=2))
        print("Press Ctrl-C to stop." if not args.seconds else f"Stopping in {args.seconds:.0f} s.")
        deadline = time.monotonic() + args.seconds if args.seconds else None
        while deadline is None or time.monotonic() < deadline:
            if server.poll() is not None or agent.poll() is not None:
                sys.exit("a demo process exited unexpectedly; see the log above")
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        for proc in (agent, server):
            if proc and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                proc.wait(timeout=15)
    print(f"demo stopped; its state is in {DEMO}")


if __name__ == "__main__":
    main()
