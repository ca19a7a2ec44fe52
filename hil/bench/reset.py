"""Reset a board through its USB-serial bridge and keep what it prints while it boots.

ESP32 and NodeMCU dev boards wire the bridge's RTS to the chip's EN (reset) and DTR to GPIO0
(boot mode) through two transistors, so a board restarts into its sketch when RTS is asserted
with DTR released. ``hard_reset`` makes the same line changes as esptool's hard reset
(``esp_pylib.serial_reset.hard_reset``): DTR released, RTS asserted for ``hold`` seconds,
released, with DTR written again after each RTS change (some Windows drivers only pass on a
change of both). It works on any pyserial port object.

``capture_boot`` reads the port until the sketch's first machine line (``#AL ...``) and keeps
every line before it. When none comes it says why, from what the boot log shows: nothing at
all, the ROM waiting in download mode (GPIO0 held low), no app in flash, a crash or a
brown-out.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from alertloop.services.common.deadline import Deadline
from alertloop.services.common.errors import AlertloopError

__all__ = [
    "BootFailed",
    "BootLog",
    "capture_boot",
    "reset_monitored",
    "diagnose_boot",
    "hard_reset",
    "reset_and_capture",
]

READY = r"^#AL "
RESET_HOLD = 0.1  # esptool holds EN low this long for a UART bridge
_RST = re.compile(r"rst:(0x[0-9a-fA-F]+) \(([A-Z0-9_]+)\),boot:(0x[0-9a-fA-F]+) \(([^)]*\)?)\)")


class BootFailed(AlertloopError):
    """The board did not reach its sketch's first ``#AL`` line; the message says why."""

    def __init__(self, message: str, log: BootLog) -> None:
        super().__init__(message)
        self.log = log


@dataclass
class BootLog:
    """The lines a board printed from reset to its first ``#AL`` line (``ready``)."""

    lines: list[str] = field(default_factory=list)
    ready: str | None = None
    seconds: float = 0.0

    @property
    def reset_reason(self) -> str | None:
        """The ESP32 ROM's reset cause, e.g. ``POWERON_RESET``."""
        found = _first_rst(self.lines)
        return found.group(2) if found else None

    @property
    def boot_mode(self) -> str | None:
        """The ESP32 ROM's boot mode, e.g. ``SPI_FAST_FLASH_BOOT`` or ``DOWNLOAD_BOOT(...)``."""
        found = _first_rst(self.lines)
        return found.group(4) if found else None

    def text(self) -> str:
        return "\n".join(self.lines)


def _first_rst(lines: Sequence[str]) -> re.Match[str] | None:
    for line in lines:
        found = _RST.search(line)
        if found:
            return found
    return None


def hard_reset(port: Any, hold: float = RESET_HOLD) -> None:
    """Restart the board on ``port`` (an open pyserial port) into its sketch.

    Raises OSError/serial.SerialException when the port has no modem lines to set."""
    port.dtr = False  # GPIO0 high: boot from flash, not the ROM loader
    port.rts = True  # EN low: hold the chip in reset
    port.dtr = port.dtr
    threading.Event().wait(hold)  # the width of the reset pulse, not a wait for an event
    port.rts = False  # EN high: the chip starts
    port.dtr = port.dtr


def capture_boot(port: Any, timeout: float = 15.0, ready: str = READY) -> BootLog:
    """Read lines from ``port`` until one matches ``ready`` (the sketch's first ``#AL`` line).

    Raises BootFailed, with the lines seen and the likely cause, after ``timeout`` s."""
    pattern = re.compile(ready)
    deadline = Deadline(timeout)
    log = BootLog()
    partial = b""
    while not deadline.expired:
        chunk = port.read(max(1, getattr(port, "in_waiting", 0) or 1))
        if not chunk:
            continue
        partial += chunk
        *complete, partial = re.split(rb"\r?\n", partial)
        for raw in complete:
            text = raw.decode("utf-8", errors="replace").rstrip("\r")
            log.lines.append(text)
            if pattern.search(text):
                log.ready = text
                log.seconds = timeout - deadline.remaining
                return log
    if partial:
        log.lines.append(partial.decode("utf-8", errors="replace"))
    log.seconds = timeout
    name = getattr(port, "port", None) or getattr(port, "name", "the port")
    raise BootFailed(diagnose_boot(log.lines, str(name), timeout), log)


