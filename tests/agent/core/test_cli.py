"""`heedful-agent` commands that need no server: status, ledger, config, enroll errors."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from agent.cli import main
from agent.ledger import Ledger
from agent.store import Store


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def test_status_without_a_running_agent_is_built_from_the_state(tmp_path: Path):
    code, out = run("status", "--json", "--home", str(tmp_path))
    assert code == 0
    status = json.loads(out)
    assert status["agent"]["running"] is False
    assert status["enrolment"]["state"] == "not_enrolled"
    assert status["rules"]["version"] is None and status["outbox"]["depth"] == 0
    assert {c["name"] for c in status["capabilities"]} >= {"idle", "lock", "sleep_wake"}
    code, text = run("status", "--home", str(tmp_path))
    assert code == 0 and "not enrolled" in text.replace("_", " ")


def test_ledger_prints_what_was_sent(tmp_path: Path):
    assert "nothing has been sent" in run("ledger", "--home", str(tmp_path))[1]
    store = Store(tmp_path)
    Ledger(store).record("enroll", "enrolment request to https://h as laptop",
                         {"token": "het_x", "name": "laptop"})
    store.close()
    code, out = run("ledger", "--home", str(tmp_path))
    assert code == 0 and "enrolment request" in out and '"token": "***"' in out


def test_config_set_validates_and_persists(tmp_path: Path):
    assert run("config", "set", "cpu_limit_percent", "lots", "--home", str(tmp_path))[0] != 0
    assert run("config", "set", "nonsense", "1", "--home", str(tmp_path))[0] != 0
    assert run("config", "set", "cpu_limit_percent", "3", "--home", str(tmp_path))[0] == 0
    code, out = run("config", "show", "--home", str(tmp_path))
    line = next(li for li in out.splitlines() if li.startswith("cpu_limit_percent"))
    assert "3.0" in line and "stored" in line


def test_enroll_against_nothing_fails_with_a_clear_message(tmp_path: Path):
    code, out = run("enroll", "--server", "http://127.0.0.1:9", "--token", "t",
                    "--home", str(tmp_path))
    assert code != 0 and "cannot reach http://127.0.0.1:9" in out
    code, out = run("enroll", "--server", "http://example.com", "--token", "t",
                    "--home", str(tmp_path))
    assert code != 0 and "plain HTTP" in out
