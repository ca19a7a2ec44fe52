"""The serial board backend on a real pseudo-terminal: the test plays the board, writing the
sketch's lines (and the host core's ``#HW`` lines) on one side and reading the commands the
backend sends."""

from __future__ import annotations

import os
import threading
import tty
from collections.abc import Iterator

import pytest

from alertloop.hil.boards import IndicatorBoard, SensorBoard, create_esp32, create_nodemcu
from alertloop.hil.boards.serial_board import SerialEsp32, SerialNodeMcu
from alertloop.services.common.deadline import wait_until
from alertloop.services.common.errors import TimeoutExpired
from alertloop.sim.esp32 import adc_for_percent
from alertloop.sim.signals import Step


class FakeBoard:
    """The board's end of the pty: ``say`` writes lines, ``commands`` collects what arrives."""

    def __init__(self) -> None:
        self.master, slave = os.openpty()
        tty.setraw(slave)
        self.path = os.ttyname(slave)
        self._slave = slave
        self.commands: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def say(self, *lines: str) -> None:
        os.write(self.master, "".join(line + "\r\n" for line in lines).encode())

    def _read(self) -> None:
        partial = b""
        while not self._stop.is_set():
            try:
                chunk = os.read(self.master, 1024)
            except OSError:
                return
            partial += chunk
            *done, partial = partial.split(b"\n")
            self.commands.extend(line.decode() for line in done)

    def wait_command(self, text: str) -> None:
        wait_until(
            lambda: text in self.commands, 5, what=f"command {text!r}", state=lambda: self.commands
        )

    def close(self) -> None:
        # The reader must be gone before the master's number is freed: a thread that reads a
        # closed descriptor number can read the next test's pty, which reuses that number,
        # and take the commands meant for it. Closing the slave first ends a blocked read
        # (EIO), and a read started after that fails at once.
        self._stop.set()
        os.close(self._slave)
        self._thread.join(5)
        os.close(self.master)


@pytest.fixture
def board() -> Iterator[FakeBoard]:
    fake = FakeBoard()
    try:
        yield fake
    finally:
        fake.close()


def test_the_factory_builds_serial_boards_for_ports(board: FakeBoard) -> None:
    esp = create_esp32(board.path)
    leds = create_nodemcu(board.path)
    assert isinstance(esp, SerialEsp32) and isinstance(esp, SensorBoard)
    assert isinstance(leds, SerialNodeMcu) and isinstance(leds, IndicatorBoard)
    assert (esp.port, esp.baudrate, leds.baudrate) == (board.path, 115200, 9600)


def test_esp32_connection_publishes_and_knob_override(board: FakeBoard) -> None:
    with SerialEsp32(board.path) as esp:
        board.wait_command("#AL status")  # a running board reports on request
        board.say("Attempting MQTT connection...failed, rc=-2 try again in 5 seconds")
        board.say("#AL mqtt state=failed rc=-2")
        esp.serial.expect(r"^#AL mqtt state=failed", timeout=5)  # read before we wait
        with pytest.raises(TimeoutExpired, match=r"(?s)report its MQTT connection.*rc=-2"):
            esp.wait_connected(0.3)
        board.say("Attempting MQTT connection...connected", "#AL mqtt state=connected")
        esp.wait_connected(5)
        assert esp.connects == 1
        esp.set_knob(80)
        board.wait_command("#AL knob value=80")
        board.say("#AL published value=80 seq=7")
        item = esp.wait_for_published(80, timeout=5)
        assert (item.value, item.seq) == (80, 7)
        esp.set_knob(80)  # unchanged: no second command
        esp.release_knob()
        board.wait_command("#AL knob value=-1")
        assert board.commands.count("#AL knob value=80") == 1
        with pytest.raises(ValueError, match="0..100"):
            esp.set_knob(101)
        esp.set_knob(20)
    # stopping gives the board its potentiometer back
    board.wait_command("#AL knob value=20")
    wait_until(
        lambda: len(board.commands) >= 5, 5, what="the release", state=lambda: board.commands
    )
    assert board.commands[-2:] == ["#AL knob value=20", "#AL knob value=-1"]


def test_esp32_adc_mode_turns_the_potentiometer(board: FakeBoard) -> None:
    with SerialEsp32(board.path, knob_mode="adc", query_status=False) as esp:
        esp.set_knob(50)
        board.wait_command(f"#HW adc pin=32 value={adc_for_percent(50)}")
        esp.follow(Step(10, 90, 0.2))
        board.wait_command(f"#HW adc pin=32 value={adc_for_percent(10)}")
        board.wait_command(f"#HW adc pin=32 value={adc_for_percent(90)}")
    assert "#AL status" not in board.commands


def test_nodemcu_leds_from_the_sketchs_lines(board: FakeBoard) -> None:
    with SerialNodeMcu(board.path) as leds:
        board.say("#AL mqtt state=subscribed")
        leds.wait_connected(5)
        board.say("Message arrived [/alert] value:1", "#AL led state=red red=1 green=0")
        leds.wait_for_led("red", timeout=5)
        board.say('#AL led state=error red=0 green=0 reason="not a number"')
        assert leds.wait_for_led("error", timeout=5).state.error
        assert [c.state.name for c in leds.history] == ["off", "red", "error"]
        assert leds.handled == 2


def test_nodemcu_leds_from_the_pins_not_the_prints(board: FakeBoard) -> None:
    with SerialNodeMcu(board.path, led_source="pins", query_status=False) as leds:
        board.say("#HW pin pin=4 level=1 ms=100", "#AL led state=red red=1 green=0")
        leds.wait_for_led("red", timeout=5)
        # red -> green goes through "both off" on the pins; one message is one change
        board.say(
            "#HW pin pin=4 level=0 ms=200",
            "#HW pin pin=5 level=1 ms=200",
            "#AL led state=green red=0 green=1",
        )
        leds.wait_for_led("green", timeout=5)
        assert [c.state.name for c in leds.history] == ["off", "red", "green"]
        # the sketch says red but drives no pin: the LEDs stay green
        board.say("#AL led state=red red=1 green=0")
        wait_until(lambda: leds.handled == 3, 5, what="the third message handled")
        assert leds.led.name == "green"
        # a pin change with no line after it still shows, once the pins settle
        board.say("#HW pin pin=5 level=0 ms=900")
        leds.wait_for_led("off", timeout=5)
        board.say('#AL led state=error red=0 green=0 reason="empty payload"')
        leds.wait_for_led("error", timeout=5)
