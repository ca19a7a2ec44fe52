"""Discovery against ports as pyserial lists them on real machines.

Each recorded port is built with pyserial's own ``ListPortInfo`` (so ``hwid`` is what
``usb_info()`` makes of the fields), from what was printed on real machines:

- CH340 on Linux: pyserial/pyserial#699 (``/dev/ttyUSB0``, ``USB2.0-Serial``,
  ``USB VID:PID=1A86:7523 LOCATION=1-4``)
- CP2102 on macOS: sigrokproject/libserialport#9 (``/dev/cu.usbserial-0001``, Silicon Labs,
  ``CP2102 USB to UART Bridge Controller``, serial ``0001``, ``10C4:EA60``)
- FTDI on Windows with pyserial 3.0, ids left in the hwid only: pyserial/pyserial#61
  (``COM6``, ``FTDIBUS\\VID_0403+PID_6001+A600ARJHA\\0000``)
- FT231X and a four-port FT4232 on Linux: pyserial/pyserial#141 (``/dev/ttyUSB9..11``,
  ``0403:6015 SER=DN00RHW0 LOCATION=3-1.1``, ``0403:6011 SER=FT97WK0I LOCATION=3-1.2:1.0``)
- ESP32-S3 native USB on Linux: adafruit/circuitpython#7861 (kernel log: ``303a:1001``,
  ``USB JTAG/serial debug unit``, Espressif, serial ``34:85:18:98:63:44``, ``ttyACM0`` on
  ``1-1.2:1.0``); meshtastic/python#641 shows the same id in ``lsusb``
- CH9102: mu-editor/mu#2503 (``lsusb``: ``1a86:55d4``)
"""

from __future__ import annotations

from pathlib import Path

import pytest
from serial.tools.list_ports_common import ListPortInfo

from alertloop.hil.bench import cli
from alertloop.hil.bench.discovery import (
    PortInfo,
    assign_ports,
    boards_for_role,
    boards_matching,
    bridge_name,
    list_ports,
)
from alertloop.hil.bench.model import BenchError, parse_bench


def recorded(device: str, *, hwid: str | None = None, **fields: object) -> PortInfo:
    info = ListPortInfo(device, skip_link_detection=True)
    for name, value in fields.items():
        setattr(info, name, value)
    info.hwid = hwid if hwid is not None else info.usb_info()
    return PortInfo.from_pyserial(info)


CH340_LINUX = recorded(
    "/dev/ttyUSB0", vid=0x1A86, pid=0x7523, location="1-4", description="USB2.0-Serial"
)
CP2102_MAC = recorded(
    "/dev/cu.usbserial-0001",
    vid=0x10C4,
    pid=0xEA60,
    serial_number="0001",
    manufacturer="Silicon Labs",
    product="CP2102 USB to UART Bridge Controller",
    description="CP2102 USB to UART Bridge Controller",
)
FTDI_WINDOWS_OLD = recorded(
    "COM6",
    description="USB Serial Port (COM6)",
    hwid="FTDIBUS\\VID_0403+PID_6001+A600ARJHA\\0000",
)
FT231X = recorded(
    "/dev/ttyUSB9",
    vid=0x0403,
    pid=0x6015,
    serial_number="DN00RHW0",
    location="3-1.1",
    description="VScom USB-COM Plus - Config",
)
FT4232 = [
    recorded(
        f"/dev/ttyUSB{10 + n}",
        vid=0x0403,
        pid=0x6011,
        serial_number="FT97WK0I",
        location=f"3-1.2:1.{n}",
        description="VScom USB-COM Plus",
    )
    for n in range(2)
]
ESP32S3_NATIVE = recorded(
    "/dev/ttyACM0",
    vid=0x303A,
    pid=0x1001,
    serial_number="34:85:18:98:63:44",
    location="1-1.2:1.0",
    manufacturer="Espressif",
    product="USB JTAG/serial debug unit",
    description="USB JTAG/serial debug unit",
)
SERIAL_8250 = recorded("/dev/ttyS0", description="n/a", hwid="n/a")
MACHINE = [CH340_LINUX, CP2102_MAC, FT231X, *FT4232, ESP32S3_NATIVE, SERIAL_8250]


def test_recorded_ports_keep_their_ids() -> None:
    assert CH340_LINUX.hwid == "USB VID:PID=1A86:7523 LOCATION=1-4"
    assert (CH340_LINUX.usb_id, CH340_LINUX.location) == ("1a86:7523", "1-4")
    assert CP2102_MAC.serial_number == "0001"
    assert ESP32S3_NATIVE.location == "1-1.2:1.0"
    assert SERIAL_8250.usb_id == "-"


def test_ids_are_recovered_from_a_windows_ftdi_hwid() -> None:
    assert (FTDI_WINDOWS_OLD.vid, FTDI_WINDOWS_OLD.pid) == (0x0403, 0x6001)
    assert FTDI_WINDOWS_OLD.serial_number == "A600ARJHA"
    assert FTDI_WINDOWS_OLD.bridge == "FTDI FT232R"


@pytest.mark.parametrize(
    ("vid", "pid", "name"),
    [
        (0x10C4, 0xEA60, "CP210x"),
        (0x1A86, 0x7523, "CH340"),
        (0x1A86, 0x55D4, "CH9102"),
        (0x0403, 0x6001, "FTDI"),
        (0x0403, 0x6015, "FT231X"),
        (0x303A, 0x1001, "ESP32-S3"),
    ],
)
def test_known_bridges_are_named(vid: int, pid: int, name: str) -> None:
    assert name in bridge_name(vid, pid)


