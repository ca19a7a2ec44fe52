"""Fixtures for the ingester: ``alertloop_ingester_factory`` and ``alertloop_ingester``."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from alertloop.hil.influx import TestDatabase
from alertloop.services.common.config import InfluxSettings, MqttSettings
from alertloop.services.common.mqtt import new_client_id

if TYPE_CHECKING:  # the service loads when a test starts an ingester, not with pytest
    from alertloop.services.ingester import Ingester, IngesterConfig

__all__ = ["alertloop_ingester", "alertloop_ingester_factory"]

# Short intervals so tests wait milliseconds, not the production seconds.
TEST_DEFAULTS: dict[str, Any] = {
    "flush_interval": 0.2,
    "http_timeout": 2.0,
    "retry_initial": 0.1,
    "retry_max": 1.0,
    "reconnect_min": 0.1,
    "reconnect_max": 1.0,
    "keepalive": 5,
    "stop_timeout": 5.0,
    "spool_fsync_interval": 0.2,
}


def ingester_test_config(
    mqtt: MqttSettings, influx: InfluxSettings, topic_prefix: str, spool_dir: Path, **overrides: Any
) -> IngesterConfig:
    """An IngesterConfig for tests: the given broker and database, ``<prefix>/pot``, a fresh
    client id, short intervals; ``overrides`` win."""
    from alertloop.services.ingester import IngesterConfig

    values: dict[str, Any] = {
        "mqtt": mqtt,
        "influx": influx,
        "topics": [f"{topic_prefix}/pot"],
        "client_id": new_client_id("ingester"),
        "spool_dir": spool_dir,
        **TEST_DEFAULTS,
    }
    values.update(overrides)
    return IngesterConfig(**values)


@pytest.fixture
def alertloop_ingester_factory(
    alertloop_mqtt_broker: MqttSettings,
    alertloop_influxdb: TestDatabase,
    alertloop_unique_topic: str,
    tmp_path: Path,
) -> Iterator[Callable[..., Ingester]]:
    """``alertloop_ingester_factory(**overrides)`` -> a started, subscribed Ingester; all stopped at
    teardown.

    Defaults: the shared broker, the test's database, topic ``<unique_topic>/pot``, a spool
    directory of its own under ``tmp_path``."""
    from alertloop.services.ingester import Ingester

    started: list[Ingester] = []
    numbers = itertools.count(1)

    def factory(**overrides: Any) -> Ingester:
        spool_dir = overrides.pop("spool_dir", tmp_path / f"spool-{next(numbers)}")
        mqtt = overrides.pop("mqtt", alertloop_mqtt_broker)
        influx = overrides.pop("influx", alertloop_influxdb.settings)
        cfg = ingester_test_config(mqtt, influx, alertloop_unique_topic, spool_dir, **overrides)
        ingester = Ingester(cfg).start()
        started.append(ingester)
        ingester.wait_connected(10.0)
        return ingester

    try:
        yield factory
    finally:
        for ingester in reversed(started):
            ingester.stop()


@pytest.fixture
def alertloop_ingester(alertloop_ingester_factory: Callable[..., Ingester]) -> Ingester:
    """An ingester on ``<unique_topic>/pot`` writing to the test's database."""
    return alertloop_ingester_factory()