def reset_and_capture(port: Any, timeout: float = 15.0, ready: str = READY) -> BootLog:
    """``hard_reset`` then ``capture_boot``; what was waiting on the port before is dropped."""
    port.reset_input_buffer()
    hard_reset(port)
    return capture_boot(port, timeout, ready)


def diagnose_boot(lines: Sequence[str], port: str, timeout: float) -> str:
    """One line saying why a board on ``port`` printed ``lines`` but no ``#AL`` line."""
    text = "\n".join(lines)
    head = f"no #AL line from the board on {port} within {timeout:.0f} s after reset"
    if not text.strip():
        return (
            f"{head}: it sent nothing. Check the cable (a charge-only cable has no data "
            "lines), the port, and that the board is powered"
        )
    if "waiting for download" in text or "DOWNLOAD_BOOT" in text or "DOWNLOAD(" in text:
        return (
            f"{head}: it is waiting in the ROM download mode (GPIO0 was low at reset). "
            "Release the BOOT button, make sure nothing pulls GPIO0 low, and reset it"
        )
    if "Brownout detector was triggered" in text:
        return f"{head}: brown-out reset; power it from a better USB port or cable"
    if "invalid header" in text or "flash read err" in text:
        return (
            f"{head}: the ROM finds no valid app in flash; flash it "
            "(alertloop flash --role esp32, or --port PORT --chip esp32)"
        )
    if "Guru Meditation Error" in text or "Backtrace:" in text or "Exception (" in text:
        return f"{head}: the sketch crashed while starting; see the boot log"
    if len(_RST.findall(text)) > 1 or text.count("ets Jan  8 2013") > 1:
        return f"{head}: it keeps resetting (watchdog or power); see the boot log"
    printable = sum(ch.isprintable() or ch.isspace() for ch in text) / max(1, len(text))
    if printable < 0.8:
        return (
            f"{head}: only unreadable bytes; wrong baud rate? (the ESP32 sketch uses "
            "115200, the NodeMCU sketch 9600; the ESP8266 ROM prints at 74880)"
        )
    return (
        f"{head}: it runs something that is not the alertloop sketch, or a sketch that "
        f"does not get to its first #AL line (WiFi or broker unreachable?); last line: "
        f"{lines[-1]!r}"
    )


def reset_monitored(
    monitor: Any,
    timeout: float = 15.0,
    ready: str = READY,
    reset: Callable[[], None] | None = None,
) -> BootLog:
    """Reset the board behind a running ``SerialMonitor`` (its ``reset_board()``, or
    ``reset``) and wait, on the monitor's own lines, for the sketch's first ``#AL`` line.

    The monitor keeps reading throughout, so the boot log stays in its lines and its log
    file too. Raises BootFailed, saying why from the boot log, after ``timeout``."""
    from alertloop.services.common.errors import TimeoutExpired

    mark = monitor.mark()
    started = Deadline(timeout)
    (reset or monitor.reset_board)()
    try:
        found = monitor.expect(ready, timeout=timeout, after=mark)
    except TimeoutExpired:
        lines = [line.text for line in monitor.lines[mark:]]
        log = BootLog(lines=lines, seconds=timeout)
        raise BootFailed(diagnose_boot(lines, str(monitor.port), timeout), log) from None
    lines = [line.text for line in monitor.lines[mark:]]
    end = next(i for i, text in enumerate(lines) if text == found.string) + 1
    return BootLog(lines=lines[:end], ready=found.string, seconds=timeout - started.remaining)
