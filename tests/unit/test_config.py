"""URL parsing and flag/env/default precedence."""

import logging
import sys
from pathlib import Path

import pytest

from alertloop.services.common.config import (
    InfluxSettings,
    MqttSettings,
    mqtt_settings,
    redact_urls,
    setting,
)
from alertloop.services.common.errors import ConfigError
from alertloop.services.common.logs import JsonFormatter, TextFormatter


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("mqtt://127.0.0.1:1883", MqttSettings("127.0.0.1", 1883)),
        ("mqtt://broker", MqttSettings("broker", 1883)),
        ("mqtts://broker", MqttSettings("broker", 8883, tls=True)),
        ("mqtt://u:p%40ss@h:1884", MqttSettings("h", 1884, "u", "p@ss")),
    ],
    ids=["plain", "default-port", "tls", "credentials"],
)
def test_mqtt_url_parses(url: str, expected: MqttSettings) -> None:
    assert MqttSettings.from_url(url) == expected


def test_mqtt_url_round_trips_and_hides_password() -> None:
    settings = MqttSettings.from_url("mqtt://user:s3cret@host:1884")
    assert MqttSettings.from_url(settings.url) == settings
    assert "s3cret" not in settings.safe_url


@pytest.mark.parametrize(
    "url", ["http://host", "mqtt://", "mqtt://h:notaport"], ids=["scheme", "host", "port"]
)
def test_bad_mqtt_url_is_a_config_error(url: str) -> None:
    with pytest.raises(ConfigError):
        MqttSettings.from_url(url)


def test_influx_url_database_from_argument_then_path_then_default() -> None:
    assert InfluxSettings.from_url("http://h:8087", database="x").database == "x"
    assert InfluxSettings.from_url("http://h:8087/fromurl").database == "fromurl"
    assert InfluxSettings.from_url("http://h").database == "iot"
    assert InfluxSettings.from_url("http://h").url == "http://h:8086"


def test_setting_precedence(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALERTLOOP_X", "env")
    assert setting("flag", "ALERTLOOP_X", "default") == "flag"
    assert setting(None, "ALERTLOOP_X", "default") == "env"
    monkeypatch.delenv("ALERTLOOP_X")
    assert setting(None, "ALERTLOOP_X", "default") == "default"


SECRET = "Sup3r-s3cret"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"mqtt://u:{SECRET}@h:1883", "mqtt://u:***@h:1883"),
        (f"at http://admin:{SECRET}@db:8086/iot failed", "at http://admin:***@db:8086/iot failed"),
        (f"mqtt://u:p@{SECRET}@h", "mqtt://u:***@h"),
        (f"mqtt://u:pa#{SECRET}@h", "mqtt://u:***@h"),
        ("mqtt://u@h:1883 mail a@b", "mqtt://u@h:1883 mail a@b"),
    ],
    ids=["mqtt", "in-text", "at-in-password", "hash-in-password", "no-password"],
)
def test_redact_urls(text: str, expected: str) -> None:
    assert redact_urls(text) == expected


def test_settings_repr_hides_passwords() -> None:
    mqtt = MqttSettings.from_url(f"mqtts://user:{SECRET}@broker:8883")
    influx = InfluxSettings.from_url(f"https://admin:{SECRET}@db/iot")
    for settings in (mqtt, influx):
        assert SECRET not in repr(settings) and SECRET not in str(settings)
        assert "password=***" in repr(settings)
    assert "password=None" in repr(MqttSettings("h"))


@pytest.mark.parametrize(
    "url",
    [f"http://u:{SECRET}@h", f"mqtt://u:{SECRET}@", f"mqtt://u:{SECRET}@h:notaport"],
    ids=["scheme", "host", "port"],
)
def test_url_errors_never_show_the_password(url: str) -> None:
    with pytest.raises(ConfigError) as raised:
        MqttSettings.from_url(url)
    assert SECRET not in str(raised.value) and "***" in str(raised.value)
    with pytest.raises(ConfigError) as raised:
        InfluxSettings.from_url(url.replace("mqtt://", "https://").replace("http://", "ftp://"))
    assert SECRET not in str(raised.value)


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("ALERTLOOP_MQTT_URL", "ALERTLOOP_MQTT_PASSWORD", "ALERTLOOP_MQTT_PASSWORD_FILE"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_mqtt_password_from_file_env_file_or_env(
    clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    secret_file = tmp_path / "mqtt-password"
    secret_file.write_text(SECRET + "\n")
    assert mqtt_settings("mqtt://hook@h", str(secret_file)).password == SECRET
    clean_env.setenv("ALERTLOOP_MQTT_URL", "mqtt://hook@h:1884")
    clean_env.setenv("ALERTLOOP_MQTT_PASSWORD", "from-env")
    assert mqtt_settings().password == "from-env"
    clean_env.setenv("ALERTLOOP_MQTT_PASSWORD_FILE", str(secret_file))
    settings = mqtt_settings()  # the file beats the bare variable
    assert (settings.username, settings.password, settings.port) == ("hook", SECRET, 1884)
    clean_env.delenv("ALERTLOOP_MQTT_PASSWORD_FILE")
    clean_env.delenv("ALERTLOOP_MQTT_PASSWORD")
    assert mqtt_settings().password is None


def test_mqtt_password_errors_name_the_source_not_the_secret(
    clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    secret_file = tmp_path / "pw"
    secret_file.write_text(SECRET)
    with pytest.raises(ConfigError, match="given twice") as raised:
        mqtt_settings(f"mqtt://hook:{SECRET}@h", str(secret_file))
    assert SECRET not in str(raised.value)
    with pytest.raises(ConfigError, match="no user name"):
        mqtt_settings("mqtt://h", str(secret_file))
    with pytest.raises(ConfigError, match="missing"):
        mqtt_settings("mqtt://hook@h", str(tmp_path / "missing"))
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(ConfigError, match="empty"):
        mqtt_settings("mqtt://hook@h", str(tmp_path / "empty"))


def test_log_lines_redact_urls_in_messages_fields_and_tracebacks() -> None:
    url = f"mqtt://u:{SECRET}@h:1883"
    record = logging.LogRecord("t", logging.ERROR, __file__, 1, "cannot reach %s", (url,), None)
    record.broker = url
    try:
        raise RuntimeError(f"failed: {url}")
    except RuntimeError:
        record.exc_info = sys.exc_info()
    for formatter in (JsonFormatter(), TextFormatter()):
        line = formatter.format(record)
        assert SECRET not in line and "mqtt://u:***@h:1883" in line
