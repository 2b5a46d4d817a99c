"""The server's settings: each declared once (name, type, default, help, secret flag).

Values come, in increasing priority, from the declared default, an optional TOML file (path in
`HEEDFUL_CONFIG` or `--config`; flat `name = value` keys) and environment variables
`HEEDFUL_<NAME>`. `Settings.sources` records where each value came from, for
`heedful-server settings`.
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ENV_PREFIX = "HEEDFUL_"
CONFIG_ENV = "HEEDFUL_CONFIG"


class SettingsError(ValueError):
    """A setting has an invalid value; the message names the setting and its source."""


_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw]?)\s*$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str | int) -> int:
    """Seconds from `90`, `90s`, `15m`, `12h`, `7d` or `2w`."""
    if isinstance(text, int):
        return text
    match = _DURATION.match(str(text))
    if not match:
        raise ValueError(f"{text!r} is not a duration like 90s, 15m, 12h or 7d")
    return int(match.group(1)) * _UNITS[match.group(2)]


def _parse_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"{value!r} is not a boolean (true/false)")


def _parse_cidrs(value: Any) -> tuple[str, ...]:
    items = value if isinstance(value, list) else str(value).replace(",", " ").split()
    return tuple(str(ipaddress.ip_network(str(item).strip(), strict=False)) for item in items)


def _parse_choice(*choices: str) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        text = str(value).strip().lower()
        if text not in choices:
            raise ValueError(f"{value!r} is not one of {', '.join(choices)}")
        return text
    return parse


def _parse_positive_int(value: Any) -> int:
    number = int(value)
    if number < 1:
        raise ValueError(f"{value!r} must be at least 1")
    return number


@dataclass(frozen=True)
class Setting:
    """One setting: its name, parser (the type), default, help text and whether it is secret."""

    name: str
    parse: Callable[[Any], Any]
    default: Any
    help: str
    secret: bool = False
    type_name: str = "str"

    @property
    def env(self) -> str:
        return ENV_PREFIX + self.name.upper()


SETTINGS: tuple[Setting, ...] = (
    Setting("data_dir", str, "~/.local/share/heedful-server",
            "Folder for the SQLite database and the generated signing key.", type_name="path"),
    Setting("database_url", str, "",
            "SQLAlchemy URL, e.g. postgresql+psycopg://user:pw@host/db. Empty: SQLite file "
            "heedful.db in data_dir.", secret=True),
    Setting("db_pool_size", _parse_positive_int, 10,
            "PostgreSQL connections kept open per worker process; also the number of request "
            "threads per worker, so a request never waits for or opens a connection.",
            type_name="int"),
    Setting("db_max_overflow", int, 0,
            "Extra PostgreSQL connections a worker may open beyond db_pool_size. Each is "
            "closed after use, costing a new server process per request: keep it 0 unless "
            "background tasks need connections.", type_name="int"),
    Setting("db_statement_timeout_ms", int, 30_000,
            "PostgreSQL statement timeout in milliseconds (0: none); a request stuck on a lock "
            "fails with 503 instead of hanging.", type_name="int"),
    Setting("signing_key_path", str, "",
            "Ed25519 private key (PEM) that signs rule bundles. Empty: signing-key.pem in "
            "data_dir, generated on first start (mode 0600).", type_name="path"),
    Setting("recovery_public_key_path", str, "",
            "The organisation's recovery public key (X25519, base64 or PEM; made by "
            "`heedful-server recovery keygen`). Agents wrap their seal key to it and upload the "
            "result (escrow). Empty: no escrow; agents report \"not configured\".",
            type_name="path"),
    Setting("geoip_city_db", str, "",
            "GeoIP2/GeoLite2 City database. Empty: the demo database if installed, else no "
            "locations.", type_name="path"),
    Setting("geoip_asn_db", str, "", "GeoIP2/GeoLite2 ASN database (optional).",
            type_name="path"),
    Setting("geoip_anonymous_db", str, "", "GeoIP2 Anonymous-IP database (optional).",
            type_name="path"),
    Setting("trusted_proxies", _parse_cidrs, (),
            "CIDRs of reverse proxies whose X-Forwarded-For is believed (space or comma "
            "separated).", type_name="cidr list"),
    Setting("max_body_bytes", _parse_positive_int, 1_048_576,
            "Largest accepted request body in bytes (413 above).", type_name="int"),
    Setting("max_ingest_bytes", _parse_positive_int, 256 * 1_048_576,
            "Largest sign-in upload (POST /api/v1/ingest/logins) in bytes; line formats are "
            "parsed as they stream in, JSON documents are read whole (413 above).",
            type_name="int"),
    Setting("checkin_interval", parse_duration, 60,
            "Seconds between agent check-ins, sent to agents.", type_name="duration"),
    Setting("max_batch_size", _parse_positive_int, 500,
            "Most events accepted in one check-in.", type_name="int"),
    Setting("enroll_token_lifetime", parse_duration, 7 * 86400,
            "Default lifetime of an enrolment token.", type_name="duration"),
    Setting("session_lifetime", parse_duration, 12 * 3600,
            "Lifetime of a console session.", type_name="duration"),
    Setting("cookie_secure", _parse_choice("auto", "true", "false"), "auto",
            "Secure flag on console cookies: auto = when public_url is https or the request "
            "arrived over https.", type_name="auto|true|false"),
    Setting("public_url", str, "",
            "The URL users and agents reach the server at, e.g. https://heedful.corp.example."),
    Setting("login_max_failures", _parse_positive_int, 5,
            "Failed console logins allowed per account and address within login_window.",
            type_name="int"),
    Setting("login_window", parse_duration, 900,
            "Window for counting failed console logins.", type_name="duration"),
    Setting("metrics_token", str, "",
            "If set, /metrics requires 'Authorization: Bearer <token>'.", secret=True),
    Setting("access_log", _parse_bool, True, "Log one JSON line per request.",
            type_name="bool"),
    Setting("log_level", _parse_choice("debug", "info", "warning", "error"), "info",
            "Log level.", type_name="debug|info|warning|error"),
    Setting("host", str, "127.0.0.1", "Address `heedful-server run` listens on."),
    Setting("port", int, 8080, "Port `heedful-server run` listens on.", type_name="int"),
    Setting("workers", _parse_positive_int, 1, "Worker processes for `heedful-server run`.",
            type_name="int"),
)
BY_NAME = {s.name: s for s in SETTINGS}


@dataclass(frozen=True)
class Settings:
    """Resolved values (attribute per setting) and where each came from."""

    values: Mapping[str, Any]
    sources: Mapping[str, str] = field(default_factory=dict)

    def __getattr__(self, name: str) -> Any:
        try:
            return self.values[name]
        except KeyError:
            raise AttributeError(f"no setting named {name!r}") from None

    @property
    def data_path(self) -> Path:
        """data_dir with ~ expanded."""
        return Path(self.values["data_dir"]).expanduser()

    @property
    def effective_database_url(self) -> str:
        """database_url, or the SQLite file in data_dir when it is empty."""
        return self.values["database_url"] or f"sqlite:///{self.data_path / 'heedful.db'}"

    @property
    def effective_signing_key_path(self) -> Path:
        """signing_key_path, or signing-key.pem in data_dir when it is empty."""
        configured = self.values["signing_key_path"]
        return Path(configured).expanduser() if configured else self.data_path / "signing-key.pem"

    def replace(self, **overrides: Any) -> Settings:
        """A copy with some values replaced (parsed like any other source)."""
        values, sources = dict(self.values), dict(self.sources)
        for name, raw in overrides.items():
            values[name] = _parse(BY_NAME[name], raw, "override")
            sources[name] = "override"
        return Settings(values, sources)

    def report(self) -> list[tuple[str, str, str]]:
        """(name, displayed value, source) for every setting, secrets masked."""
        return [(s.name, display_value(s, self.values[s.name]), self.sources.get(s.name, "default"))
                for s in SETTINGS]


def display_value(setting: Setting, value: Any) -> str:
    """The value as text for people: secrets masked (a URL keeps everything but its password)."""
    if isinstance(value, tuple):
        value = " ".join(value)
    text = str(value)
    if not setting.secret or not text:
        return text
    if "://" in text:
        from sqlalchemy.engine import make_url
        try:
            return make_url(text).render_as_string(hide_password=True)
        except Exception:  # noqa: BLE001 - an unparsable URL is masked entirely
            return "********"
    return "********"


def _parse(setting: Setting, raw: Any, source: str) -> Any:
    try:
        return setting.parse(raw)
    except (TypeError, ValueError) as exc:
        raise SettingsError(f"setting {setting.name} from {source}: {exc}") from exc


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SettingsError(f"cannot read config file {path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"config file {path}: {exc}") from exc
    unknown = sorted(set(data) - set(BY_NAME))
    if unknown:
        raise SettingsError(f"config file {path}: unknown setting(s) {', '.join(unknown)}")
    return data


def load_settings(config_file: str | Path | None = None,
                  environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Resolve every setting from defaults, the TOML file, the environment and `overrides`."""
    env = os.environ if environ is None else environ
    path = config_file or env.get(CONFIG_ENV) or None
    file_values = _read_toml(Path(path).expanduser()) if path else {}
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for setting in SETTINGS:
        values[setting.name], sources[setting.name] = setting.default, "default"
        if setting.name in file_values:
            where = f"file {path}"
            values[setting.name] = _parse(setting, file_values[setting.name], where)
            sources[setting.name] = where
        if setting.env in env:
            where = f"env {setting.env}"
            values[setting.name] = _parse(setting, env[setting.env], where)
            sources[setting.name] = where
    settings = Settings(values, sources)
    return settings.replace(**overrides) if overrides else settings
