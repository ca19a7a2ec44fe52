"""The bench file: what it may say, the defaults of each role, and the errors it gets."""

from __future__ import annotations

from pathlib import Path

import pytest

from alertloop.hil.bench.model import BenchError, UsbMatch, load_bench, parse_bench

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "bench.yaml"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "bench.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_roles_give_chip_baud_and_environment(tmp_path: Path) -> None:
    bench = load_bench(
        write(
            tmp_path,
            """
boards:
  - {name: knob, role: esp32, port: /dev/ttyUSB0}
  - {name: leds, role: nodemcu, match: {vid_pid: "1a86:7523"}}
""",
        )
    )
    knob, leds = bench.boards
    assert (knob.chip, knob.baud, knob.env, knob.port) == ("esp32", 115200, "esp32", "/dev/ttyUSB0")
    assert (leds.chip, leds.baud, leds.env, leds.port) == ("esp8266", 9600, "nodemcu", None)
    assert leds.match == UsbMatch(vid=0x1A86, pid=0x7523)
    assert knob.build_dir == tmp_path / "firmware" / ".pio" / "build" / "esp32"


def test_several_boards_per_role_in_file_order(tmp_path: Path) -> None:
    bench = load_bench(
        write(
            tmp_path,
            """
project_dir: ../fw
boards:
  - {name: a, role: esp32, port: /dev/ttyUSB0}
  - {name: l, role: nodemcu, port: /dev/ttyUSB1}
  - {name: b, role: esp32, match: {serial: "0001", location: "1-1.2"}, baud: 57600}
""",
        )
    )
    assert [b.name for b in bench.role("esp32")] == ["a", "b"]
    assert bench.role("esp32")[1].baud == 57600
    assert bench.project_dir == tmp_path / ".." / "fw"
    with pytest.raises(ValueError, match="unknown role 'knob'"):
        bench.role("knob")


def test_images_sorted_by_offset_and_relative_to_the_file(tmp_path: Path) -> None:
    bench = load_bench(
        write(
            tmp_path,
            """
boards:
  - name: knob
    role: esp32
    port: /dev/ttyUSB0
    images:
      - {offset: 0x10000, file: out/app.bin}
      - {offset: "0x1000", file: out/boot.bin}
""",
        )
    )
    images = bench.boards[0].images
    assert [(i.offset, i.path) for i in images] == [
        (0x1000, tmp_path / "out/boot.bin"),
        (0x10000, tmp_path / "out/app.bin"),
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("boards: []", "non-empty list"),
        ("- 1", "expected a mapping"),
        ("boards: [{role: esp32}]", r"boards\[0\]: needs a port .* or a USB match"),
        ("boards: [{name: x, role: nodmcu, port: /dev/a}]", r"boards\[0\] \(x\): role must be"),
        ("boards: [{role: esp32, port: /dev/a, chip: esp32s3}]", "chip must be one of"),
        ("boards: [{role: esp32, match: {vid_pid: 10c4ea60}}]", "vid_pid must be"),
        ("boards: [{role: esp32, match: {vendor: x}}]", "unknown match key"),
        ("boards: [{role: esp32, port: /dev/a, speed: 9}]", r"unknown key\(s\) speed"),
        ("boards: [{role: esp32, port: /dev/a, baud: fast}]", "baud must be a positive"),
        ("boards: [{role: esp32, port: /dev/a, baud: 0}]", "baud must be a positive"),
        ("boards: [{role: esp32, port: /dev/a, images: [{offset: -1, file: x}]}]", "offset"),
        ("boards: [{role: esp32, port: /dev/a, images: [{file: x}]}]", "offset and file"),
        (
            "boards: [{name: a, role: esp32, port: /dev/a}, {name: a, role: nodemcu, port: /dev/b}]",
            "two boards are named 'a'",
        ),
        (
            "boards: [{name: a, role: esp32, port: /dev/a}, {name: b, role: nodemcu, port: /dev/a}]",
            "a and b both use /dev/a",
        ),
        ("boards: [1]\nextra: 2", r"unknown key\(s\) extra"),
        ("boards: [{role: esp32, port: ''}]", "port must be"),
    ],
)
def test_wrong_files_name_the_board_and_the_field(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(BenchError, match=message) as caught:
        load_bench(path)
    assert str(path) in str(caught.value)


def test_missing_and_unparsable_files(tmp_path: Path) -> None:
    with pytest.raises(BenchError, match="does not exist"):
        load_bench(tmp_path / "none.yaml")
    with pytest.raises(BenchError, match="not valid YAML"):
        load_bench(write(tmp_path, "boards: [unclosed"))


def test_parse_without_a_file_says_bench() -> None:
    with pytest.raises(BenchError, match="^bench: expected a mapping"):
        parse_bench(None)


def test_the_example_bench_file_is_valid() -> None:
    bench = load_bench(EXAMPLE)
    assert {b.role for b in bench.boards} == {"esp32", "nodemcu"}
    assert bench.project_dir.resolve() == (EXAMPLE.parents[1] / "firmware").resolve()
