"""Flashed boards on serial ports, through the serial board backend (their ``#AL`` lines).

Run with real hardware and the broker the boards use, for example:
    pytest tests/hil --alertloop-stack external --alertloop-mqtt-url mqtt://pi:1883 \\
        --alertloop-influx-url http://pi:8086 \\
        --esp32 /dev/ttyUSB0 --nodemcu /dev/ttyUSB1
The e2e and every-backend board tests run on the same ports with those options. Without
ports these tests skip and say so.
"""

from __future__ import annotations

import time

import pytest

from alertloop.hil.boards import IndicatorBoard, SensorBoard, is_port
from alertloop.hil.capture import MqttCapture

pytestmark = pytest.mark.hil


def _require_port(request: pytest.FixtureRequest, kind: str) -> None:
    value = str(request.config.getoption(f"--{kind}"))
    if not is_port(value):
        pytest.skip(
            f"needs a flashed board on a serial port: --{kind} /dev/ttyUSB0 (got {value!r})"
        )


@pytest.fixture
def flashed_esp32(request: pytest.FixtureRequest) -> SensorBoard:
    _require_port(request, "esp32")
    return request.getfixturevalue("alertloop_esp32")  # type: ignore[no-any-return]


@pytest.fixture
def flashed_nodemcu(request: pytest.FixtureRequest) -> IndicatorBoard:
    _require_port(request, "nodemcu")
    return request.getfixturevalue("alertloop_nodemcu")  # type: ignore[no-any-return]


def test_esp32_publishes_the_overridden_knob(
    flashed_esp32: SensorBoard, alertloop_mqtt_capture: MqttCapture
) -> None:
    alertloop_mqtt_capture.subscribe("/pot")
    flashed_esp32.set_knob(80)
    flashed_esp32.wait_for_published(80, timeout=10)
    assert alertloop_mqtt_capture.wait_for("/pot", lambda m: m.payload == b"80", timeout=10)
    flashed_esp32.release_knob()  # type: ignore[attr-defined]


@pytest.mark.parametrize(("payload", "led"), [("1", "red"), ("0", "green")], ids=["alert", "ok"])
def test_nodemcu_follows_the_retained_alert(
    flashed_nodemcu: IndicatorBoard, alertloop_mqtt_capture: MqttCapture, payload: str, led: str
) -> None:
    alertloop_mqtt_capture.subscribe("/alert")
    sent = time.time()
    alertloop_mqtt_capture.publish("/alert", payload, qos=1, retain=True)
    change = flashed_nodemcu.wait_for_led(led, timeout=10, since=sent)  # type: ignore[call-arg]
    assert change.state.name == led
