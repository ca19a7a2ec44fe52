"""Reset and boot capture through a real pyserial port on a pty, with a board on the other
end that prints a real ESP32 boot log each time its EN line is pulsed.

The port is pyserial's ``serial.Serial`` on the pty; only its modem-line calls (a pty has
no DTR/RTS) go to the board instead of ``ioctl``. The boot logs are the ones of
tests/data/boot_logs (a normal start, and one held in download mode).
"""

from __future__ import annotations

import os
import pty
import threading
import tty
from collections.abc import Iterator
from pathlib import Path

import pytest
import serial

from alertloop.hil.bench.reset import BootFailed, reset_and_capture, reset_monitored
from alertloop.hil.serial_monitor import SerialMonitor, SerialMonitorError

LOGS = Path(__file__).resolve().parents[1] / "data" / "boot_logs"
NORMAL_BOOT = (LOGS / "esp32-poweron.txt").read_text().splitlines()
DOWNLOAD_MODE = (LOGS / "esp32-download-mode.txt").read_text().splitlines()
SKETCH = [
    "",
    "Connecting to my_wifi",
    "..",
    "WiFi connected.IP address: 192.168.1.50",
    "Attempting MQTT connection...connected",
    "#AL mqtt state=connected",
    "#AL published value=42 seq=1",
]


class PtyBoard:
    """The board's side of the pty: on each reset it prints ``lines`` (CRLF, as the ROM)."""

    def __init__(self, lines: list[str]) -> None:
        self.master, self.slave = pty.openpty()
        tty.setraw(self.slave)
        self.path = os.ttyname(self.slave)
        self.lines = lines
        self.resets = 0
        self._printers: list[threading.Thread] = []

    def print(self, lines: list[str]) -> None:
        os.write(self.master, "".join(f"{line}\r\n" for line in lines).encode())

    def reset(self) -> None:
        self.resets += 1
        printer = threading.Thread(target=self.print, args=(self.lines,), daemon=True)
        self._printers.append(printer)
        printer.start()

    def close(self) -> None:
        # no printer may outlive the descriptors: a later pty can reuse their numbers
        for printer in self._printers:
            printer.join(5)
        os.close(self.master)
        os.close(self.slave)


class WiredPort(serial.Serial):
    """pyserial's port on the pty, its DTR/RTS wired to the board's EN as on a dev board."""

    def __init__(self, board: PtyBoard) -> None:
        self.board = board
        self.in_reset = False
        super().__init__(board.path, 115200, timeout=0.05)

    def _update_dtr_state(self) -> None:
        self._lines_changed()

    def _update_rts_state(self) -> None:
        self._lines_changed()

    def _lines_changed(self) -> None:
        en_low = self._rts_state and not self._dtr_state
        if self.in_reset and not en_low:
            self.board.reset()  # EN released: the chip starts
        self.in_reset = en_low


@pytest.fixture
def board_factory() -> Iterator[type]:
    made: list[tuple[PtyBoard, WiredPort]] = []

    def make(lines: list[str]) -> tuple[PtyBoard, WiredPort]:
        board = PtyBoard(lines)
        port = WiredPort(board)
        made.append((board, port))
        return board, port

    yield make  # type: ignore[misc]
    for board, port in made:
        port.close()
        board.close()


def test_reset_restarts_the_board_and_keeps_its_boot_log(board_factory) -> None:
    board, port = board_factory([*NORMAL_BOOT, *SKETCH])
    board.print(["#AL published value=7 seq=99"])  # from before the reset: dropped
    log = reset_and_capture(port, timeout=5)
    assert board.resets == 1
    assert log.ready == "#AL mqtt state=connected"
    assert (log.reset_reason, log.boot_mode) == ("POWERON_RESET", "SPI_FAST_FLASH_BOOT")
    assert log.lines[: len(NORMAL_BOOT)] == NORMAL_BOOT
    assert "seq=99" not in log.text()
    assert 0 < log.seconds < 5


def test_a_board_held_in_download_mode_is_named(board_factory) -> None:
    board, port = board_factory(DOWNLOAD_MODE)
    with pytest.raises(BootFailed, match="download mode .* Release the BOOT button") as caught:
        reset_and_capture(port, timeout=1.0)
    assert board.resets == 1
    assert caught.value.log.lines == DOWNLOAD_MODE
    assert caught.value.log.boot_mode.startswith("DOWNLOAD_BOOT")


def test_a_board_that_stays_silent_is_named(board_factory) -> None:
    _, port = board_factory([])
    with pytest.raises(BootFailed, match="sent nothing"):
        reset_and_capture(port, timeout=0.5)


def test_reset_through_a_running_serial_monitor_keeps_the_boot_log(tmp_path: Path) -> None:
    """What the serial backend does on a flashed board: the monitor keeps reading while the
    board restarts, and the boot log is both returned and in the monitor's log file."""
    board = PtyBoard([*NORMAL_BOOT, *SKETCH])
    log_path = tmp_path / "esp32.log"
    try:
        with SerialMonitor(board.path, 115200, log_path=log_path) as monitor:
            monitor.send("#AL status")  # the monitor is up before the reset
            log = reset_monitored(monitor, timeout=5, reset=board.reset)
        assert log.ready == "#AL mqtt state=connected"
        assert log.boot_mode == "SPI_FAST_FLASH_BOOT" and log.lines[-1] == log.ready
        assert "rst:0x1 (POWERON_RESET),boot:0x17 (SPI_FAST_FLASH_BOOT)" in log_path.read_text()
    finally:
        board.close()


def test_a_monitored_board_stuck_in_download_mode_is_named() -> None:
    board = PtyBoard(DOWNLOAD_MODE)
    try:
        with (
            SerialMonitor(board.path, 115200) as monitor,
            pytest.raises(BootFailed, match="download mode") as caught,
        ):
            reset_monitored(monitor, timeout=1.0, reset=board.reset)
        assert "waiting for download" in caught.value.log.lines
    finally:
        board.close()


def test_a_port_without_modem_lines_says_so() -> None:
    board = PtyBoard([])
    try:
        with (
            SerialMonitor(board.path, 115200) as monitor,
            pytest.raises(SerialMonitorError, match="cannot reset the board on /dev/"),
        ):
            reset_monitored(monitor, timeout=0.5)  # the monitor's own DTR/RTS reset on a pty
    finally:
        board.close()
