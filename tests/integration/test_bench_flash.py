"""Flashing through the esptool library into a stand-in for the chip's ROM loader on a pty
(``esp_rom_fake``): esptool syncs, tells the chip apart, writes the images PlatformIO lays
out, verifies them by the chip's MD5, and the flash holds the files afterwards. Errors come
before anything is written when the port, image or chip is wrong.

Both ways esptool talks to a chip run: the ROM loader alone (``stub=False``) and the
default, where esptool uploads its flasher stub to RAM and then talks to it. What this does
not cover: the stub's own code (the fake plays its commands), a real flash chip's timing,
and the DTR/RTS lines of a real bridge (a pty has none; esptool warns and goes on). See
docs/hil.md.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import serial

pytest.importorskip("esptool", reason="esptool not installed (pip install 'alertloop[hil]')")

from esp_rom_fake import (  # noqa: E402
    CHANGE_BAUDRATE,
    DEFL_BEGIN,
    FLASH_BEGIN,
    MEM_END,
    SPI_FLASH_MD5,
    FakeRomLoader,
)

from alertloop.hil.bench import cli  # noqa: E402
from alertloop.hil.bench.flash import (  # noqa: E402
    NoImage,
    NoSuchPort,
    NotAnswering,
    PortBusy,
    VerifyFailed,
    WrongChip,
    flash_board,
)
from alertloop.hil.bench.model import BoardSpec, parse_bench  # noqa: E402


def esp32_build(project: Path, app_size: int = 40_000) -> dict[str, bytes]:
    """A PlatformIO build directory of the esp32 environment with made-up images."""
    out = project / ".pio" / "build" / "esp32"
    out.mkdir(parents=True)
    files = {
        "bootloader.bin": b"\xe9\x03\x02\x20" + os.urandom(2000) * 3,  # compresses, as real ones do
        "partitions.bin": os.urandom(1024) * 3,
        "boot_app0.bin": b"\xff" * 4096,
        "firmware.bin": b"\xe9\x06\x02\x20" + b"#AL published value=%d\n" * (app_size // 24),
    }
    for name, data in files.items():
        (out / name).write_bytes(data)
    return files


def board(project: Path, port: str, **fields: object) -> BoardSpec:
    spec = {"name": "knob-1", "role": "esp32", "port": port, **fields}
    bench = parse_bench({"project_dir": str(project), "boards": [spec]})
    return bench.boards[0]


@pytest.fixture
def rom() -> Iterator[FakeRomLoader]:
    with FakeRomLoader() as loader:
        yield loader


def test_esp32_images_are_written_at_their_offsets_and_verified(
    rom: FakeRomLoader, tmp_path: Path
) -> None:
    files = esp32_build(tmp_path)
    report = flash_board(board(tmp_path, rom.port), stub=False, quiet=True)
    offsets = {"bootloader.bin": 0x1000, "partitions.bin": 0x8000, "boot_app0.bin": 0xE000}
    offsets["firmware.bin"] = 0x10000
    for name, offset in offsets.items():
        assert bytes(rom.flash[offset : offset + len(files[name])]) == files[name], name
    assert [(i.offset, i.path.name) for i in report.images] == sorted(
        (o, n) for n, o in offsets.items()
    )
    assert rom.ops.count(SPI_FLASH_MD5) >= 4  # esptool asked the chip for each region's digest
    assert report.chip == "esp32" and "verified and reset" in report.summary()


def test_through_the_flasher_stub_as_on_a_real_board(rom: FakeRomLoader, tmp_path: Path) -> None:
    files = esp32_build(tmp_path)
    flash_board(board(tmp_path, rom.port), quiet=True)
    assert rom.stub and MEM_END in rom.ops and rom.ram_bytes > 1000  # the stub went to RAM
    assert CHANGE_BAUDRATE in rom.ops  # flash_baud 460800 by default
    assert DEFL_BEGIN in rom.ops  # the stub takes compressed data
    app = files["firmware.bin"]
    assert bytes(rom.flash[0x10000 : 0x10000 + len(app)]) == app
    assert rom.ops.count(SPI_FLASH_MD5) >= 4


def test_compressed_writes_reach_the_flash_too(rom: FakeRomLoader, tmp_path: Path) -> None:
    from esptool.cmds import attach_flash, detect_chip, write_flash

    data = b"#AL led state=red red=1 green=0\n" * 3000
    with detect_chip(rom.port, connect_mode="no-reset", connect_attempts=1) as esp:
        attach_flash(esp)
        write_flash(esp, [(0x10000, data)], compress=True, no_progress=True)
    assert DEFL_BEGIN in rom.ops
    assert bytes(rom.flash[0x10000 : 0x10000 + len(data)]) == data


def test_a_wrong_digest_fails_verification(tmp_path: Path) -> None:
    esp32_build(tmp_path)
    with (
        FakeRomLoader(corrupt_md5=True) as rom,
        pytest.raises(VerifyFailed, match="knob-1: verification failed on /dev/"),
    ):
        flash_board(board(tmp_path, rom.port), stub=False, quiet=True)


def test_the_wrong_chip_is_refused_before_writing(tmp_path: Path) -> None:
    esp32_build(tmp_path)
    with FakeRomLoader(chip="esp8266") as rom:
        with pytest.raises(WrongChip, match="is an ESP8266, the bench says esp32"):
            flash_board(board(tmp_path, rom.port), stub=False, quiet=True)
        assert FLASH_BEGIN not in rom.ops and DEFL_BEGIN not in rom.ops
        assert rom.flash.count(0xFF) == len(rom.flash)


def test_esp8266_gets_one_image_at_zero(tmp_path: Path) -> None:
    out = tmp_path / ".pio" / "build" / "nodemcu"
    out.mkdir(parents=True)
    image = b"\xe9\x01\x00\x00" + os.urandom(20_000)
    (out / "firmware.bin").write_bytes(image)
    with FakeRomLoader(chip="esp8266") as rom:
        spec = board(tmp_path, rom.port, name="leds-1", role="nodemcu")
        report = flash_board(spec, stub=False, quiet=True)
        # esptool sets the flash mode/size bytes of the header; the rest is the file
        assert bytes(rom.flash[4 : len(image)]) == image[4:]
    assert [(i.offset, i.path.name) for i in report.images] == [(0, "firmware.bin")]


def test_a_silent_board_gets_the_boot_button_hint(tmp_path: Path) -> None:
    esp32_build(tmp_path)
    with (
        FakeRomLoader(answer=False) as rom,
        pytest.raises(NotAnswering, match="no answer from the board .* hold the BOOT"),
    ):
        flash_board(board(tmp_path, rom.port), stub=False, attempts=1, quiet=True)


def test_no_such_port(tmp_path: Path) -> None:
    esp32_build(tmp_path)
    with pytest.raises(NoSuchPort, match="no such port /dev/ttyNOPE9: is the board plugged in"):
        flash_board(board(tmp_path, "/dev/ttyNOPE9"), stub=False, quiet=True)


def test_a_port_held_by_another_program_is_busy(rom: FakeRomLoader, tmp_path: Path) -> None:
    esp32_build(tmp_path)
    holder = serial.serial_for_url(rom.port, exclusive=True, do_not_open=True)
    holder.open()  # a serial monitor has it
    try:
        with pytest.raises(PortBusy, match=f"port {rom.port} is busy .* close the serial monitor"):
            flash_board(board(tmp_path, rom.port), stub=False, quiet=True)
    finally:
        holder.close()
    assert rom.ops == []


def test_missing_images_are_named_before_the_port_is_touched(
    rom: FakeRomLoader, tmp_path: Path
) -> None:
    with pytest.raises(NoImage, match=r"no image .*bootloader.bin; build it first"):
        flash_board(board(tmp_path, rom.port), stub=False, quiet=True)
    assert rom.ops == []


def test_flash_command_writes_given_images(
    rom: FakeRomLoader, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    app = tmp_path / "app.bin"
    app.write_bytes(b"\xe9" + os.urandom(9000))
    argv = ["--port", rom.port, "--chip", "esp32", "--image", f"0x10000:{app}", "--no-stub"]
    assert cli.flash_main(argv) == 0
    assert bytes(rom.flash[0x10000 : 0x10000 + 9001]) == app.read_bytes()
    assert "flashed app.bin@0x10000 to the esp32 on" in capsys.readouterr().out


def test_flash_command_errors_are_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.flash_main(["--port", "/dev/ttyNOPE9", "--image", f"0x0:{tmp_path}/x"]) == 1
    assert capsys.readouterr().err == (
        f"alertloop flash: /dev/ttyNOPE9: image {tmp_path}/x does not exist\n"
    )
    app = tmp_path / "app.bin"
    app.write_bytes(b"\xe9")
    assert cli.flash_main(["--port", "/dev/ttyNOPE9", "--image", f"0x10000:{app}"]) == 1
    assert capsys.readouterr().err == (
        "alertloop flash: no such port /dev/ttyNOPE9: is the board plugged in? "
        "('alertloop boards')\n"
    )
    assert cli.flash_main(["--role", "esp32", "--hil-bench", str(tmp_path / "none.yaml")]) == 2
    assert "--hil-bench: " in capsys.readouterr().err


def test_flash_command_flashes_every_board_of_a_role(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    files = esp32_build(tmp_path / "fw")
    with FakeRomLoader() as first, FakeRomLoader() as second:
        bench = tmp_path / "bench.yaml"
        bench.write_text(
            "project_dir: fw\nboards:\n"
            f"  - {{name: knob-1, role: esp32, port: {first.port}}}\n"
            f"  - {{name: knob-2, role: esp32, port: {second.port}}}\n"
            "  - {name: leds-1, role: nodemcu, port: /dev/ttyNOPE9}\n"
        )
        monkeypatch.setenv("ALERTLOOP_HIL_BENCH", str(bench))
        assert cli.flash_main(["--role", "esp32"]) == 0
        for rom in (first, second):
            app = files["firmware.bin"]
            assert bytes(rom.flash[0x10000 : 0x10000 + len(app)]) == app
    out = capsys.readouterr().out
    assert "knob-1: flashed" in out and "knob-2: flashed" in out and "leds-1" not in out
