"""Fixtures: boards. ``alertloop_esp32`` and ``alertloop_nodemcu`` are boards of the backend chosen
by ``--alertloop-esp32``/``--alertloop-nodemcu`` (``sim``, ``virtual``, or a serial port), on
``{alertloop_unique_topic}/pot`` and ``{alertloop_unique_topic}/alert``, started and connected; the
``*_factory`` fixtures build more of them (or ones with other settings, or of another backend:
``backend="virtual"``) and stop them all at teardown.

A test marked ``every_board`` runs once per board backend: ``sim`` and ``virtual`` (the
``--alertloop-board-backends`` list), and the ``--alertloop-esp32``/``--alertloop-nodemcu`` pair
when that is something else, for example two serial ports.

Simulated boards made by the fixtures retry every second when the broker goes away (the sketches
wait 5 s), so fault tests stay short; pass ``reconnect_interval=5.0`` for the sketches' timing.
Virtual boards are the sketches themselves and keep their 5 s."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from alertloop.hil.boards.factory import (
    BackendNotBuilt,
    backend_kind,
    check_backend,
    create_esp32,
    create_nodemcu,
)
from alertloop.services.common.config import MqttSettings
from alertloop.sim.board_api.protocol import Board, IndicatorBoard, SensorBoard

__all__ = [
    "alertloop_esp32",
    "alertloop_esp32_backend",
    "alertloop_esp32_factory",
    "alertloop_nodemcu",
    "alertloop_nodemcu_backend",
    "alertloop_nodemcu_factory",
    "pytest_generate_tests",
]

TEST_RECONNECT_INTERVAL = 1.0
CONNECT_TIMEOUT = 15.0
EVERY_BOARD = "every_board"
ESP32_BACKEND = "alertloop_esp32_backend"
NODEMCU_BACKEND = "alertloop_nodemcu_backend"


def _option(config: pytest.Config, kind: str) -> str:
    return str(config.getoption(f"--alertloop-{kind}", default="sim") or "sim")


def board_matrix(config: pytest.Config) -> list[tuple[str, str, str]]:
    """(id, esp32 backend, nodemcu backend) for the tests marked ``every_board``."""
    listed = str(config.getoption("--alertloop-board-backends", default="sim,virtual") or "sim")
    pairs = [(name, name, name) for name in (n.strip() for n in listed.split(",")) if name]
    chosen = (_option(config, "esp32"), _option(config, "nodemcu"))
    if chosen not in [(e, n) for _, e, n in pairs]:
        name = chosen[0] if chosen[0] == chosen[1] else f"{chosen[0]}+{chosen[1]}"
        pairs.append((name, *chosen))
    return pairs


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Runs the tests marked ``every_board`` once per backend of ``board_matrix``."""
    if metafunc.definition.get_closest_marker(EVERY_BOARD) is None:
        return
    names = [n for n in (ESP32_BACKEND, NODEMCU_BACKEND) if n in metafunc.fixturenames]
    if not names:
        return
    matrix = board_matrix(metafunc.config)
    index = {ESP32_BACKEND: 1, NODEMCU_BACKEND: 2}
    values = [tuple(row[index[n]] for n in names) for row in matrix]
    ids = [row[0] for row in matrix]
    if len(names) == 1:
        metafunc.parametrize(names[0], [v[0] for v in values], ids=ids, scope="function")
    else:
        metafunc.parametrize(names, values, ids=ids, scope="function")


def _backend(request: pytest.FixtureRequest, kind: str) -> str:
    """The backend chosen by ``--{kind}``; a name that is no backend fails the test."""
    value = _option(request.config, kind)
    try:
        check_backend(kind, value)
    except BackendNotBuilt as exc:
        pytest.fail(str(exc), pytrace=False)
    return value


def _defaults(
    backend: str,
    leaf: str,
    mqtt: MqttSettings,
    unique_topic: str,
    log_dir: Path,
    config: pytest.Config | None = None,
) -> dict[str, Any]:
    kind = backend_kind(backend)
    if kind == "sim":
        return {
            "mqtt": mqtt,
            "topic": f"{unique_topic}/{leaf}",
            "reconnect_interval": TEST_RECONNECT_INTERVAL,
        }
    if kind == "virtual":
        return {"mqtt": mqtt, "topic": f"{unique_topic}/{leaf}", "log_dir": log_dir}
    # a flashed board is reset, so it reports its connection from the start
    from alertloop.hil.pytest_plugin.bench_fixtures import bench_settings  # a plugin of its own

    bench = bench_settings(config, backend) if config is not None else {}  # its baud rate
    return {
        "log_path": log_dir / f"{leaf}-{Path(backend).name}.log",
        "reset_on_start": True,
        **bench,
    }


