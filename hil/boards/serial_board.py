"""The serial board backend: a board observed and driven through its serial console.

The board may be a flashed ESP32 or NodeMCU on a port (``/dev/ttyUSB0``, ``rfc2217://...``),
or the host build of a sketch on a pseudo-terminal (``alertloop.hil.boards.virtual``). Everything comes
from the lines the ``SerialMonitor`` reads:

- ``#AL published value=N seq=S`` -> ``published``
- ``#AL mqtt state=connected|subscribed|failed`` and the sketches' ``Attempting MQTT
  connection...`` lines -> ``connected``, ``connects``
- LEDs: on a real board from ``#AL led state=... red=R green=G``; with ``led_source="pins"``
  (the host build) from the core's ``#HW pin pin=4 level=1`` reports, that is from the pins
  themselves, with the sketch's ``#AL led`` line only marking the end of a message's handling.

The knob is turned by a serial command: ``#AL knob value=N`` (the sketch's override) or, with
``knob_mode="adc"`` (the host build), ``#HW adc pin=32 value=ADC`` so the sketch reads it
through ``analogRead`` as it reads a potentiometer.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Self

from alertloop.hil.serial_monitor import SerialMonitor, SerialMonitorError, parse_hw_event
from alertloop.services.common.deadline import wait_until
from alertloop.sim.board_api.protocol import BoardError, LedState, Published
from alertloop.sim.board_api.recording import BoardLifecycle, IndicatorRecorder, SensorRecorder
from alertloop.sim.esp32 import adc_for_percent
from alertloop.sim.serial_log import SerialEvent, SerialLine, parse_event

__all__ = ["SerialBoard", "SerialEsp32", "SerialNodeMcu"]

if TYPE_CHECKING:
    from alertloop.hil.bench.reset import BootLog

log = logging.getLogger(__name__)

ESP32_BAUD = 115200
NODEMCU_BAUD = 9600
KNOB_PIN = 32
RED_PIN, GREEN_PIN = 4, 5
# Pin changes not followed by the sketch's ``#AL led`` line are committed after this long.
PIN_SETTLE = 0.25
FOLLOW_STEP = 0.05


class SerialBoard(BoardLifecycle):
    """What both serial boards share: the monitor, the connection state, ``wait_connected``."""

    name = "board"

    def __init__(
        self,
        port: str | None = None,
        baudrate: int = ESP32_BAUD,
        *,
        monitor: SerialMonitor | None = None,
        log_path: Path | None = None,
        query_status: bool = True,
        reset_on_start: bool = False,
    ) -> None:
        if monitor is None and port is None:
            raise ValueError("a serial board needs a port (device path or pyserial URL)")
        self.port = port if port is not None else monitor.port  # type: ignore[union-attr]
        self.baudrate = baudrate
        self.log_path = log_path
        self.query_status = query_status
        self.reset_on_start = reset_on_start
        self.boot_log: BootLog | None = None  # what the board printed after the start's reset
        self._monitor = monitor
        self._state_lock = threading.Lock()
        self._connected = False
        self.connects = 0
        self._listening = False

    # -- lifecycle ------------------------------------------------------------------------
    @property
    def serial(self) -> SerialMonitor:
        """The board's console (lines, events, ``expect``, ``send``)."""
        if self._monitor is None:
            self._monitor = SerialMonitor(self.port, self.baudrate, log_path=self.log_path)
        return self._monitor

    def start(self) -> Self:
        """Open the port and follow the board. Raises SerialMonitorError if it cannot be opened."""
        monitor = self.serial
        if not self._listening:
            monitor.add_listener(self._on_line)
            self._listening = True
        if not monitor.running:
            monitor.start()
        if self.reset_on_start:
            # the board starts again and reports its connection; its boot log is kept
            from alertloop.hil.bench.reset import BootFailed, reset_monitored

            try:
                self.boot_log = reset_monitored(monitor, timeout=20.0)
            except SerialMonitorError as exc:
                log.warning("%s: %s; going on without a reset", self.name, exc)
            except BootFailed as exc:
                raise BoardError(f"{self.name} on {self.port}: {exc}") from exc
        if self.query_status:
            monitor.send("#AL status")
        return self

    def stop(self) -> None:
        """Close the port (the board itself runs on). Idempotent."""
        if self._monitor is not None and self._monitor.running:
            self._monitor.stop()

    @property
    def running(self) -> bool:
        return self._monitor is not None and self._monitor.running

    @property
    def connected(self) -> bool:
        """What the board last said about its MQTT connection (subscribed, for the NodeMCU)."""
        return self._connected

    def wait_connected(self, timeout: float = 10.0) -> None:
        """Wait until the board reports its MQTT connection (and subscription).

        Raises BoardNotStarted if not running, TimeoutExpired after ``timeout``."""
        self._require_running()
        wait_until(
            lambda: self._connected,
            timeout,
            what=f"{self.name} on {self.port} to report its MQTT connection",
            state=self._describe,
            hint="is the broker the board uses running, and is the board running the sketch?",
        )

    def _describe(self) -> str:
        status = "connected" if self._connected else "not connected"
        tail = self._monitor.tail(4) if self._monitor is not None else []
        return f"{self.name} on {self.port} {status}; serial tail {tail}"

    # -- lines ------------------------------------------------------------------------------
    def _on_line(self, line: SerialLine) -> None:
        hw = parse_hw_event(line.text)
        if hw is not None:
            self._on_hw(line, hw)
            return
        event = parse_event(line.text)
        if event is None:
            self._on_human(line.text)
        elif event.name == "mqtt":
            self._on_mqtt(event.get("state") or "")
        elif event.name == "status":
            if event.get("mqtt") == "1":
                self._set_connected(True, count=False)
        else:
            self._on_event(line, event)

    def _on_human(self, text: str) -> None:
        if text.startswith("Attempting MQTT connection...") and "failed" in text:
            self._set_connected(False)

    def _on_mqtt(self, state: str) -> None:
        if state in self._ready_states:
            self._set_connected(True)
        elif state in ("failed", "disconnected", "stopped", "killed"):
            self._set_connected(False)

    _ready_states: tuple[str, ...] = ("connected",)

    def _set_connected(self, value: bool, *, count: bool = True) -> None:
        with self._state_lock:
            if value and not self._connected and count:
                self.connects += 1
            self._connected = value

    def _on_event(self, line: SerialLine, event: SerialEvent) -> None:
        """A board's own ``#AL`` event other than ``mqtt``/``status``."""

    def _on_hw(self, line: SerialLine, event: SerialEvent) -> None:
        """A ``#HW`` report of the host build's core."""


