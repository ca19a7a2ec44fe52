"""Which serial ports are there, what is behind each, and which bench board each one is.

Ports come from pyserial's ``serial.tools.list_ports.comports()``. The USB-serial bridges of
ESP32 and NodeMCU boards are named by their USB ids (CP210x, CH340, CH9102, FTDI, and the
ESP32-S3/C3 native USB). A bench board with a USB ``match`` is given the one port that
matches; none or several is an error that lists what was seen.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from alertloop.hil.bench.model import Bench, BenchError, BoardSpec, UsbMatch

__all__ = [
    "KNOWN_BRIDGES",
    "PortInfo",
    "assign_ports",
    "boards_for_role",
    "bridge_name",
    "list_ports",
    "matches",
]

# (vid, pid) -> what is on the board. The first four are on most ESP32 and NodeMCU boards.
KNOWN_BRIDGES: dict[tuple[int, int], str] = {
    (0x10C4, 0xEA60): "Silicon Labs CP210x",
    (0x10C4, 0xEA70): "Silicon Labs CP2105 (dual)",
    (0x10C4, 0xEA71): "Silicon Labs CP2108 (quad)",
    (0x1A86, 0x7523): "WCH CH340",
    (0x1A86, 0x7522): "WCH CH340K",
    (0x1A86, 0x55D4): "WCH CH9102",
    (0x1A86, 0x55D3): "WCH CH343",
    (0x0403, 0x6001): "FTDI FT232R",
    (0x0403, 0x6010): "FTDI FT2232 (ESP-Prog)",
    (0x0403, 0x6014): "FTDI FT232H",
    (0x0403, 0x6015): "FTDI FT231X",
    (0x303A, 0x1001): "Espressif native USB (ESP32-S3/C3 USB-Serial/JTAG)",
    (0x303A, 0x0002): "Espressif native USB (ESP32-S2/S3 USB-OTG CDC)",
}
VENDORS = {
    0x10C4: "Silicon Labs",
    0x1A86: "WCH",
    0x0403: "FTDI",
    0x303A: "Espressif",
    0x067B: "Prolific",
}

# hwid forms: pyserial's "USB VID:PID=1A86:7523 SER=... LOCATION=1-4", and Windows device
# ids that older pyserial left unparsed: "FTDIBUS\VID_0403+PID_6001+A600ARJHA\0000".
_HWID_USB = re.compile(r"VID:PID=([0-9A-Fa-f]{4}):([0-9A-Fa-f]{4})")
_HWID_WIN = re.compile(r"VID_([0-9A-Fa-f]{4})[+&]PID_([0-9A-Fa-f]{4})(?:\+([0-9A-Za-z]+))?")
_HWID_SER = re.compile(r"SER=(\S+)")
_HWID_LOC = re.compile(r"LOCATION=(\S+)")


@dataclass(frozen=True)
class PortInfo:
    """One serial port as pyserial lists it (with ids recovered from ``hwid`` if needed)."""

    device: str
    description: str = ""
    hwid: str = ""
    vid: int | None = None
    pid: int | None = None
    serial_number: str | None = None
    location: str | None = None
    manufacturer: str | None = None
    product: str | None = None

    @classmethod
    def from_pyserial(cls, info: Any) -> PortInfo:
        """From a ``ListPortInfo`` (or anything with its attributes)."""
        return cls.from_fields(
            device=info.device,
            description=getattr(info, "description", "") or "",
            hwid=getattr(info, "hwid", "") or "",
            vid=getattr(info, "vid", None),
            pid=getattr(info, "pid", None),
            serial_number=getattr(info, "serial_number", None),
            location=getattr(info, "location", None),
            manufacturer=getattr(info, "manufacturer", None),
            product=getattr(info, "product", None),
        )

    @classmethod
    def from_fields(cls, **fields: Any) -> PortInfo:
        """From field values; missing ids are read from ``hwid`` when it holds them."""
        hwid = str(fields.get("hwid") or "")
        vid, pid = fields.get("vid"), fields.get("pid")
        serial, location = fields.get("serial_number"), fields.get("location")
        if vid is None or pid is None:
            found = _HWID_USB.search(hwid) or _HWID_WIN.search(hwid)
            if found:
                vid, pid = int(found.group(1), 16), int(found.group(2), 16)
                if serial is None and found.re is _HWID_WIN and found.group(3):
                    serial = found.group(3)
        if serial is None and (ser := _HWID_SER.search(hwid)) and ser.group(1):
            serial = ser.group(1)
        if location is None and (loc := _HWID_LOC.search(hwid)):
            location = loc.group(1)
        return cls(
            device=str(fields["device"]),
            description=str(fields.get("description") or ""),
            hwid=hwid,
            vid=vid,
            pid=pid,
            serial_number=serial or None,
            location=location,
            manufacturer=fields.get("manufacturer"),
            product=fields.get("product"),
        )

    @property
    def usb_id(self) -> str:
        """``10c4:ea60``, or ``-`` for a port without USB ids."""
        return "-" if self.vid is None or self.pid is None else f"{self.vid:04x}:{self.pid:04x}"

    @property
    def bridge(self) -> str:
        return bridge_name(self.vid, self.pid)


def bridge_name(vid: int | None, pid: int | None) -> str:
    """What a USB id is, for a human: a known bridge, else its vendor, else ``""``."""
    if vid is None or pid is None:
        return ""
    known = KNOWN_BRIDGES.get((vid, pid))
    if known:
        return known
    vendor = VENDORS.get(vid)
    return f"{vendor} (unknown product {pid:04x})" if vendor else ""


def list_ports() -> list[PortInfo]:
    """The serial ports of this machine, sorted by device name."""
    from serial.tools import list_ports as pyserial_list_ports

    return sorted(
        (PortInfo.from_pyserial(info) for info in pyserial_list_ports.comports()),
        key=lambda port: port.device,
    )


def matches(match: UsbMatch, port: PortInfo) -> bool:
    """True when every field of ``match`` agrees with ``port`` (serial numbers and locations
    compare as text, case-insensitively for serials)."""
    if match.vid is not None and (port.vid, port.pid) != (match.vid, match.pid):
        return False
    if match.serial is not None and (port.serial_number or "").lower() != match.serial.lower():
        return False
    return match.location is None or port.location == match.location


def boards_matching(bench: Bench, port: PortInfo) -> list[BoardSpec]:
    """The bench boards that would use ``port`` (by their port name or USB match)."""
    found = []
    for board in bench.boards:
        if board.port is not None:
            if board.port == port.device:
                found.append(board)
        elif board.match is not None and matches(board.match, port):
            found.append(board)
    return found


def assign_ports(
    boards: Iterable[BoardSpec], ports: Sequence[PortInfo] | None = None
) -> list[BoardSpec]:
    """The boards with their ``port`` set: as written, or the one port their USB match finds.

    Raises BenchError when a match finds no port or several, or two boards get one port."""
    available = list_ports() if ports is None else list(ports)
    result: list[BoardSpec] = []
    taken: dict[str, str] = {}
    for board in boards:
        if board.port is None:
            assert board.match is not None  # load_bench requires one of them
            found = [port for port in available if matches(board.match, port)]
            if not found:
                raise BenchError(
                    f"board {board.name}: no serial port matches USB {board.match}; "
                    f"USB ports seen: {_seen(available)} (is the board plugged in? "
                    "'alertloop boards' lists the ports)"
                )
            if len(found) > 1:
                raise BenchError(
                    f"board {board.name}: USB {board.match} matches several ports "
                    f"({', '.join(p.device for p in found)}); add serial or location to its match"
                )
            board = board.with_port(found[0].device)
        assert board.port is not None
        if board.port in taken:
            raise BenchError(f"boards {taken[board.port]} and {board.name} both use {board.port}")
        taken[board.port] = board.name
        result.append(board)
    return result


def boards_for_role(
    bench: Bench, role: str, ports: Sequence[PortInfo] | None = None
) -> list[BoardSpec]:
    """The boards of ``role`` (``esp32``/``nodemcu``) with their ports found; the hand-off to
    the serial board backend (``spec.port``, ``spec.baud``). Raises BenchError as
    ``assign_ports`` does; an empty list when the bench has no board of that role."""
    wanted = bench.role(role)
    if not wanted:
        return []
    needs_listing = any(board.port is None for board in bench.boards)
    listed = ports if ports is not None else (list_ports() if needs_listing else [])
    assigned = {board.name: board for board in assign_ports(bench.boards, listed)}
    return [assigned[board.name] for board in wanted]


def _seen(ports: Sequence[PortInfo]) -> str:
    ports = [port for port in ports if port.vid is not None]
    if not ports:
        return "none"
    return ", ".join(f"{p.device} [{p.usb_id} ser={p.serial_number}]" for p in ports)
