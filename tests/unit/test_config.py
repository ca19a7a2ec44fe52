"""URL parsing and flag/env/default precedence."""

import pytest

from services.common.config import InfluxSettings, MqttSettings, setting
from services.common.errors import ConfigError


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
