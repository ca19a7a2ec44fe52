"""Which image files go where, and the PlatformIO build step (with a stand-in runner)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from alertloop.hil.bench.flash import BuildFailed, NoImage, PlatformIOMissing, build, images_for
from alertloop.hil.bench.model import BoardSpec, parse_bench


def spec(project: Path, **fields: object) -> BoardSpec:
    board = {"name": "knob-1", "role": "esp32", "port": "/dev/ttyUSB0", **fields}
    return parse_bench({"project_dir": str(project), "boards": [board]}).boards[0]


def touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\xe9")
    return path


def test_esp32_layout_from_the_build_directory(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("PLATFORMIO_CORE_DIR", str(tmp_path / "nowhere"))
    out = tmp_path / ".pio/build/esp32"
    for name in ("bootloader.bin", "partitions.bin", "firmware.bin"):
        touch(out / name)
    images = images_for(spec(tmp_path))
    assert [(i.offset, i.path.name) for i in images] == [
        (0x1000, "bootloader.bin"),
        (0x8000, "partitions.bin"),
        (0x10000, "firmware.bin"),
    ]


def test_boot_app0_comes_from_platformios_arduino_package(tmp_path: Path, monkeypatch) -> None:
    core = tmp_path / "core"
    boot_app0 = touch(core / "packages/framework-arduinoespressif32/tools/partitions/boot_app0.bin")
    monkeypatch.setenv("PLATFORMIO_CORE_DIR", str(core))
    for name in ("bootloader.bin", "partitions.bin", "firmware.bin"):
        touch(tmp_path / ".pio/build/esp32" / name)
    images = {i.offset: i.path for i in images_for(spec(tmp_path))}
    assert images[0xE000] == boot_app0


def test_esp8266_has_one_image_at_zero(tmp_path: Path) -> None:
    touch(tmp_path / ".pio/build/nodemcu_seed/firmware.bin")
    board = spec(tmp_path, role="nodemcu", env="nodemcu_seed")
    assert [(i.offset, i.path.name) for i in images_for(board)] == [(0, "firmware.bin")]


def test_a_missing_image_says_how_to_build_it(tmp_path: Path) -> None:
    touch(tmp_path / ".pio/build/esp32/bootloader.bin")
    with pytest.raises(NoImage, match="partitions.bin; build it first: 'alertloop flash --role"):
        images_for(spec(tmp_path))


def test_named_images_must_exist(tmp_path: Path) -> None:
    board = spec(tmp_path, images=[{"offset": 0, "file": "gone.bin"}])
    with pytest.raises(NoImage, match="gone.bin does not exist"):
        images_for(board)


def test_build_needs_secrets(tmp_path: Path) -> None:
    with pytest.raises(BuildFailed, match=r"secrets.h is missing: copy .*secrets.example.h"):
        build(spec(tmp_path), which=lambda name: "/usr/bin/pio")


def test_build_without_platformio_says_how_to_install_it(tmp_path: Path) -> None:
    touch(tmp_path / "include/secrets.h")
    with pytest.raises(PlatformIOMissing, match="pip install platformio"):
        build(spec(tmp_path), which=lambda name: None)


def test_build_runs_pio_for_the_environment(tmp_path: Path) -> None:
    touch(tmp_path / "include/secrets.h")
    calls: list[list[str]] = []

    def run(args: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
        calls.append(args)
        return subprocess.CompletedProcess(args, 0, "", "")

    build(spec(tmp_path, env="esp32"), which=lambda n: f"/opt/{n}", run=run)
    assert calls == [["/opt/pio", "run", "-d", str(tmp_path), "-e", "esp32"]]


def test_a_failed_build_shows_its_last_lines(tmp_path: Path) -> None:
    touch(tmp_path / "include/secrets.h")

    def run(args: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
        out = "Compiling...\nesp32_knob.ino:3: error: 'WiFi' was not declared\n*** [x] Error 1\n"
        return subprocess.CompletedProcess(args, 1, out, "")

    with pytest.raises(BuildFailed, match=r"failed \(1\): .*not declared \| \*\*\* \[x\] Error 1"):
        build(spec(tmp_path), which=lambda n: "/opt/pio", run=run)
