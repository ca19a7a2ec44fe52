"""Both simulated boards ride out a broker restart: reconnect, resubscribe, carry on."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import replace

import pytest

from alertloop.hil.capture import MqttCapture
from alertloop.hil.stack import NativeStack
from alertloop.services.common.deadline import wait_until
from alertloop.sim.esp32 import SimEsp32
from alertloop.sim.nodemcu import SimNodeMcu


@pytest.fixture
def alertloop_esp32_backend() -> str:
    """These tests are about the simulated board, whatever --esp32 chooses."""
    return "sim"


@pytest.fixture
def alertloop_nodemcu_backend() -> str:
    """These tests are about the simulated board, whatever --nodemcu chooses."""
    return "sim"


def test_boards_reconnect_after_broker_restart(
    alertloop_native_stack_factory: Callable[..., NativeStack],
    alertloop_esp32_factory: Callable[..., SimEsp32],
    alertloop_nodemcu_factory: Callable[..., SimNodeMcu],
    alertloop_unique_topic: str,
) -> None:
    own = alertloop_native_stack_factory()
    esp = alertloop_esp32_factory(mqtt=own.mqtt, period=0.1, reconnect_interval=0.3)
    leds = alertloop_nodemcu_factory(mqtt=own.mqtt, reconnect_interval=0.3)
    esp.set_knob(55)
    esp.wait_for_published(55)

    broker = own.servers["mqtt"]
    broker.stop()
    wait_until(lambda: not esp.connected and not leds.connected, 10, what="both boards to notice")
    esp.serial.wait_for_line(
        r"^Attempting MQTT connection\.\.\.failed, rc=-2 try again in 0\.3 seconds$"
    )
    broker.start()
    esp.wait_connected(10)
    leds.wait_connected(10)
    assert esp.connects == 2 and leds.connects == 2

    back = time.time()
    esp.wait_for_published(lambda p: p.time >= back, timeout=5)
    with MqttCapture(own.mqtt) as capture:
        capture.publish(f"{alertloop_unique_topic}/alert", "1", qos=1)
    leds.wait_for_led("red", timeout=5)  # resubscribed after the restart


def test_refused_login_prints_the_sketch_line_and_retries(
    alertloop_native_stack_factory: Callable[..., NativeStack],
    alertloop_esp32_factory: Callable[..., SimEsp32],
) -> None:
    own = alertloop_native_stack_factory(mqtt_users={"board": "right"})
    wrong = replace(own.mqtt, password="wrong")
    refused = alertloop_esp32_factory(mqtt=wrong, reconnect_interval=0.2, wait=False)
    # PubSubClient's state(): 4 = bad credentials, 5 = not authorised (mosquitto sends 5).
    line = r"^Attempting MQTT connection\.\.\.failed, rc=[45] try again in 0\.2 seconds$"
    refused.serial.wait_for_line(line)
    wait_until(
        lambda: sum(bool(re.match(line, text)) for text in refused.serial.lines) >= 2,
        5,
        what="a second attempt",
    )
    assert not refused.connected and refused.published == []
    alertloop_esp32_factory(mqtt=own.mqtt).wait_for_published(lambda p: True)
