"""The simulated NodeMCU on the real broker: retained state, LED logic, clean presence."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from alertloop.hil.capture import MqttCapture
from alertloop.sim.nodemcu import SimNodeMcu


@pytest.fixture
def alertloop_nodemcu_backend() -> str:
    """These tests are about the simulated board, whatever --nodemcu chooses."""
    return "sim"


def test_late_board_gets_the_retained_state(
    alertloop_nodemcu_factory: Callable[..., SimNodeMcu],
    alertloop_mqtt_capture: MqttCapture,
    alertloop_unique_topic: str,
) -> None:
    topic = f"{alertloop_unique_topic}/alert"
    alertloop_mqtt_capture.subscribe(topic)  # so the capture clears the retained message afterwards
    alertloop_mqtt_capture.publish(topic, "1", qos=1, retain=True)
    board = alertloop_nodemcu_factory()
    change = board.wait_for_led("red", timeout=5)
    assert board.messages[0].retain and board.messages[0].payload == b"1"
    assert [c.state.name for c in board.history] == ["off", "red"]
    assert change.time >= board.history[0].time
    assert f"Message arrived [{topic}] value:1" in board.serial.lines


def test_unparseable_payload_seed_green_default_error(
    alertloop_nodemcu_factory: Callable[..., SimNodeMcu],
    alertloop_mqtt_capture: MqttCapture,
    alertloop_unique_topic: str,
) -> None:
    topic = f"{alertloop_unique_topic}/alert"
    improved = alertloop_nodemcu_factory()
    seed = alertloop_nodemcu_factory(seed_compat=True)
    alertloop_mqtt_capture.publish(topic, "1", qos=1)
    improved.wait_for_led("red")
    seed.wait_for_led("red")
    alertloop_mqtt_capture.publish(topic, "alerting", qos=1)
    improved.wait_for_led("error")
    seed.wait_for_led("green")  # the seed's toInt("alerting") == 0: "all clear"
    alertloop_mqtt_capture.publish(topic, "0", qos=1)
    improved.wait_for_led("green")
    assert [c.state.name for c in improved.history] == ["off", "red", "error", "green"]
    assert [c.state.name for c in seed.history] == ["off", "red", "green"]


def test_clean_stop_says_offline(
    alertloop_nodemcu_factory: Callable[..., SimNodeMcu], alertloop_mqtt_capture: MqttCapture
) -> None:
    board = alertloop_nodemcu_factory()
    alertloop_mqtt_capture.subscribe(board.status_topic)
    alertloop_mqtt_capture.wait_for(board.status_topic, lambda m: m.payload == b"online")
    board.stop()
    alertloop_mqtt_capture.wait_for(board.status_topic, lambda m: m.payload == b"offline")
    assert not board.connected
