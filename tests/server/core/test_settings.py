"""Settings: declared once, read from defaults, a TOML file and HEEDFUL_* variables."""

from __future__ import annotations

import pytest

from server.settings import SETTINGS, SettingsError, load_settings, parse_duration


def test_every_setting_is_documented_once():
    names = [s.name for s in SETTINGS]
    assert len(names) == len(set(names))
    assert all(s.help.endswith(".") or s.help.endswith(")") for s in SETTINGS)
    required = {"data_dir", "database_url", "signing_key_path", "geoip_city_db",
                "geoip_asn_db", "geoip_anonymous_db", "trusted_proxies", "max_body_bytes",
                "checkin_interval", "enroll_token_lifetime", "session_lifetime",
                "cookie_secure", "public_url", "login_max_failures", "login_window",
                "log_level"}
    assert required <= set(names)


def test_priority_default_file_env(tmp_path):
    config = tmp_path / "h.toml"
    config.write_text('port = 9000\nworkers = 3\nlog_level = "debug"\n')
    settings = load_settings(config, environ={"HEEDFUL_PORT": "9100"})
    assert (settings.port, settings.workers, settings.log_level) == (9100, 3, "debug")
    assert settings.sources["port"] == "env HEEDFUL_PORT"
    assert settings.sources["workers"] == f"file {config}"
    assert settings.sources["host"] == "default"


def test_config_path_from_environment(tmp_path):
    config = tmp_path / "h.toml"
    config.write_text("max_batch_size = 7\n")
    assert load_settings(environ={"HEEDFUL_CONFIG": str(config)}).max_batch_size == 7


def test_derived_paths(tmp_path):
    settings = load_settings(environ={"HEEDFUL_DATA_DIR": str(tmp_path)})
    assert settings.effective_database_url == f"sqlite:///{tmp_path}/heedful.db"
    assert settings.effective_signing_key_path == tmp_path / "signing-key.pem"


@pytest.mark.parametrize(("text", "seconds"), [("90", 90), ("90s", 90), ("15m", 900),
                                               ("12h", 43200), ("7d", 604800), ("2w", 1209600)])
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(("name", "value"), [("PORT", "x"), ("TRUSTED_PROXIES", "10.0.0.0/33"),
                                             ("COOKIE_SECURE", "maybe"), ("CHECKIN_INTERVAL",
                                                                          "soon"),
                                             ("MAX_BODY_BYTES", "0"), ("ACCESS_LOG", "perhaps")])
def test_bad_values_name_the_setting_and_source(name, value):
    with pytest.raises(SettingsError, match=f"from env HEEDFUL_{name}"):
        load_settings(environ={f"HEEDFUL_{name}": value})


def test_trusted_proxies_list_forms(tmp_path):
    env = load_settings(environ={"HEEDFUL_TRUSTED_PROXIES": "10.0.0.0/8, 192.168.1.1"})
    assert env.trusted_proxies == ("10.0.0.0/8", "192.168.1.1/32")
    config = tmp_path / "h.toml"
    config.write_text('trusted_proxies = ["fd00::/8"]\n')
    assert load_settings(config, environ={}).trusted_proxies == ("fd00::/8",)
