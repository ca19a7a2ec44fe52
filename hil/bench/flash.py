"""Write a board's firmware through esptool (the library), verify it, and restart the board.

The images are those PlatformIO builds in ``<project>/.pio/build/<env>/``: for the ESP32 the
bootloader at 0x1000, the partition table at 0x8000, ``boot_app0.bin`` at 0xe000 when found
(in the build or in PlatformIO's Arduino-ESP32 package) and the app at 0x10000; for the
ESP8266 one image at 0x0. A bench board may name its own image files instead.

esptool verifies each region it writes (the chip's MD5 of the flash against the file's);
``flash_board`` then resets the board through RTS. Every failure is a ``FlashError`` whose
message is one line saying what to do: no such port, port busy or not permitted, no image,
wrong chip, board not answering (with the BOOT-button sequence), verification failed.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import serial

from alertloop.hil.bench.model import BoardSpec, ImageSpec
from alertloop.services.common.errors import AlertloopError

__all__ = [
    "BuildFailed",
    "FlashError",
    "FlashReport",
    "NoImage",
    "NotAnswering",
    "PlatformIOMissing",
    "PortBusy",
    "NoSuchPort",
    "VerifyFailed",
    "WrongChip",
    "build",
    "check_port",
    "flash_board",
    "images_for",
]

ROM_BAUD = 115200
# (file in the build directory, offset, required)
LAYOUTS: dict[str, tuple[tuple[str, int, bool], ...]] = {
    "esp32": (
        ("bootloader.bin", 0x1000, True),
        ("partitions.bin", 0x8000, True),
        ("boot_app0.bin", 0xE000, False),
        ("firmware.bin", 0x10000, True),
    ),
    "esp8266": (("firmware.bin", 0x0, True),),
}
BOOT_HINT = (
    "hold the BOOT (IO0/FLASH) button, press and release EN/RST, release BOOT, and retry; "
    "check that the cable carries data"
)
PIO_INSTALL_HINT = (
    "install PlatformIO Core: 'pip install platformio' (or see "
    "https://docs.platformio.org/en/latest/core/installation/), then retry with --build"
)


class FlashError(AlertloopError):
    """Flashing could not be done; the message is one line that says why and what to do."""


class NoSuchPort(FlashError):
    pass


class PortBusy(FlashError):
    pass


class NoImage(FlashError):
    pass


class WrongChip(FlashError):
    pass


class NotAnswering(FlashError):
    pass


class VerifyFailed(FlashError):
    pass


class PlatformIOMissing(FlashError):
    pass


class BuildFailed(FlashError):
    pass


@dataclass(frozen=True)
class FlashReport:
    """What was written where, to which chip, and how long it took."""

    board: str
    port: str
    chip: str
    images: tuple[ImageSpec, ...]
    seconds: float

    def summary(self) -> str:
        parts = ", ".join(f"{image.path.name}@{image.offset:#x}" for image in self.images)
        return (
            f"{self.board}: flashed {parts} to the {self.chip} on {self.port}, verified and "
            f"reset in {self.seconds:.1f} s"
        )


# -- images --------------------------------------------------------------------------------
def images_for(board: BoardSpec) -> list[ImageSpec]:
    """The files to write and their offsets. Raises NoImage when one is missing."""
    if board.images:
        for image in board.images:
            if not image.path.is_file():
                raise NoImage(f"{board.name}: image {image.path} does not exist")
        return list(board.images)
    images = []
    for name, offset, required in LAYOUTS[board.chip]:
        path = board.build_dir / name
        if not path.is_file() and name == "boot_app0.bin":
            path = _boot_app0() or path
        if path.is_file():
            images.append(ImageSpec(offset, path))
        elif required:
            raise NoImage(
                f"{board.name}: no image {path}; build it first: "
                f"'alertloop flash --role {board.role} --build' or "
                f"'pio run -d {board.project_dir} -e {board.env}'"
            )
    return images


def _boot_app0() -> Path | None:
    core = Path(os.environ.get("PLATFORMIO_CORE_DIR", Path.home() / ".platformio"))
    path = core / "packages/framework-arduinoespressif32/tools/partitions/boot_app0.bin"
    return path if path.is_file() else None


# -- build ---------------------------------------------------------------------------------
def build(
    board: BoardSpec,
    *,
    which: Callable[[str], str | None] = shutil.which,
    run: Callable[..., subprocess.CompletedProcess[str]] = subprocess.run,
) -> None:
    """``pio run -d <project> -e <env>``. Raises PlatformIOMissing, BuildFailed."""
    secrets = board.project_dir / "include" / "secrets.h"
    if not secrets.is_file():
        raise BuildFailed(
            f"{secrets} is missing: copy {secrets.with_name('secrets.example.h')} to it and "
            "fill in your WiFi and broker"
        )
    pio = which("pio") or which("platformio")
    if pio is None:
        raise PlatformIOMissing(f"PlatformIO is not installed; {PIO_INSTALL_HINT}")
    done = run(
        [pio, "run", "-d", str(board.project_dir), "-e", board.env],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        tail = " | ".join((done.stdout + done.stderr).strip().splitlines()[-3:])
        raise BuildFailed(f"'pio run -e {board.env}' failed ({done.returncode}): {tail}")


# -- the port ------------------------------------------------------------------------------
def check_port(port: str) -> None:
    """Open and close ``port`` as esptool will (exclusively). Raises NoSuchPort, PortBusy."""
    if port.startswith("/") and not os.path.exists(port):
        raise NoSuchPort(f"no such port {port}: is the board plugged in? ('alertloop boards')")
    try:
        probe = serial.serial_for_url(port, exclusive=True, do_not_open=True)
        probe.open()
        probe.close()
    except (serial.SerialException, OSError) as exc:
        raise _port_error(port, exc) from None


def _port_error(port: str, exc: BaseException) -> FlashError:
    text = str(exc)
    code = getattr(exc, "errno", None)
    if code == errno.ENOENT or "No such file" in text or "FileNotFoundError" in text:
        return NoSuchPort(f"no such port {port}: is the board plugged in? ('alertloop boards')")
    if code == errno.EACCES or "Permission denied" in text:
        return PortBusy(
            f"no permission to open {port}: add yourself to its group "
            "(sudo usermod -aG dialout $USER, then log in again)"
        )
    return PortBusy(
        f"port {port} is busy ({text.splitlines()[0] if text else exc!r}): close the serial "
        "monitor or other program that holds it"
    )


# -- flashing ------------------------------------------------------------------------------
def flash_board(
    board: BoardSpec,
    *,
    stub: bool = True,
    before: str = "default-reset",
    after: str = "hard-reset",
    attempts: int = 7,  # esptool's own default number of connection attempts
    quiet: bool = False,
) -> FlashReport:
    """Write ``images_for(board)`` to the board on ``board.port``, verify, reset.

    Raises a FlashError subclass with a one-line message; nothing is written when the
    images, the port or the chip are wrong."""
    if board.port is None:
        raise NoSuchPort(f"{board.name}: no port (give one, or a USB match that finds it)")
    images = images_for(board)
    check_port(board.port)
    try:
        from esptool.cmds import attach_flash, detect_chip, reset_chip, run_stub, write_flash
        from esptool.util import FatalError
    except ImportError:
        raise FlashError(
            "esptool is not installed: pip install 'alertloop[hil]' (or pip install esptool)"
        ) from None
    started = time.monotonic()
    try:
        with _maybe_quiet(quiet):
            esp = detect_chip(
                board.port, baud=ROM_BAUD, connect_mode=before, connect_attempts=attempts
            )
            with esp:
                found = _chip_key(esp.CHIP_NAME)
                if found != board.chip:
                    raise WrongChip(
                        f"{board.name}: the board on {board.port} is an {esp.CHIP_NAME}, the "
                        f"bench says {board.chip}; fix the bench file or the port"
                    )
                if stub:
                    esp = run_stub(esp)
                if board.flash_baud != ROM_BAUD and (stub or board.chip == "esp32"):
                    esp.change_baud(board.flash_baud)
                attach_flash(esp)
                write_flash(esp, _addr_data(images), no_progress=quiet)
                reset_chip(esp, after)
    except FatalError as exc:
        raise _esptool_error(board, exc) from None
    except (serial.SerialException, OSError) as exc:
        raise _port_error(board.port, exc) from None
    return FlashReport(
        board.name, board.port, board.chip, tuple(images), time.monotonic() - started
    )


def _addr_data(images: Sequence[ImageSpec]) -> list[tuple[int, Any]]:
    return [(image.offset, str(image.path)) for image in images]


def _chip_key(name: str) -> str:
    return name.lower().replace("-", "")


def _esptool_error(board: BoardSpec, exc: BaseException) -> FlashError:
    text = str(exc).strip()
    first = text.splitlines()[0] if text else repr(exc)
    port = board.port or "?"
    if "Could not open" in text:
        return _port_error(port, exc)
    if any(
        sign in text
        for sign in ("Failed to connect", "No serial data", "Wrong boot mode", "Invalid head")
    ):
        return NotAnswering(f"{board.name}: no answer from the board on {port}: {BOOT_HINT}")
    if "MD5" in text or "Write failed" in text:
        return VerifyFailed(
            f"{board.name}: verification failed on {port} ({first}); retry, and try a "
            "lower flash_baud in the bench file"
        )
    return FlashError(f"{board.name}: esptool on {port}: {first}")


@contextlib.contextmanager
def _maybe_quiet(quiet: bool) -> Iterator[None]:
    """esptool reports on stdout; keep it out of the way when asked."""
    if not quiet:
        yield
        return
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        yield
