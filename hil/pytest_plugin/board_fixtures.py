"""Fixtures: boards. ``esp32`` and ``nodemcu`` are simulated boards on the shared broker,
on ``{unique_topic}/pot`` and ``{unique_topic}/alert``, started and connected; the
``*_factory`` fixtures build more of them (or ones with other settings) and stop them all at
teardown. ``--esp32``/``--nodemcu`` choose the backend; only ``sim`` is built so far.

Boards made by the fixtures retry every second when the broker goes away (the sketches wait
5 s), so fault tests stay short; pass ``reconnect_interval=5.0`` for the sketches' timing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from hil.boards.factory import BackendNotBuilt, check_backend
from services.common.config import MqttSettings
from sim.board import SimMqttBoard
from sim.esp32 import SimEsp32
from sim.nodemcu import SimNodeMcu

__all__ = [
    "esp32",
    "esp32_backend",
    "esp32_factory",
    "nodemcu",
    "nodemcu_backend",
    "nodemcu_factory",
]

TEST_RECONNECT_INTERVAL = 1.0
CONNECT_TIMEOUT = 10.0


def _backend(request: pytest.FixtureRequest, kind: str) -> str:
    """The backend chosen by ``--{kind}``; skips the test if it is not built yet."""
    value = str(request.config.getoption(f"--{kind}", default="sim") or "sim")
    try:
        check_backend(kind, value)
    except BackendNotBuilt as exc:
        pytest.skip(str(exc))
    return value


def _factory(
    build: Callable[..., SimMqttBoard], defaults: dict[str, Any]
) -> Iterator[Callable[..., Any]]:
    boards: list[SimMqttBoard] = []

    def factory(*, wait: bool = True, **overrides: Any) -> Any:
        board = build(**{**defaults, **overrides})
        boards.append(board)
        board.start()
        if wait:
            board.wait_connected(CONNECT_TIMEOUT)
        return board

    try:
        yield factory
    finally:
        for board in reversed(boards):
            board.stop()


@pytest.fixture(scope="session")
def esp32_backend(request: pytest.FixtureRequest) -> str:
    """The ESP32 backend (``--esp32``); tests needing one that is not built are skipped."""
    return _backend(request, "esp32")


@pytest.fixture(scope="session")
def nodemcu_backend(request: pytest.FixtureRequest) -> str:
    """The NodeMCU backend (``--nodemcu``); tests needing one that is not built are skipped."""
    return _backend(request, "nodemcu")


@pytest.fixture
def esp32_factory(
    esp32_backend: str, mqtt_broker: MqttSettings, unique_topic: str
) -> Iterator[Callable[..., SimEsp32]]:
    """``esp32_factory(**overrides)`` -> a started, connected ``SimEsp32`` (``wait=False``
    to not wait for the connection). Defaults: shared broker, ``{unique_topic}/pot``."""
    defaults = {
        "mqtt": mqtt_broker,
        "topic": f"{unique_topic}/pot",
        "reconnect_interval": TEST_RECONNECT_INTERVAL,
    }
    yield from _factory(SimEsp32, defaults)


@pytest.fixture
def nodemcu_factory(
    nodemcu_backend: str, mqtt_broker: MqttSettings, unique_topic: str
) -> Iterator[Callable[..., SimNodeMcu]]:
    """``nodemcu_factory(**overrides)`` -> a started, subscribed ``SimNodeMcu``
    (``wait=False`` to not wait). Defaults: shared broker, ``{unique_topic}/alert``."""
    defaults = {
        "mqtt": mqtt_broker,
        "topic": f"{unique_topic}/alert",
        "reconnect_interval": TEST_RECONNECT_INTERVAL,
    }
    yield from _factory(SimNodeMcu, defaults)


@pytest.fixture
def esp32(esp32_factory: Callable[..., SimEsp32]) -> SimEsp32:
    """The knob board (``hil.boards.SensorBoard``), publishing to ``{unique_topic}/pot``."""
    return esp32_factory()


@pytest.fixture
def nodemcu(nodemcu_factory: Callable[..., SimNodeMcu]) -> SimNodeMcu:
    """The LED board (``hil.boards.IndicatorBoard``), subscribed to ``{unique_topic}/alert``."""
    return nodemcu_factory()
