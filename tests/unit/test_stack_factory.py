"""Which backend ``auto`` stands for, and the errors when none can run."""

from __future__ import annotations

import pytest

from alertloop.hil.stack import factory
from alertloop.hil.stack.base import MissingBinaries
from alertloop.services.common.errors import ConfigError


def _machine(monkeypatch: pytest.MonkeyPatch, docker: bool, missing: list[str]) -> None:
    monkeypatch.setattr(
        factory, "docker_available", lambda: (docker, "" if docker else "no engine")
    )
    monkeypatch.setattr(factory, "missing_binaries", lambda: missing)


@pytest.mark.parametrize(
    ("docker", "missing", "expected"),
    [(True, [], "docker"), (True, ["influxd"], "docker"), (False, [], "native")],
    ids=["docker-wins", "docker-without-binaries", "native"],
)
def test_auto_prefers_docker_then_native(monkeypatch, docker, missing, expected) -> None:
    _machine(monkeypatch, docker, missing)
    assert factory.resolve_backend("auto") == expected


def test_auto_with_nothing_names_binaries_and_install_command(monkeypatch) -> None:
    _machine(monkeypatch, False, ["mosquitto", "influxd"])
    with pytest.raises(
        MissingBinaries,
        match=r"no engine, and mosquitto, influxd are not installed; install them with 'make setup' or 'sudo apt-get install mosquitto influxdb'",
    ):
        factory.resolve_backend("auto")


def test_explicit_backend_is_kept(monkeypatch) -> None:
    _machine(monkeypatch, False, ["mosquitto"])
    assert factory.resolve_backend("native") == "native"


def test_unknown_backend_and_incomplete_external_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="unknown stack backend 'k8s'"):
        factory.create_stack("k8s")
    with pytest.raises(ConfigError, match="needs --mqtt-url and --influx-url"):
        factory.create_stack("external", mqtt_url="mqtt://h")


def test_external_from_urls() -> None:
    the_stack = factory.create_stack(
        "external", mqtt_url="mqtt://u:p@pi:1884", influx_url="http://pi:8087", database="iot2"
    )
    assert the_stack.backend == "external"
    assert (the_stack.mqtt.host, the_stack.mqtt.port, the_stack.mqtt.username) == ("pi", 1884, "u")
    assert the_stack.influx.url == "http://pi:8087" and the_stack.influx.database == "iot2"
    assert the_stack.env()["ALERTLOOP_INFLUX_DB"] == "iot2"
