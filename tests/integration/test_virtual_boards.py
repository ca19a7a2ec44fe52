"""The virtual backend itself: a host-built sketch started on a pty, its pins read from the
core, stopped by its pid, and a clear error when the programs cannot be built."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from alertloop.hil.boards import create_esp32, create_nodemcu
from alertloop.hil.boards.serial_board import SerialEsp32, SerialNodeMcu
from alertloop.hil.boards.virtual import (
    HostFirmware,
    VirtualBoardError,
    VirtualEsp32,
    VirtualNodeMcu,
)
from alertloop.hil.capture import MqttCapture
from alertloop.hil.stack import Stack
from alertloop.services.common.config import MqttSettings

pytest_plugins = ["pytester"]


def test_missing_programs_without_a_build_is_a_clear_error(tmp_path: Path) -> None:
    board = VirtualEsp32(MqttSettings("127.0.0.1", 1), firmware_dir=tmp_path)
    with pytest.raises(VirtualBoardError, match=r"make -C firmware host.*libmosquitto-dev"):
        board.start()
    board.stop()


def test_the_topic_must_end_with_the_sketchs_topic() -> None:
    with pytest.raises(ValueError, match="must end with the sketch's '/alert'"):
        VirtualNodeMcu(MqttSettings("127.0.0.1", 1), topic="t/x/leds")


def test_leds_come_from_the_pins_and_stop_ends_the_program(
    alertloop_nodemcu_factory: Callable[..., VirtualNodeMcu],
    alertloop_mqtt_capture: MqttCapture,
    alertloop_unique_topic: str,
) -> None:
    board = alertloop_nodemcu_factory(backend="virtual")
    alertloop_mqtt_capture.subscribe(f"{alertloop_unique_topic}/alert")
    alertloop_mqtt_capture.publish(f"{alertloop_unique_topic}/alert", "1", qos=1, retain=True)
    board.wait_for_led("red", timeout=5)
    mark = board.serial.mark()
    board.serial.send("#HW pins")
    assert board.serial.expect(r"^#HW pins ", timeout=5, after=mark).string == "#HW pins p4=1 p5=0"
    pid = board.pid
    assert pid is not None
    board.stop()
    assert not board.firmware.alive
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_kill_is_a_power_cut_and_the_broker_sends_the_will(
    alertloop_esp32_factory: Callable[..., VirtualEsp32],
    alertloop_mqtt_capture: MqttCapture,
    alertloop_unique_topic: str,
) -> None:
    status = f"{alertloop_unique_topic}/status/com.gonzalo123.esp32"
    alertloop_mqtt_capture.subscribe(status)
    board = alertloop_esp32_factory(backend="virtual")
    alertloop_mqtt_capture.wait_for(status, lambda m: m.payload == b"online", timeout=5)
    board.kill()
    assert not board.running
    alertloop_mqtt_capture.wait_for(status, lambda m: m.payload == b"offline", timeout=30)


def test_a_sketch_on_a_pty_is_driven_like_a_flashed_board(
    alertloop_mqtt_broker: MqttSettings,
    alertloop_mqtt_capture: MqttCapture,
    alertloop_unique_topic: str,
    tmp_path: Path,
) -> None:
    """The serial backend for ports, on the host build's pty: the sketch's own knob override
    (``#AL knob``), its ``#AL status`` answer and its ``#AL published`` lines."""
    program = HostFirmware(
        "esp32_knob",
        alertloop_mqtt_broker,
        topic_prefix=alertloop_unique_topic,
        client_id="flashed",
        log_dir=tmp_path,
    )
    try:
        path = program.start()
        alertloop_mqtt_capture.subscribe(f"{alertloop_unique_topic}/pot")
        with create_esp32(path, reset_on_start=True) as board:  # a pty has no reset line
            assert isinstance(board, SerialEsp32)
            board.wait_connected(15)
            board.set_knob(80)
            published = board.wait_for_published(80, timeout=5)
            alertloop_mqtt_capture.wait_for(
                f"{alertloop_unique_topic}/pot", lambda m: m.payload == b"80", timeout=5
            )
            board.release_knob()
            mark = board.serial.mark()
            board.serial.send("#AL status")
            status = board.serial.expect(r"^#AL status mqtt=1 seq=(\d+)", timeout=5, after=mark)
            assert int(status.group(1)) >= (published.seq or 0)
    finally:
        program.stop()


def test_a_nodemcu_sketch_on_a_pty_shows_its_leds_through_its_lines(
    alertloop_mqtt_broker: MqttSettings,
    alertloop_mqtt_capture: MqttCapture,
    alertloop_unique_topic: str,
    tmp_path: Path,
) -> None:
    """The LEDs as a flashed NodeMCU reports them (``#AL led``), from the real sketch."""
    program = HostFirmware(
        "nodemcu_led",
        alertloop_mqtt_broker,
        topic_prefix=alertloop_unique_topic,
        client_id="flashed",
        log_dir=tmp_path,
    )
    try:
        path = program.start()
        topic = f"{alertloop_unique_topic}/alert"
        alertloop_mqtt_capture.subscribe(topic)
        with create_nodemcu(path) as board:
            assert isinstance(board, SerialNodeMcu) and board.led_source == "events"
            alertloop_mqtt_capture.publish(topic, "1", qos=1, retain=True)
            board.wait_for_led("red", timeout=10)
            alertloop_mqtt_capture.publish(topic, "garbage", qos=1, retain=True)
            assert board.wait_for_led("error", timeout=5).state.error
            assert board.handled == 2
    finally:
        program.stop()


def test_the_plugin_drives_a_board_on_a_port(
    pytester: pytest.Pytester, alertloop_stack: Stack, tmp_path: Path
) -> None:
    """``--esp32 PORT``: the fixtures give a serial board on the sketch's own topic. The
    port is the host build's pty, with no topic prefix, as a flashed board would be."""
    program = HostFirmware(
        "esp32_knob",
        alertloop_stack.mqtt,
        topic_prefix="",
        client_id="flashed-port",
        log_dir=tmp_path,
    )
    try:
        path = program.start()
        pytester.makepyfile(
            "def test_knob(alertloop_esp32, alertloop_mqtt_capture, alertloop_unique_topic):\n"
            "    assert alertloop_unique_topic == '' and type(alertloop_esp32).__name__ == 'SerialEsp32'\n"
            "    alertloop_mqtt_capture.subscribe('/pot')\n"
            "    alertloop_esp32.set_knob(77)\n"
            "    alertloop_esp32.wait_for_published(77, timeout=5)\n"
            "    alertloop_mqtt_capture.wait_for('/pot', lambda m: m.payload == b'77', timeout=5)\n"
        )
        result = pytester.runpytest_subprocess(
            "--alertloop-stack", "external", "--alertloop-mqtt-url", alertloop_stack.mqtt.url,
            "--alertloop-influx-url", alertloop_stack.influx.url, "--esp32", path, "-p", "no:cacheprovider",
        )  # fmt: skip
        result.assert_outcomes(passed=1)
    finally:
        program.stop()
