"""The board cases every backend must pass: ``sim``, ``virtual`` (the real sketches built for
Linux) and flashed boards on ports when given. Payloads on ``/alert`` in strict and seed mode,
the retained state for a board that joins late, a broker restart (the sketch's own reconnect),
and WiFi dropping for a few seconds."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from alertloop.hil.boards import IndicatorBoard, SensorBoard
from alertloop.hil.capture import MqttCapture
from alertloop.hil.stack import NativeStack
from alertloop.services.common.deadline import wait_until

pytestmark = pytest.mark.every_board

# (payload, LEDs after it); each differs from the one before, so each shows as a change.
STRICT = [
    ("1", "red"),
    ("abc", "error"),
    ("0", "green"),
    ("", "error"),
    (" 1\r\n", "red"),
    ("2", "error"),
    ("+0", "green"),
    ("1abc", "error"),
]
SEED = [
    ("1", "red"),
    ("abc", "green"),
    ("1abc", "red"),
    ("", "green"),
    ("2", "off"),
    (" 1\r\n", "red"),
    ("-1", "off"),
]
# A board that lost its connection may take one 5 s wait of the sketch, plus the attempt.
RECONNECT_TIMEOUT = 15.0


@pytest.mark.parametrize(
    ("seed_compat", "corpus"), [(False, STRICT), (True, SEED)], ids=["strict", "seed"]
)
def test_alert_payloads_light_the_leds_as_the_sketch_decides(
    alertloop_nodemcu_factory: Callable[..., IndicatorBoard],
    alertloop_mqtt_capture: MqttCapture,
    alertloop_unique_topic: str,
    seed_compat: bool,
    corpus: list[tuple[str, str]],
) -> None:
    board = alertloop_nodemcu_factory(seed_compat=seed_compat)
    alertloop_mqtt_capture.subscribe(
        f"{alertloop_unique_topic}/alert"
    )  # the capture clears it afterwards
    for payload, expected in corpus:
        sent = time.time()
        # retained, as the webhook sends them: a board gets the message even when its
        # SUBSCRIBE is still on the way (see docs/boards.md, virtual boards)
        alertloop_mqtt_capture.publish(
            f"{alertloop_unique_topic}/alert", payload, qos=1, retain=True
        )
        change = board.wait_for_led(expected, timeout=5.0, since=sent)
        assert change.state.name == expected, payload
    shown = [c.state.name for c in board.history]
    assert shown == ["off", *[led for _, led in corpus]]


def test_a_board_that_joins_late_gets_the_retained_state(
    alertloop_nodemcu_factory: Callable[..., IndicatorBoard],
    alertloop_mqtt_capture: MqttCapture,
    alertloop_unique_topic: str,
) -> None:
    alertloop_mqtt_capture.subscribe(
        f"{alertloop_unique_topic}/alert"
    )  # the capture clears it afterwards
    alertloop_mqtt_capture.publish(f"{alertloop_unique_topic}/alert", "1", qos=1, retain=True)
    first = alertloop_nodemcu_factory()
    first.wait_for_led("red", timeout=5.0)
    alertloop_mqtt_capture.publish(f"{alertloop_unique_topic}/alert", "0", qos=1, retain=True)
    first.wait_for_led("green", timeout=5.0)
    late = alertloop_nodemcu_factory()
    assert late.wait_for_led("green", timeout=5.0).state.name == "green"
    assert [c.state.name for c in late.history] == ["off", "green"]


def _require_network_control(*boards: Any) -> None:
    for board in boards:
        if not hasattr(board, "set_network"):
            pytest.skip(
                f"{type(board).__name__}: a flashed board's WiFi cannot be dropped from here"
            )


def _pot_and_leds(
    esp32_factory: Callable[..., SensorBoard],
    nodemcu_factory: Callable[..., IndicatorBoard],
    **settings: Any,
) -> tuple[Any, Any]:
    # start both, then wait: a virtual board spends 1.5 s in its sketch's setup()
    esp, leds = esp32_factory(wait=False, **settings), nodemcu_factory(wait=False, **settings)
    esp.wait_connected(RECONNECT_TIMEOUT)
    leds.wait_connected(RECONNECT_TIMEOUT)
    return esp, leds


def test_boards_ride_out_a_broker_restart(
    alertloop_native_stack_factory: Callable[..., NativeStack],
    alertloop_esp32_factory: Callable[..., SensorBoard],
    alertloop_nodemcu_factory: Callable[..., IndicatorBoard],
    alertloop_esp32_backend: str,
    alertloop_unique_topic: str,
) -> None:
    if alertloop_esp32_backend not in ("sim", "virtual"):
        pytest.skip("a flashed board talks to its own broker, which this test cannot restart")
    own = alertloop_native_stack_factory()
    esp, leds = _pot_and_leds(alertloop_esp32_factory, alertloop_nodemcu_factory, mqtt=own.mqtt)
    esp.set_knob(55)
    esp.wait_for_published(55, timeout=5.0)

    broker = own.servers["mqtt"]
    broker.stop()
    wait_until(
        lambda: not esp.connected and not leds.connected,
        RECONNECT_TIMEOUT,
        what="both boards to notice the broker is gone",
        state=lambda: (esp._describe(), leds._describe()),
    )
    broker.start()
    esp.wait_connected(RECONNECT_TIMEOUT)
    leds.wait_connected(RECONNECT_TIMEOUT)
    assert esp.connects >= 2 and leds.connects >= 2

    back = time.time()
    esp.set_knob(56)
    esp.wait_for_published(lambda p: p.time >= back and p.value == 56, timeout=5.0)
    with MqttCapture(own.mqtt) as capture:
        capture.subscribe(f"{alertloop_unique_topic}/alert")
        capture.publish(f"{alertloop_unique_topic}/alert", "1", qos=1, retain=True)
    leds.wait_for_led("red", timeout=5.0, since=back)  # subscribed again after the restart


def test_boards_come_back_after_wifi_drops(
    alertloop_esp32_factory: Callable[..., SensorBoard],
    alertloop_nodemcu_factory: Callable[..., IndicatorBoard],
    alertloop_mqtt_capture: MqttCapture,
    alertloop_unique_topic: str,
) -> None:
    esp, leds = _pot_and_leds(alertloop_esp32_factory, alertloop_nodemcu_factory)
    _require_network_control(esp, leds)
    alertloop_mqtt_capture.subscribe(
        f"{alertloop_unique_topic}/alert"
    )  # the capture clears it afterwards
    esp.set_knob(30)
    esp.wait_for_published(30, timeout=5.0)

    esp.set_network(False)
    leds.set_network(False)
    wait_until(
        lambda: not esp.connected and not leds.connected,
        RECONNECT_TIMEOUT,
        what="both boards to lose their connection",
        state=lambda: (esp._describe(), leds._describe()),
    )
    down = time.time()
    alertloop_mqtt_capture.publish(f"{alertloop_unique_topic}/alert", "1", qos=1, retain=True)
    esp.set_knob(70)
    up = time.time()
    esp.set_network(True)
    leds.set_network(True)
    esp.wait_connected(RECONNECT_TIMEOUT)
    leds.wait_connected(RECONNECT_TIMEOUT)
    assert esp.connects == 2 and leds.connects == 2
    # nothing went out between the drop and the reconnection
    reconnected = esp.wait_for_published(lambda p: p.time >= down, timeout=5.0)
    assert reconnected.time >= up
    esp.wait_for_published(lambda p: p.time >= up and p.value == 70, timeout=5.0)
    # the alert sent while the WiFi was down arrives as the retained state on resubscribing
    leds.wait_for_led("red", timeout=5.0, since=up)
