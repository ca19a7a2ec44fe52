"""The simulated ESP32 on the real broker: schedule, payloads, presence and last will."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import pytest

from alertloop.hil.capture import MqttCapture
from alertloop.services.common.deadline import wait_until
from alertloop.sim.esp32 import SimEsp32
from alertloop.sim.signals import Constant


@pytest.fixture
def alertloop_esp32_backend() -> str:
    """These tests are about the simulated board, whatever --esp32 chooses."""
    return "sim"


PERIOD = 0.2
COUNT = 15


def test_publishes_on_schedule_without_drift(
    alertloop_esp32_factory: Callable[..., SimEsp32],
    alertloop_mqtt_capture: MqttCapture,
    alertloop_unique_topic: str,
) -> None:
    topic = f"{alertloop_unique_topic}/pot"
    alertloop_mqtt_capture.subscribe(topic, qos=0)
    board = alertloop_esp32_factory(period=PERIOD, signal=Constant(37))
    wait_until(lambda: len(alertloop_mqtt_capture.on(topic)) >= COUNT, 10, what=f"{COUNT} messages")

    arrivals = [m.time for m in alertloop_mqtt_capture.on(topic)][:COUNT]
    wire_lateness = [t - arrivals[0] - k * PERIOD for k, t in enumerate(arrivals)]
    board_lateness = board.lateness[1:COUNT]
    print(f"max lateness on the wire {max(map(abs, wire_lateness)) * 1000:.1f} ms, "
          f"at the board {max(board_lateness) * 1000:.1f} ms")  # fmt: skip
    # Late by less than one period everywhere, and no drift building up over the run.
    assert max(board_lateness) < PERIOD / 2
    assert max(abs(x) for x in wire_lateness) < PERIOD / 2
    assert board.skipped == 0
    assert {m.payload for m in alertloop_mqtt_capture.on(topic)} == {b"37"}
    assert [p.value for p in board.published][:COUNT] == [37] * COUNT


def test_json_payload_carries_ts_and_seq(
    alertloop_esp32_factory: Callable[..., SimEsp32],
    alertloop_mqtt_capture: MqttCapture,
    alertloop_unique_topic: str,
) -> None:
    topic = f"{alertloop_unique_topic}/pot"
    alertloop_mqtt_capture.subscribe(topic)
    board = alertloop_esp32_factory(period=0.05, json_payload=True, qos=1)
    board.set_knob(80)
    message = alertloop_mqtt_capture.wait_for(topic, lambda m: json.loads(m.payload)["value"] == 80)
    body = json.loads(message.payload)
    assert set(body) == {"value", "ts", "seq"}
    assert abs(body["ts"] / 1000 - time.time()) < 5
    wait_until(lambda: len(alertloop_mqtt_capture.on(topic)) >= 5, 5, what="5 JSON messages")
    seqs = [json.loads(m.payload)["seq"] for m in alertloop_mqtt_capture.on(topic)]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))


def test_presence_online_then_last_will_on_power_cut(
    alertloop_esp32_factory: Callable[..., SimEsp32], alertloop_mqtt_capture: MqttCapture
) -> None:
    board = alertloop_esp32_factory()
    alertloop_mqtt_capture.subscribe(board.status_topic)
    online = alertloop_mqtt_capture.wait_for(board.status_topic, lambda m: m.payload == b"online")
    assert online.retain  # retained: a late subscriber sees the board's state too
    board.kill()
    offline = alertloop_mqtt_capture.wait_for(board.status_topic, lambda m: m.payload == b"offline")
    assert offline.time > online.time
    assert "#AL mqtt state=killed" in board.serial.lines
