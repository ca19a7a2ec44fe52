"""The simulated boards and the real sketches (the ``virtual`` backend) agree: the same knob
profile stores the same values in InfluxDB, and the same ``/alert`` payloads light the same
LEDs, in strict and in seed mode. Where they differ, one of them is wrong."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from alertloop.hil.boards import IndicatorBoard, SensorBoard
from alertloop.hil.capture import MqttCapture
from alertloop.hil.influx import TestDatabase
from alertloop.services.common.deadline import wait_until
from alertloop.sim.esp32 import adc_for_percent, percent_for_adc
from alertloop.sim.signals import CsvReplay

# Knob percents, each held for HOLD s; fractions and both ends check the ADC rounding.
PROFILE = [0, 12.5, 37, 49.99, 50.01, 99.9, 100, 63]
HOLD = 1.0
# Payloads on /alert, including what the seed reads as 0 and what only the strict mode refuses.
PAYLOADS: list[bytes] = [
    b"1", b"0", b" 1\r\n", b"\t0\n", b"\v1\f", b"abc", b"", b"  ", b"1abc", b"2", b"-1",
    b"+1", b"-0", b"01", b"1.0", b"1 1", b"+", b"-", b"0x1", b'{"state":1}', b"\xff",
    b"\xef\xbc\x91", b"99999999999", b"-2147483648", b"4294967297", b"1\x000",
]  # fmt: skip


def _collapse(values: list[int]) -> list[int]:
    return [v for i, v in enumerate(values) if i == 0 or values[i - 1] != v]


def _stored(influxdb: TestDatabase, device: str) -> list[Any]:
    rows = influxdb.query(f"SELECT value FROM pot WHERE device = '{device}'")
    return [row["value"] for row in rows]


def test_the_same_knob_profile_stores_the_same_values(
    alertloop_esp32_factory: Callable[..., SensorBoard],
    alertloop_ingester_factory: Callable[..., Any],
    alertloop_influxdb: TestDatabase,
    alertloop_unique_topic: str,
) -> None:
    alertloop_ingester_factory(topics=[f"{alertloop_unique_topic}/{{device}}/pot"])
    boards = {
        name: alertloop_esp32_factory(
            backend=name, topic=f"{alertloop_unique_topic}/{name}/pot", wait=False
        )
        for name in ("sim", "virtual")
    }
    for board in boards.values():
        board.wait_connected(15.0)
    rows = [(i * HOLD, value) for i, value in enumerate(PROFILE)]
    profile = CsvReplay(rows + [(len(PROFILE) * HOLD, PROFILE[-1])])
    start = time.time()
    for board in boards.values():
        board.set_knob(PROFILE[0])
    for board in boards.values():
        board.follow(profile)
    expected = _collapse([percent_for_adc(adc_for_percent(v)) for v in PROFILE])
    for board in boards.values():
        board.wait_for_published(
            lambda p: p.time >= start + len(PROFILE) * HOLD, timeout=len(PROFILE) * HOLD + 5
        )
    published = {
        name: [p.value for p in b.published if p.time >= start] for name, b in boards.items()
    }
    wait_until(
        lambda: all(
            len(_stored(alertloop_influxdb, name)) >= len(published[name]) for name in boards
        ),
        5.0,
        what="every published value stored",
        state=lambda: {name: len(_stored(alertloop_influxdb, name)) for name in boards},
    )
    stored = {name: _stored(alertloop_influxdb, name) for name in boards}
    assert all(isinstance(v, int) for values in stored.values() for v in values)
    steps = {name: _collapse(values)[-len(expected) :] for name, values in stored.items()}
    assert steps["sim"] == steps["virtual"] == expected, stored
    # both publish every 500 ms: the counts over the run differ by a tick or two at most
    counts = [len(published[n]) for n in ("sim", "virtual")]
    assert abs(counts[0] - counts[1]) <= 3, counts


@pytest.fixture
def led_boards(alertloop_nodemcu_factory: Callable[..., IndicatorBoard]) -> dict[str, Any]:
    boards = {
        f"{backend}-{mode}": alertloop_nodemcu_factory(
            backend=backend, seed_compat=mode == "seed", wait=False
        )
        for backend in ("sim", "virtual")
        for mode in ("strict", "seed")
    }
    for board in boards.values():  # started together, waited for together
        board.wait_connected(15.0)
    return boards


def _handled(board: Any) -> int:
    return int(board.handled)


def test_the_same_payloads_light_the_same_leds(
    led_boards: dict[str, Any], alertloop_mqtt_capture: MqttCapture, alertloop_unique_topic: str
) -> None:
    topic = f"{alertloop_unique_topic}/alert"
    alertloop_mqtt_capture.subscribe(topic)  # the capture clears the retained message afterwards
    differences = []
    for payload in PAYLOADS:
        before = {name: _handled(board) for name, board in led_boards.items()}
        # retained, as the webhook sends them (an empty one is delivered, then clears it)
        alertloop_mqtt_capture.publish(topic, payload, qos=1, retain=True)
        wait_until(
            lambda: all(_handled(b) > before[n] for n, b in led_boards.items()),  # noqa: B023
            5.0,
            what=f"every board to handle {payload!r}",
            state=lambda: {n: _handled(b) for n, b in led_boards.items()},
        )
        shown = {name: board.led.name for name, board in led_boards.items()}
        for mode in ("strict", "seed"):
            if shown[f"sim-{mode}"] != shown[f"virtual-{mode}"]:
                differences.append((mode, payload, shown[f"sim-{mode}"], shown[f"virtual-{mode}"]))
    assert not differences, "(mode, payload, sim, firmware): " + repr(differences)
