"""The reset line sequence (against a port that records its modem lines, and against
esptool's own hard reset) and what a boot log says when the sketch never starts.

The boot logs are real ones printed by ESP32 boards (tests/data/boot_logs, sources in its
README): a normal start, GPIO0 held low (download mode), no app in flash.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import serial

from alertloop.hil.bench.reset import BootLog, diagnose_boot, hard_reset

LOGS = Path(__file__).resolve().parents[1] / "data" / "boot_logs"
NORMAL_BOOT = (LOGS / "esp32-poweron.txt").read_text().splitlines()
DOWNLOAD_MODE = (LOGS / "esp32-download-mode.txt").read_text().splitlines()
NO_APP = (LOGS / "esp32-no-app.txt").read_text().splitlines()


class LinePort(serial.SerialBase):
    """A pyserial port whose DTR/RTS changes are recorded with their times."""

    def __init__(self) -> None:
        super().__init__()
        self.is_open = True
        self.changes: list[tuple[str, bool, float]] = []

    def _update_dtr_state(self) -> None:
        self.changes.append(("dtr", self._dtr_state, time.monotonic()))

    def _update_rts_state(self) -> None:
        self.changes.append(("rts", self._rts_state, time.monotonic()))

    def levels(self) -> list[tuple[bool, bool]]:
        """(DTR, RTS) after each change: what the board's two transistors see."""
        dtr = rts = True  # pyserial asserts both when it opens a port
        seen = []
        for line, value, _ in self.changes:
            if line == "dtr":
                dtr = value
            else:
                rts = value
            seen.append((dtr, rts))
        return seen


def en_low(dtr: bool, rts: bool) -> bool:
    """The dev-board circuit pulls EN low only with RTS asserted and DTR released."""
    return rts and not dtr


def io0_low(dtr: bool, rts: bool) -> bool:
    return dtr and not rts


def test_reset_pulses_en_without_touching_io0() -> None:
    port = LinePort()
    hard_reset(port, hold=0.05)
    levels = port.levels()
    assert not any(io0_low(*level) for level in levels)  # never into the ROM loader
    resets = [en_low(*level) for level in levels]
    assert True in resets and resets[-1] is False  # held in reset, then released
    start = next(t for (line, v, t), low in zip(port.changes, resets, strict=True) if low)
    end = [t for (line, v, t), low in zip(port.changes, resets, strict=True) if not low][-1]
    assert end - start >= 0.05


def test_reset_makes_the_same_line_changes_as_esptool() -> None:
    serial_reset = pytest.importorskip(
        "esp_pylib.serial_reset", reason="esptool's reset helpers (esp_pylib) not installed"
    )
    ours, theirs = LinePort(), LinePort()
    hard_reset(ours, hold=0.01)
    theirs.dtr = False  # esptool's hard reset follows its bootloader entry, which leaves DTR off
    theirs.changes.clear()
    serial_reset.hard_reset(theirs, hold_delay=0.01)
    assert [c[:2] for c in ours.changes[1:]] == [c[:2] for c in theirs.changes]


def test_a_port_without_modem_lines_raises() -> None:
    class NoLines(LinePort):
        def _update_dtr_state(self) -> None:
            raise OSError(25, "Inappropriate ioctl for device")

    with pytest.raises(OSError):
        hard_reset(NoLines(), hold=0)


def test_boot_log_reads_the_roms_reset_cause_and_mode() -> None:
    log = BootLog(lines=[*NORMAL_BOOT, "#AL mqtt state=connected"])
    assert (log.reset_reason, log.boot_mode) == ("POWERON_RESET", "SPI_FAST_FLASH_BOOT")
    held = BootLog(lines=DOWNLOAD_MODE)
    assert held.boot_mode == "DOWNLOAD_BOOT(UART0/UART1/SDIO_REI_REO_V2)"
    assert BootLog(lines=["hello"]).reset_reason is None


@pytest.mark.parametrize(
    ("lines", "says"),
    [
        ([], "sent nothing"),
        (DOWNLOAD_MODE, "download mode (GPIO0 was low at reset). Release the BOOT button"),
        (NO_APP, "no valid app in flash; flash it"),
        ([*NORMAL_BOOT, "Brownout detector was triggered"], "brown-out"),
        ([*NORMAL_BOOT, "Guru Meditation Error: Core  1 panic'ed"], "crashed"),
        (NORMAL_BOOT + NORMAL_BOOT, "keeps resetting"),
        (["\ufffd\ufffd\x00\x13\ufffd\ufffd\ufffd"], "wrong baud rate"),
        ([*NORMAL_BOOT, "Connecting to my_wifi", "....."], "not the alertloop sketch"),
    ],
)
def test_the_cause_is_read_from_the_boot_log(lines: list[str], says: str) -> None:
    message = diagnose_boot(lines, "/dev/ttyUSB0", 15)
    assert message.startswith("no #AL line from the board on /dev/ttyUSB0 within 15 s")
    assert says in message
    assert "\n" not in message