def test_unknown_products_name_their_vendor_and_unknown_vendors_nothing() -> None:
    assert bridge_name(0x0403, 0x6011) == "FTDI (unknown product 6011)"
    assert bridge_name(0x2341, 0x0043) == ""
    assert bridge_name(None, None) == ""


BENCH = parse_bench(
    {
        "boards": [
            {"name": "knob", "role": "esp32", "match": {"vid_pid": "10c4:ea60"}},
            {"name": "s3", "role": "esp32", "match": {"vid_pid": "303a:1001"}},
            {"name": "leds", "role": "nodemcu", "match": {"vid_pid": "1a86:7523"}},
            {"name": "fixed", "role": "nodemcu", "port": "/dev/ttyUSB9"},
        ]
    }
)


def test_boards_for_role_finds_each_port() -> None:
    esp32 = boards_for_role(BENCH, "esp32", MACHINE)
    assert [(b.name, b.port, b.baud) for b in esp32] == [
        ("knob", "/dev/cu.usbserial-0001", 115200),
        ("s3", "/dev/ttyACM0", 115200),
    ]
    nodemcu = boards_for_role(BENCH, "nodemcu", MACHINE)
    assert [(b.name, b.port, b.baud) for b in nodemcu] == [
        ("leds", "/dev/ttyUSB0", 9600),
        ("fixed", "/dev/ttyUSB9", 9600),
    ]


def test_a_role_without_boards_is_empty() -> None:
    bench = parse_bench({"boards": [{"role": "esp32", "port": "/dev/ttyUSB0"}]})
    assert boards_for_role(bench, "nodemcu", []) == []


def test_a_match_without_a_port_lists_what_was_seen() -> None:
    with pytest.raises(BenchError, match="knob: no serial port matches USB vid_pid=10c4:ea60") as e:
        boards_for_role(BENCH, "esp32", [CH340_LINUX])
    assert "/dev/ttyUSB0 [1a86:7523" in str(e.value)


def test_several_ports_of_one_ftdi_chip_need_a_location() -> None:
    by_serial = parse_bench(
        {"boards": [{"name": "q", "role": "esp32", "match": {"serial": "FT97WK0I"}}]}
    )
    with pytest.raises(BenchError, match="matches several ports .*ttyUSB10, /dev/ttyUSB11"):
        assign_ports(by_serial.boards, MACHINE)
    by_location = parse_bench(
        {"boards": [{"name": "q", "role": "esp32", "match": {"location": "3-1.2:1.1"}}]}
    )
    assert assign_ports(by_location.boards, MACHINE)[0].port == "/dev/ttyUSB11"


def test_serial_numbers_match_regardless_of_case() -> None:
    bench = parse_bench(
        {"boards": [{"role": "esp32", "match": {"serial": "dn00rhw0", "vid_pid": "0403:6015"}}]}
    )
    assert assign_ports(bench.boards, MACHINE)[0].port == "/dev/ttyUSB9"


def test_two_boards_cannot_take_one_port() -> None:
    bench = parse_bench(
        {
            "boards": [
                {"name": "a", "role": "esp32", "port": "/dev/ttyUSB0"},
                {"name": "b", "role": "nodemcu", "match": {"vid_pid": "1a86:7523"}},
            ]
        }
    )
    with pytest.raises(BenchError, match="boards a and b both use /dev/ttyUSB0"):
        assign_ports(bench.boards, MACHINE)


def test_which_bench_board_each_port_is() -> None:
    assert [b.name for b in boards_matching(BENCH, CP2102_MAC)] == ["knob"]
    assert [b.name for b in boards_matching(BENCH, FT231X)] == ["fixed"]
    assert boards_matching(BENCH, FT4232[0]) == []


def test_boards_command_names_bridges_and_bench_boards(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bench = tmp_path / "bench.yaml"
    bench.write_text(
        "boards:\n"
        "  - {name: knob, role: esp32, match: {vid_pid: '10c4:ea60'}}\n"
        "  - {name: gone, role: nodemcu, match: {vid_pid: '1a86:55d4'}}\n"
    )
    assert cli.boards_main(["--hil-bench", str(bench)], ports=MACHINE) == 0
    out = capsys.readouterr().out
    assert "/dev/cu.usbserial-0001" in out and "Silicon Labs CP210x" in out
    assert "-> knob [esp32]" in out
    assert "/dev/ttyUSB0" in out and "WCH CH340" in out and "-> no bench board" in out
    assert "Espressif native USB" in out
    assert "/dev/ttyS0" not in out  # no USB ids: only with --all
    assert "missing: board gone: no serial port matches USB vid_pid=1a86:55d4" in out


def test_boards_command_reports_a_bad_bench_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.boards_main(["--hil-bench", str(tmp_path / "none.yaml")], ports=[]) == 2
    assert "--hil-bench: " in capsys.readouterr().err


def test_this_machines_ports_are_listed() -> None:
    ports = list_ports()
    assert ports == sorted(ports, key=lambda p: p.device)
    assert all(isinstance(p, PortInfo) and p.device for p in ports)


def test_boards_command_lists_ports_without_usb_ids_with_all(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ALERTLOOP_HIL_BENCH", raising=False)
    assert cli.boards_main(["--all"], ports=[SERIAL_8250, FTDI_WINDOWS_OLD]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("/dev/ttyS0") and "n/a" in lines[0]
    assert lines[1].startswith("COM6") and "0403:6001  FTDI FT232R  (serial=A600ARJHA)" in lines[1]
    assert cli.boards_main([], ports=[SERIAL_8250]) == 0
    assert "no USB serial ports found" in capsys.readouterr().out