class SerialEsp32(SerialBoard, SensorRecorder):
    """The knob board on a serial console. Implements ``alertloop.hil.boards.SensorBoard``.

    ``knob_mode="override"`` (a real board) turns the knob with ``#AL knob value=N``;
    ``"adc"`` (the host build) sets the ADC of GPIO 32 with ``#HW adc``.
    """

    name = "esp32"

    def __init__(
        self,
        port: str | None = None,
        baudrate: int = ESP32_BAUD,
        *,
        knob_mode: str = "override",
        monitor: SerialMonitor | None = None,
        log_path: Path | None = None,
        query_status: bool = True,
        reset_on_start: bool = False,
    ) -> None:
        if knob_mode not in ("override", "adc"):
            raise ValueError(f"knob_mode must be 'override' or 'adc', got {knob_mode!r}")
        SensorRecorder.__init__(self)
        SerialBoard.__init__(
            self,
            port,
            baudrate,
            monitor=monitor,
            log_path=log_path,
            query_status=query_status,
            reset_on_start=reset_on_start,
        )
        self.knob_mode = knob_mode
        self._knob: float | None = None
        self._sent: int | None = None
        self._follow_stop = threading.Event()
        self._follower: threading.Thread | None = None

    def stop(self) -> None:
        """Stop following a signal, give a flashed board its potentiometer back, close the port."""
        self._stop_following()
        if self.knob_mode == "override" and self._sent is not None and self.running:
            with contextlib.suppress(SerialMonitorError):
                self.serial.send("#AL knob value=-1")
            self._sent = None
        SerialBoard.stop(self)

    # -- the knob ---------------------------------------------------------------------------
    def set_knob(self, percent: float) -> None:
        """Turn the knob to ``percent`` (0..100) and leave it there (stops following a signal).

        Raises ValueError outside 0..100, BoardNotStarted when the board is not running."""
        self._require_running()
        if not 0 <= percent <= 100:
            raise ValueError(f"knob percent must be within 0..100, got {percent!r}")
        self._stop_following()
        self._turn(percent)

    def follow(self, signal: Callable[[float], float]) -> None:
        """Let the knob follow ``signal`` (seconds since this call -> percent); a thread sends
        a command each time the value the board would read changes."""
        if not callable(signal):
            raise TypeError(f"a signal is a callable of elapsed seconds, not {signal!r}")
        self._require_running()
        self._stop_following()
        self._follow_stop = threading.Event()
        stop = self._follow_stop
        start = time.monotonic()

        def run() -> None:
            while not stop.is_set() and self.running:
                self._turn(min(100.0, max(0.0, float(signal(time.monotonic() - start)))))
                stop.wait(FOLLOW_STEP)

        self._follower = threading.Thread(target=run, name=f"follow-{self.port}", daemon=True)
        self._follower.start()

    @property
    def knob(self) -> float | None:
        """Where the test last turned the knob (None before the first turn)."""
        return self._knob

    def release_knob(self) -> None:
        """Give the knob back to the board's potentiometer (``#AL knob value=-1``)."""
        self._stop_following()
        self._knob = self._sent = None
        self.serial.send("#AL knob value=-1")

    def _turn(self, percent: float) -> None:
        self._knob = percent
        if self.knob_mode == "adc":
            code = adc_for_percent(percent)
            command = f"#HW adc pin={KNOB_PIN} value={code}"
        else:
            code = round(percent)
            command = f"#AL knob value={code}"
        if code != self._sent:
            self.serial.send(command)
            self._sent = code

    def _stop_following(self) -> None:
        self._follow_stop.set()
        follower, self._follower = self._follower, None
        if follower is not None and follower is not threading.current_thread():
            follower.join(2)

    # -- events -----------------------------------------------------------------------------
    def _on_event(self, line: SerialLine, event: SerialEvent) -> None:
        if event.name != "published":
            return
        try:
            value = int(event.get("value") or "")
        except ValueError:
            return
        seq_text = event.get("seq")
        seq = int(seq_text) if seq_text and seq_text.isdigit() else None
        self._record_published(Published(value, line.time, seq))
        if not self._connected:  # a board that was connected before we listened
            self._set_connected(True)


