"""Fixtures for fleets and faults: ``alertloop_fleet``, ``alertloop_fleet_factory``,
``alertloop_fault_proxy``, ``alertloop_fault_proxy_factory``.

``alertloop_fleet_factory(**config)`` starts a ``alertloop.sim.fleet.Fleet`` on the session broker
with the test's ``alertloop_unique_topic`` as ``{prefix}`` and waits until every device is
connected; ``alertloop_fleet`` is 10 ESP32s and 10 NodeMCUs of it. Fleets retry every second after
losing the broker (the sketches wait 5 s), like the board fixtures.

``alertloop_fault_proxy_factory(upstream_host, upstream_port, **faults)`` starts a
``alertloop.hil.faults.FaultProxy`` on a free port of 127.0.0.1; ``alertloop_fault_proxy`` is one
in front of the session broker (``alertloop_fault_proxy.mqtt`` are the settings to connect
through it)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

from alertloop.services.common.config import MqttSettings

if TYPE_CHECKING:  # fleets and the proxy load when a test uses them
    from alertloop.hil.faults.proxy import FaultProxy
    from alertloop.sim.fleet import Fleet

__all__ = [
    "alertloop_fault_proxy",
    "alertloop_fault_proxy_factory",
    "alertloop_fleet",
    "alertloop_fleet_factory",
]

TEST_RECONNECT_INTERVAL = 1.0
TEST_RECONNECT_JITTER = 0.5
CONNECT_TIMEOUT = 30.0


@pytest.fixture
def alertloop_fleet_factory(
    alertloop_mqtt_broker: MqttSettings, alertloop_unique_topic: str
) -> Iterator[Callable[..., Fleet]]:
    """``alertloop_fleet_factory(mqtt=None, wait=True, **config)`` -> a started ``Fleet`` (every
    device connected unless ``wait=False``); all are stopped at teardown."""
    from alertloop.sim.fleet import Fleet, FleetConfig

    started: list[Fleet] = []

    def factory(mqtt: MqttSettings | None = None, wait: bool = True, **config: Any) -> Fleet:
        values: dict[str, Any] = {
            "prefix": alertloop_unique_topic,
            "reconnect_interval": TEST_RECONNECT_INTERVAL,
            "reconnect_jitter": TEST_RECONNECT_JITTER,
            **config,
        }
        the_fleet = Fleet(mqtt or alertloop_mqtt_broker, FleetConfig(**values))
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
def alertloop_fleet(alertloop_fleet_factory: Callable[..., Fleet]) -> Fleet:
    """10 ESP32s (``{alertloop_unique_topic}/esp32-000N/pot``) and 10 NodeMCUs
    (``{alertloop_unique_topic}/alert``)."""
    return alertloop_fleet_factory(esp32=10, nodemcu=10)


@pytest.fixture
def alertloop_fault_proxy_factory() -> Iterator[Callable[..., FaultProxy]]:
    """``alertloop_fault_proxy_factory(upstream_host, upstream_port, **faults)`` -> a started
    proxy on a free port of 127.0.0.1; every one is stopped at teardown."""
    from alertloop.hil.faults.proxy import FaultProxy

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
def alertloop_fault_proxy(
    alertloop_fault_proxy_factory: Callable[..., FaultProxy], alertloop_mqtt_broker: MqttSettings
) -> FaultProxy:
    """A proxy in front of the session broker; connect through
    ``alertloop_fault_proxy.mqtt_settings(alertloop_mqtt_broker)``."""
    return alertloop_fault_proxy_factory(alertloop_mqtt_broker.host, alertloop_mqtt_broker.port)
