"""Flashed boards on serial ports, observed through their #AL machine lines.

Run with real hardware and the broker the boards use, for example:
    pytest tests/hil --stack external --mqtt-url mqtt://pi:1883 --influx-url http://pi:8086 \\
        --esp32 /dev/ttyUSB0 --nodemcu /dev/ttyUSB1
Without ports these tests skip and say so.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from hil.serial_monitor import SerialMonitor

pytestmark = pytest.mark.hil


def _port(request: pytest.FixtureRequest, option: str) -> str:
    value = request.config.getoption(option)
    if value in (None, "sim", "virtual"):
        pytest.skip(
            f"needs a flashed board on a serial port: {option} /dev/ttyUSB0 (got {value!r})"
        )
    return str(value)


@pytest.fixture
def esp32_console(request: pytest.FixtureRequest, tmp_path) -> Iterator[SerialMonitor]:
    with SerialMonitor(_port(request, "--esp32"), 115200, log_path=tmp_path / "esp32.log") as mon:
        yield mon


@pytest.fixture
def nodemcu_console(request: pytest.FixtureRequest, tmp_path) -> Iterator[SerialMonitor]:
    with SerialMonitor(_port(request, "--nodemcu"), 9600, log_path=tmp_path / "nodemcu.log") as mon:
        yield mon


def test_esp32_publishes_the_overridden_knob(esp32_console: SerialMonitor, mqtt_capture) -> None:
    mqtt_capture.subscribe("/pot")
    esp32_console.send("#AL knob value=80")
    esp32_console.wait_for_event("published", lambda e: e.get("value") == "80", timeout=10)
    assert mqtt_capture.wait_for("/pot", lambda m: m.payload == b"80", timeout=10)
    esp32_console.send("#AL knob value=-1")


@pytest.mark.parametrize(("payload", "led"), [("1", "red"), ("0", "green")], ids=["alert", "ok"])
def test_nodemcu_follows_the_retained_alert(
    nodemcu_console: SerialMonitor, mqtt_capture, payload: str, led: str
) -> None:
    mqtt_capture.publish("/alert", payload, qos=1, retain=True)
    event = nodemcu_console.wait_for_event("led", lambda e: e.get("state") == led, timeout=10)
    assert (event.get("red"), event.get("green")) == (("1", "0") if led == "red" else ("0", "1"))