class SerialNodeMcu(SerialBoard, IndicatorRecorder):
    """The LED board on a serial console. Implements ``alertloop.hil.boards.IndicatorBoard``.

    ``led_source="events"`` (a real board) takes the LEDs from the sketch's ``#AL led`` lines;
    ``"pins"`` (the host build) from the core's pin reports, GPIO 4 red and GPIO 5 green.
    ``handled`` counts the ``/alert`` messages the sketch has handled (one ``#AL led`` line each).
    """

    name = "nodemcu"
    _ready_states = ("subscribed",)

    def __init__(
        self,
        port: str | None = None,
        baudrate: int = NODEMCU_BAUD,
        *,
        led_source: str = "events",
        monitor: SerialMonitor | None = None,
        log_path: Path | None = None,
        query_status: bool = True,
        reset_on_start: bool = False,
    ) -> None:
        if led_source not in ("events", "pins"):
            raise ValueError(f"led_source must be 'events' or 'pins', got {led_source!r}")
        IndicatorRecorder.__init__(self)
        SerialBoard.__init__(
            self,
            port,
            baudrate,
            monitor=monitor,
            log_path=log_path,
            query_status=query_status,
            reset_on_start=reset_on_start,
        )
        self.led_source = led_source
        self.handled = 0
        self._pins = {RED_PIN: False, GREEN_PIN: False}
        self._pending: float | None = None  # time of the last uncommitted pin change
        self._settle: threading.Timer | None = None

    def start(self) -> Self:
        if not self.history:
            self._record_led(LedState(False, False))
        return SerialBoard.start(self)

    def stop(self) -> None:
        with self._state_lock:
            if self._settle is not None:
                self._settle.cancel()
        SerialBoard.stop(self)

    def _on_event(self, line: SerialLine, event: SerialEvent) -> None:
        if event.name != "led":
            return
        error = event.get("state") == "error"
        if self.led_source == "pins":
            self._commit_pins(error=error)
        else:
            red, green = event.get("red") == "1", event.get("green") == "1"
            self._record_led(LedState(red, green, error=error and not (red or green)), line.time)
        self.handled += 1  # after the LEDs, so a test that saw the count sees them too

    def _on_hw(self, line: SerialLine, event: SerialEvent) -> None:
        if self.led_source != "pins" or event.name != "pin":
            return
        try:
            pin, level = int(event.get("pin") or ""), event.get("level") == "1"
        except ValueError:
            return
        if pin not in self._pins:
            return
        with self._state_lock:
            self._pins[pin] = level
            self._pending = line.time
            if self._settle is None:
                self._settle = threading.Timer(PIN_SETTLE, self._commit_pins)
                self._settle.daemon = True
                self._settle.start()

    def _commit_pins(self, *, error: bool = False) -> None:
        """Record the LEDs as the pins show them; the time is that of the last pin change."""
        with self._state_lock:
            if self._settle is not None:
                self._settle.cancel()
                self._settle = None
            red, green = self._pins[RED_PIN], self._pins[GREEN_PIN]
            at, self._pending = self._pending, None
        state = LedState(red, green, error=error and not (red or green))
        if at is None and state == self.led:
            return
        self._record_led(state, at)
