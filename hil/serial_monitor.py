"""SerialMonitor: read a board's serial console (real port, pty or pyserial URL), log it, expect on it.

One reader thread per port turns bytes into timestamped lines, writes them to a log file, and
parses the machine lines (``#AL event key=value ...``, see ``alertloop.sim.serial_log``). Tests wait on
lines or events with a deadline; a timeout names the pattern, the last lines and the log path.
A port that disappears (board reset, cable) is reopened until the monitor is stopped.

Listeners (``add_listener``) get every line as it completes, in the reader thread; the board
backends build their state from them. ``#HW`` lines, which the host build's core writes (pin
levels, ADC and WiFi answers), have the same format as ``#AL`` lines: ``parse_hw_event``.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

import serial

from alertloop.services.common.deadline import Deadline
from alertloop.services.common.errors import AlertloopError, TimeoutExpired
from alertloop.services.common.lifecycle import Lifecycle
from alertloop.sim.serial_log import EVENT_PREFIX, SerialEvent, SerialLine, parse_event

__all__ = ["HW_PREFIX", "LineListener", "SerialMonitor", "SerialMonitorError", "parse_hw_event"]

HW_PREFIX = "#HW"
LineListener = Callable[[SerialLine], None]


def parse_hw_event(text: str) -> SerialEvent | None:
    """The event in a host-core line (``#HW pin pin=4 level=1 ms=12``), or None for any other
    line. The format is that of the ``#AL`` machine lines with another prefix."""
    stripped = text.strip()
    if not stripped.startswith(HW_PREFIX + " "):
        return None
    return parse_event(EVENT_PREFIX + stripped[len(HW_PREFIX) :])


log = logging.getLogger(__name__)


class SerialMonitorError(AlertloopError):
    """The port cannot be opened or written."""


class SerialMonitor(Lifecycle):
    """Lines and events from ``port`` (a device path or a pyserial URL such as ``loop://``).

    ``keep_buffered=True`` keeps what the board wrote before the port was opened (pyserial
    discards it otherwise), for a pty whose program started just before."""

    def __init__(
        self,
        port: str,
        baudrate: int = 115200,
        *,
        log_path: Path | None = None,
        echo: Callable[[str], None] | None = None,
        reopen_interval: float = 1.0,
        keep_buffered: bool = False,
    ) -> None:
        self.port = port
        self.keep_buffered = keep_buffered
        self.baudrate = baudrate
        self.log_path = log_path
        self.echo = echo
        self.reopen_interval = reopen_interval
        self.lines: list[SerialLine] = []
        self.events: list[tuple[float, SerialEvent]] = []
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._serial: serial.SerialBase | None = None
        self._thread: threading.Thread | None = None
        self._log: TextIO | None = None
        self._listeners: list[LineListener] = []
        self._write_lock = threading.Lock()

    def add_listener(self, listener: LineListener) -> None:
        """Call ``listener(line)`` for every line completed from now on (in the reader thread;
        it must not block). An exception in a listener is logged and does not stop reading."""
        with self._cond:
            self._listeners.append(listener)

    def tail(self, count: int = 10) -> list[str]:
        """The text of the last ``count`` lines."""
        with self._cond:
            return [line.text for line in self.lines[-count:]]

    @property
    def running(self) -> bool:
        """True while the reader thread runs."""
        return self._thread is not None and self._thread.is_alive()

    # -- lifecycle -----------------------------------------------------------------------
    def start(self) -> SerialMonitor:
        """Open the port and start reading. Raises SerialMonitorError if it cannot be opened."""
        self._serial = self._open()
        if self.log_path is not None:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            self._log = open(self.log_path, "a", encoding="utf-8")  # noqa: SIM115
        self._thread = threading.Thread(target=self._run, name=f"serial-{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        if self._serial is not None:
            self._serial.close()
        if self._log is not None:
            self._log.close()

    def _open(self) -> serial.SerialBase:
        try:
            port = serial.serial_for_url(
                self.port, baudrate=self.baudrate, timeout=0.05, do_not_open=True
            )
            if self.keep_buffered:
                # pyserial empties the input queue on open(); a pty of the host build holds
                # the lines the program wrote before we opened it, so keep them.
                setattr(port, "reset_input_buffer", lambda: None)  # noqa: B010
            port.open()
            return port
        except (serial.SerialException, OSError) as exc:
            raise SerialMonitorError(f"cannot open serial port {self.port}: {exc}") from exc

    # -- reading -------------------------------------------------------------------------
    def _run(self) -> None:
        partial = b""
        while not self._stop.is_set():
            try:
                assert self._serial is not None
                chunk = self._serial.read(self._serial.in_waiting or 1)
            except (serial.SerialException, OSError):
                partial = b""
                self._reopen()
                continue
            if not chunk:
                continue
            partial += chunk
            *complete, partial = re.split(rb"\r?\n", partial)
            for raw in complete:
                self._add(raw.decode("utf-8", errors="replace").rstrip("\r"))

    def _reopen(self) -> None:
        if self._serial is not None:
            self._serial.close()
        while not self._stop.wait(self.reopen_interval):
            try:
                self._serial = self._open()
                self._add("#AL monitor state=reopened")
                return
            except SerialMonitorError:
                continue

    def _add(self, text: str) -> None:
        line = SerialLine(time.time(), text)
        event = parse_event(text)
        with self._cond:
            self.lines.append(line)
            if event is not None:
                self.events.append((line.time, event))
            self._cond.notify_all()
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(line)
            except Exception:
                log.exception("serial listener on %s failed on %r", self.port, text)
        if self._log is not None:
            stamp = time.strftime("%H:%M:%S", time.localtime(line.time))
            self._log.write(f"{stamp}.{int(line.time * 1000) % 1000:03d} {text}\n")
            self._log.flush()
        if self.echo is not None:
            self.echo(text)

    # -- writing -------------------------------------------------------------------------
    def reset_board(self, pulse: float = 0.1) -> None:
        """Reset the board through the modem lines, as esptool's classic reset does on ESP32
        and NodeMCU dev boards (DTR off, RTS on for ``pulse`` s, RTS off). Raises
        SerialMonitorError when the port has no modem lines (a pty, a bare TCP URL)."""
        if self._serial is None:
            raise SerialMonitorError("monitor not started")
        try:
            self._serial.dtr = False
            self._serial.rts = True
            threading.Event().wait(pulse)  # the width of the reset pulse, not a wait for an event
            self._serial.rts = False
        except (serial.SerialException, OSError) as exc:
            raise SerialMonitorError(f"cannot reset the board on {self.port}: {exc}") from exc

    def send(self, text: str) -> None:
        """Write one line (a command such as ``#AL knob value=80``) to the board."""
        if self._serial is None:
            raise SerialMonitorError("monitor not started")
        try:
            with self._write_lock:
                self._serial.write(text.encode() + b"\n")
        except (serial.SerialException, OSError) as exc:
            raise SerialMonitorError(f"cannot write to {self.port}: {exc}") from exc

    # -- waiting -------------------------------------------------------------------------
    def mark(self) -> int:
        """A cursor: ``expect(..., after=mark)`` looks only at lines that arrive later."""
        with self._cond:
            return len(self.lines)

    def expect(self, pattern: str, timeout: float = 10.0, after: int = 0) -> re.Match[str]:
        """The first line at index >= ``after`` that matches the regex ``pattern``."""
        regex = re.compile(pattern)
        deadline = Deadline(timeout)
        with self._cond:
            index = after
            while True:
                for line in self.lines[index:]:
                    found = regex.search(line.text)
                    if found:
                        return found
                index = len(self.lines)
                if deadline.expired:
                    raise TimeoutExpired(self._explain(f"a line matching {pattern!r}", timeout))
                self._cond.wait(deadline.remaining)

    def wait_for_event(
        self,
        name: str,
        predicate: Callable[[SerialEvent], bool] | None = None,
        timeout: float = 10.0,
        after: float = 0.0,
    ) -> SerialEvent:
        """The first event ``name`` (seen at or after time ``after``) for which ``predicate`` holds."""
        deadline = Deadline(timeout)
        with self._cond:
            while True:
                for seen_at, event in self.events:
                    if (
                        seen_at >= after
                        and event.name == name
                        and (predicate is None or predicate(event))
                    ):
                        return event
                if deadline.expired:
                    raise TimeoutExpired(self._explain(f"event {name!r}", timeout))
                self._cond.wait(deadline.remaining)

    def _explain(self, what: str, timeout: float) -> str:
        tail = "\n".join(f"  {line.text}" for line in self.lines[-10:]) or "  (nothing received)"
        where = f"; full log: {self.log_path}" if self.log_path else ""
        return (
            f"timed out after {timeout:.1f} s waiting for {what} on {self.port}{where}; "
            f"last lines:\n{tail}\n"
            "hint: check the baud rate and that the board is running the alertloop sketch"
        )


def main(argv: list[str]) -> int:
    """``alertloop monitor PORT``: print the board's lines with times until Ctrl-C; 2 for bad
    usage, 1 when the port cannot be opened."""
    import sys

    from alertloop.services.common.commands import Command
    from alertloop.services.common.errors import ConfigError
    from alertloop.services.common.settings import Option, integer, positive

    command = Command(
        "alertloop monitor",
        "Show a board's serial console, each line with the time it arrived.",
        [
            Option("port", "serial device (e.g. /dev/ttyUSB0) or pyserial URL", positional=True,
                   metavar="PORT"),
            Option("--baud", "baud rate (the ESP32 sketch: 115200, NodeMCU: 9600)",
                   type=integer, default=115200, check=positive),
            Option("--log", "also append the lines to this file", type=Path),
        ],
    )  # fmt: skip
    try:
        args = command.parse(argv)
    except ConfigError as exc:
        print(f"{command.prog}: {exc}", file=sys.stderr)
        return 2

    def show(text: str) -> None:
        print(f"{time.strftime('%H:%M:%S')} {text}", flush=True)

    try:
        monitor = SerialMonitor(args.port, args.baud, log_path=args.log, echo=show).start()
    except SerialMonitorError as exc:
        print(f"{command.prog}: {exc}", file=sys.stderr, flush=True)
        return 1
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        monitor.stop()
    return 0
