"""Every agent setting, declared once: name, type, default, help.

A value comes from, in order: the environment (`HEEDFUL_AGENT_<NAME>` upper-cased), the
`settings` table of the state database (written by `heedful-agent enroll --ca-file` or
`heedful-agent config set`), then the default here. Policy (idle threshold, check-in interval)
comes from the signed rule bundle, not from here.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Setting:
    """One declared setting."""

    name: str
    type: type
    default: Any
    help: str

    @property
    def env(self) -> str:
        return "HEEDFUL_AGENT_" + self.name.upper()


SETTINGS: tuple[Setting, ...] = (
    Setting("ca_file", str, "", "PEM file of CA certificates to trust for the server instead "
            "of the system store (set by `enroll --ca-file`)."),
    Setting("request_timeout", float, 20.0, "Seconds to wait for the server per request."),
    Setting("min_checkin_interval", float, 15.0, "Never check in more often than this many "
            "seconds, whatever the server says (protocol minimum: 15)."),
    Setting("local_api_port", int, 0, "TCP port of the local API on 127.0.0.1 (0: any free "
            "port, written to localapi.json)."),
    Setting("local_api_socket", str, "", "Serve the local API on this Unix socket path instead "
            "of TCP (POSIX only)."),
    Setting("cpu_limit_percent", float, 5.0, "Footprint watchdog: sustained CPU % of one core "
            "above which the agent backs off."),
    Setting("rss_limit_mb", float, 150.0, "Footprint watchdog: resident memory above which "
            "the agent backs off."),
    Setting("outbox_keep_days", float, 7.0, "The outbox keeps at least this many days of "
            "events while the server is unreachable."),
    Setting("outbox_keep_events", int, 100_000, "... and at least this many events."),
    Setting("outbox_hard_max", int, 1_000_000, "Absolute cap on queued events (oldest "
            "dropped first, counted)."),
    Setting("ledger_keep_days", float, 90.0, "How long the local ledger of what was sent is "
            "kept."),
    Setting("signins_poll_seconds", float, 60.0, "How often this laptop's sign-in logs are "
            "read."),
    Setting("signins_backfill_hours", float, 24.0, "On the first read, sign-ins this recent "
            "are reported."),
    Setting("wtmp_path", str, "", "Read successful logins from this wtmp file instead of "
            "/var/log/wtmp (Linux)."),
    Setting("btmp_path", str, "", "Read failed logins from this btmp file instead of "
            "/var/log/btmp (Linux)."),
    Setting("rules_retry_seconds", float, 900.0, "After refusing a rule bundle, wait this long "
            "before downloading the same version again."),
    Setting("log_level", str, "INFO", "Python logging level of the agent."),
    Setting("fault_pause_after_send", float, 0.0, "FAULT INJECTION (tests only): after the "
            "server accepted a batch and before the outbox is trimmed, write "
            "`fault-paused` in the state folder and sleep this many seconds."),
)
BY_NAME = {s.name: s for s in SETTINGS}


def _convert(setting: Setting, raw: Any) -> Any:
    if isinstance(raw, str) and setting.type is not str:
        return setting.type(raw.strip())
    return setting.type(raw)


class Settings:
    """Resolved settings for one agent home (environment > stored > default)."""

    def __init__(self, stored: Mapping[str, Any] | None = None,
                 env: Mapping[str, str] | None = None) -> None:
        self._stored = dict(stored or {})
        self._env = os.environ if env is None else env

    def get(self, name: str) -> Any:
        """The value of setting `name`; a malformed value raises ValueError naming it."""
        setting = BY_NAME[name]
        for source, raw in (("environment " + setting.env, self._env.get(setting.env)),
                            ("stored setting", self._stored.get(name))):
            if raw not in (None, ""):
                try:
                    return _convert(setting, raw)
                except (TypeError, ValueError) as exc:
                    raise ValueError(f"setting {name} from {source}: {raw!r} is not a "
                                     f"{setting.type.__name__}") from exc
        return setting.default

    def __getattr__(self, name: str) -> Any:
        if name in BY_NAME:
            return self.get(name)
        raise AttributeError(name)

    def describe(self) -> list[dict[str, Any]]:
        """Every setting with its value and where it came from (for `config show`)."""
        out = []
        for s in SETTINGS:
            source = ("environment" if self._env.get(s.env) not in (None, "") else
                      "stored" if self._stored.get(s.name) not in (None, "") else "default")
            out.append({"name": s.name, "value": self.get(s.name), "source": source,
                        "env": s.env, "help": s.help})
        return out


def load(store) -> Settings:
    """Settings for the agent whose state is `store`."""
    rows = store.query("SELECT key, value FROM settings")
    return Settings({key: json.loads(value) for key, value in rows})