def _flashed_overrides(
    backend: str, sketch_topic: str, overrides: dict[str, Any]
) -> dict[str, Any]:
    """A flashed board keeps the broker, topic and payload mode it was built with: drop the
    settings that only say the same, skip the test when they ask for something else."""
    settings = dict(overrides)
    settings.pop("mqtt", None)  # the board's broker is the one in its secrets.h
    settings.pop("reconnect_interval", None)
    topic = settings.pop("topic", sketch_topic)
    if topic != sketch_topic:
        pytest.skip(f"the board on {backend} uses the sketch's topic {sketch_topic}, not {topic}")
    if settings.pop("seed_compat", False):
        pytest.skip(f"the board on {backend} runs the firmware it was flashed with (strict mode)")
    return settings


def _factory(
    create: Callable[..., Board],
    default_backend: str,
    defaults: Callable[[str], dict[str, Any]],
    sketch_topic: str,
    node: pytest.Item | None = None,
) -> Iterator[Callable[..., Any]]:
    boards: list[Board] = []
    ports: set[str] = set()

    def factory(*, wait: bool = True, backend: str | None = None, **overrides: Any) -> Any:
        chosen = backend or default_backend
        if backend_kind(chosen) == "serial":
            if chosen in ports:
                pytest.skip(f"this test needs a second board; {chosen} has one flashed board")
            overrides = _flashed_overrides(chosen, sketch_topic, overrides)
            ports.add(chosen)
        board = create(chosen, **{**defaults(chosen), **overrides})
        boards.append(board)
        if node is not None and backend_kind(chosen) == "serial":
            from alertloop.hil.pytest_plugin.bench_fixtures import attach_serial_log

            attach_serial_log(node, f"{getattr(board, 'name', 'board')} {chosen}", board)
        board.start()
        if wait:
            board.wait_connected(CONNECT_TIMEOUT)  # type: ignore[attr-defined]
        return board

    try:
        yield factory
    finally:
        for board in reversed(boards):
            board.stop()


@pytest.fixture(scope="session")
def alertloop_esp32_backend(request: pytest.FixtureRequest) -> str:
    """The ESP32 backend: ``--alertloop-esp32`` (``sim`` by default), or the row of
    ``every_board``."""
    return _backend(request, "esp32")


@pytest.fixture(scope="session")
def alertloop_nodemcu_backend(request: pytest.FixtureRequest) -> str:
    """The NodeMCU backend: ``--alertloop-nodemcu`` (``sim`` by default), or the row of
    ``every_board``."""
    return _backend(request, "nodemcu")


@pytest.fixture
def alertloop_esp32_factory(
    alertloop_esp32_backend: str,
    alertloop_mqtt_broker: MqttSettings,
    alertloop_unique_topic: str,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> Iterator[Callable[..., SensorBoard]]:
    """``alertloop_esp32_factory(**overrides)`` -> a started, connected knob board
    (``wait=False`` to not wait for the connection, ``backend=`` for another backend). Defaults:
    the shared broker, ``{alertloop_unique_topic}/pot``."""
    yield from _factory(
        create_esp32,
        alertloop_esp32_backend,
        lambda backend: _defaults(
            backend, "pot", alertloop_mqtt_broker, alertloop_unique_topic, tmp_path, request.config
        ),
        "/pot",
        request.node,
    )


@pytest.fixture
def alertloop_nodemcu_factory(
    alertloop_nodemcu_backend: str,
    alertloop_mqtt_broker: MqttSettings,
    alertloop_unique_topic: str,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> Iterator[Callable[..., IndicatorBoard]]:
    """``alertloop_nodemcu_factory(**overrides)`` -> a started, subscribed LED board
    (``wait=False`` to not wait, ``backend=`` for another backend). Defaults: shared broker,
    ``{alertloop_unique_topic}/alert``."""
    yield from _factory(
        create_nodemcu,
        alertloop_nodemcu_backend,
        lambda backend: _defaults(
            backend,
            "alert",
            alertloop_mqtt_broker,
            alertloop_unique_topic,
            tmp_path,
            request.config,
        ),
        "/alert",
        request.node,
    )


@pytest.fixture
def alertloop_esp32(alertloop_esp32_factory: Callable[..., SensorBoard]) -> SensorBoard:
    """The knob board (``alertloop.hil.boards.SensorBoard``), publishing to
    ``{alertloop_unique_topic}/pot``."""
    return alertloop_esp32_factory()


@pytest.fixture
def alertloop_nodemcu(alertloop_nodemcu_factory: Callable[..., IndicatorBoard]) -> IndicatorBoard:
    """The LED board (``alertloop.hil.boards.IndicatorBoard``), subscribed to
    ``{alertloop_unique_topic}/alert``."""
    return alertloop_nodemcu_factory()
