"""Fixtures for fleets and faults: ``fleet``, ``fleet_factory``, ``fault_proxy``,
``fault_proxy_factory``.

``fleet_factory(**config)`` starts a ``alertloop.sim.fleet.Fleet`` on the session broker with the test's
``unique_topic`` as ``{prefix}`` and waits until every device is connected; ``fleet`` is 10
ESP32s and 10 NodeMCUs of it. Fleets retry every second after losing the broker (the sketches
wait 5 s), like the board fixtures.

``fault_proxy_factory(upstream_host, upstream_port, **faults)`` starts a
``alertloop.hil.faults.FaultProxy`` on a free port of 127.0.0.1; ``fault_proxy`` is one in front of the
session broker (``fault_proxy.mqtt`` are the settings to connect through it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from alertloop.hil.faults.proxy import FaultProxy
from alertloop.services.common.config import MqttSettings
from alertloop.sim.fleet import Fleet, FleetConfig

__all__ = ["fault_proxy", "fault_proxy_factory", "fleet", "fleet_factory"]

TEST_RECONNECT_INTERVAL = 1.0
TEST_RECONNECT_JITTER = 0.5
CONNECT_TIMEOUT = 30.0


@pytest.fixture
def fleet_factory(mqtt_broker: MqttSettings, unique_topic: str) -> Iterator[Callable[..., Fleet]]:
    """``fleet_factory(mqtt=None, wait=True, **config)`` -> a started ``Fleet`` (every device
    connected unless ``wait=False``); all are stopped at teardown."""
    started: list[Fleet] = []

    def factory(mqtt: MqttSettings | None = None, wait: bool = True, **config: Any) -> Fleet:
        values: dict[str, Any] = {
            "prefix": unique_topic,
            "reconnect_interval": TEST_RECONNECT_INTERVAL,
            "reconnect_jitter": TEST_RECONNECT_JITTER,
            **config,
        }
        the_fleet = Fleet(mqtt or mqtt_broker, FleetConfig(**values))
        started.append(the_fleet)
        the_fleet.start()
        if wait:
            the_fleet.wait_connected(CONNECT_TIMEOUT)
        return the_fleet

    try:
        yield factory
    finally:
        for the_fleet in reversed(started):
            the_fleet.stop()


@pytest.fixture
def fleet(fleet_factory: Callable[..., Fleet]) -> Fleet:
    """10 ESP32s (``{unique_topic}/esp32-000N/pot``) and 10 NodeMCUs (``{unique_topic}/alert``)."""
    return fleet_factory(esp32=10, nodemcu=10)


@pytest.fixture
def fault_proxy_factory() -> Iterator[Callable[..., FaultProxy]]:
    """``fault_proxy_factory(upstream_host, upstream_port, **faults)`` -> a started proxy on a
    free port of 127.0.0.1; every one is stopped at teardown."""
    started: list[FaultProxy] = []

    def factory(upstream_host: str, upstream_port: int, **faults: Any) -> FaultProxy:
        proxy = FaultProxy(upstream_host, upstream_port, **faults)
        started.append(proxy)
        return proxy.start()

    try:
        yield factory
    finally:
        for proxy in reversed(started):
            proxy.stop()


@pytest.fixture
def fault_proxy(
    fault_proxy_factory: Callable[..., FaultProxy], mqtt_broker: MqttSettings
) -> FaultProxy:
    """A proxy in front of the session broker; connect through ``fault_proxy.mqtt_settings(mqtt_broker)``."""
    return fault_proxy_factory(mqtt_broker.host, mqtt_broker.port)
