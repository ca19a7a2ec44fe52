"""``pytest --alertloop-hil-bench FILE --alertloop-flash`` on a stand-in ROM loader (``esp_rom_fake``): the
session flashes the bench board once before the tests, through esptool and its stub, waits
for the flashed sketch's first ``#AL`` line, and names what it did; a board that does not
answer fails the tests with the BOOT-button hint instead of running them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytest.importorskip("esptool", reason="esptool not installed (pip install 'alertloop[hil]')")

from esp_rom_fake import FakeRomLoader  # noqa: E402

pytest_plugins = ["pytester"]


def project(root: Path) -> bytes:
    out = root / "firmware" / ".pio" / "build" / "esp32"
    out.mkdir(parents=True)
    app = b"\xe9\x06\x02\x20" + b"#AL published value=%d\n" * 2000
    (out / "bootloader.bin").write_bytes(b"\xe9\x03\x02\x20" + bytes(4000))
    (out / "partitions.bin").write_bytes(b"\xaa\x50" + bytes(3070))
    (out / "firmware.bin").write_bytes(app)
    return app


def bench(pytester: pytest.Pytester, port: str) -> None:
    pytester.makefile(
        ".yaml",
        bench=f"project_dir: firmware\nboards:\n  - {{name: knob-1, role: esp32, port: {port}}}\n",
    )
    pytester.makepyfile(
        "def test_one(alertloop_bench_boards):\n    pass\n\ndef test_two(alertloop_bench_boards):\n    pass\n"
    )


def test_flash_writes_every_board_once_and_waits_for_its_sketch(
    pytester: pytest.Pytester,
) -> None:
    app = project(pytester.path)
    with FakeRomLoader(run_app=True) as rom:
        bench(pytester, rom.port)
        result = pytester.runpytest("--alertloop-hil-bench", "bench.yaml", "--alertloop-flash")
        assert rom.ops.count(0x06) == 1  # one stub upload (MEM_END): flashed once, not per test
        assert bytes(rom.flash[0x10000 : 0x10000 + len(app)]) == app
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        [
            "alertloop bench: bench.yaml",
            "  knob-1: flashed bootloader.bin@0x1000, partitions.bin@0x8000, "
            f"firmware.bin@0x10000 to the esp32 on {rom.port}, verified and reset in *",
            "  knob-1: started in * s: #AL published value=42 seq=*",
        ]
    )


def test_a_board_that_does_not_answer_fails_the_tests_with_the_hint(
    pytester: pytest.Pytester,
) -> None:
    project(pytester.path)
    with FakeRomLoader(answer=False) as rom:
        bench(pytester, rom.port)
        result = pytester.runpytest("--alertloop-hil-bench", "bench.yaml", "--alertloop-flash")
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(
        ["*--alertloop-flash: knob-1: no answer from the board on * hold the BOOT*"]
    )
    assert os.path.basename(rom.port) in result.stdout.str()
