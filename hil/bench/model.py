"""The bench file: which real boards the suite and the flash command use.

A bench file (YAML) names boards by role, ``esp32`` (the knob) and ``nodemcu`` (the LEDs),
more than one of each for a fleet::

    project_dir: ../firmware        # where platformio.ini is (relative to this file)
    boards:
      - name: knob-1
        role: esp32
        match: {vid_pid: "10c4:ea60", serial: "0001"}   # or port: /dev/ttyUSB0
      - name: leds-1
        role: nodemcu
        port: /dev/serial/by-id/usb-1a86_USB2.0-Serial-if00-port0

Each board has a ``port`` (device path or pyserial URL) or a USB ``match`` (``vid_pid``,
``serial``, ``location``, any of them), and may set ``baud`` (the sketch's console),
``chip``, ``env`` (PlatformIO environment), ``images`` (files and offsets instead of an
environment's build) and ``flash_baud``. Defaults come from the role. ``load_bench`` checks
everything and raises ``BenchError`` naming the file, the board and the field.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from alertloop.services.common.errors import AlertloopError

__all__ = [
    "CHIPS",
    "ROLES",
    "Bench",
    "BenchError",
    "BoardSpec",
    "ImageSpec",
    "UsbMatch",
    "load_bench",
    "parse_bench",
]


class BenchError(AlertloopError):
    """The bench file is missing, not YAML, or describes a board wrongly."""


@dataclass(frozen=True)
class RoleDefaults:
    chip: str
    baud: int
    env: str


ROLES: dict[str, RoleDefaults] = {
    "esp32": RoleDefaults(chip="esp32", baud=115200, env="esp32"),
    "nodemcu": RoleDefaults(chip="esp8266", baud=9600, env="nodemcu"),
}
CHIPS = ("esp32", "esp8266")
DEFAULT_FLASH_BAUD = 460800
_BOARD_KEYS = {"name", "role", "port", "match", "baud", "chip", "env", "images", "flash_baud"}
_MATCH_KEYS = {"vid_pid", "serial", "location"}
_VID_PID = re.compile(r"^([0-9a-fA-F]{4}):([0-9a-fA-F]{4})$")


@dataclass(frozen=True)
class UsbMatch:
    """Which USB serial port is the board's: every field given must match."""

    vid: int | None = None
    pid: int | None = None
    serial: str | None = None
    location: str | None = None

    def __str__(self) -> str:
        parts = []
        if self.vid is not None and self.pid is not None:
            parts.append(f"vid_pid={self.vid:04x}:{self.pid:04x}")
        if self.serial is not None:
            parts.append(f"serial={self.serial}")
        if self.location is not None:
            parts.append(f"location={self.location}")
        return " ".join(parts)


@dataclass(frozen=True)
class ImageSpec:
    """One file written at ``offset`` of the board's flash."""

    offset: int
    path: Path


@dataclass(frozen=True)
class BoardSpec:
    """One board of the bench. ``port`` is set when the file names it or after discovery."""

    name: str
    role: str
    chip: str
    baud: int
    env: str
    port: str | None = None
    match: UsbMatch | None = None
    images: tuple[ImageSpec, ...] = ()
    flash_baud: int = DEFAULT_FLASH_BAUD
    project_dir: Path = Path("firmware")

    def with_port(self, port: str) -> BoardSpec:
        return replace(self, port=port)

    @property
    def build_dir(self) -> Path:
        """Where PlatformIO puts the images of ``env``."""
        return self.project_dir / ".pio" / "build" / self.env

    def describe(self) -> str:
        where = self.port or (f"USB {self.match}" if self.match else "no port")
        return f"{self.name} ({self.role}, {self.chip}) on {where}"


@dataclass(frozen=True)
class Bench:
    """The boards of a bench file, in file order."""

    boards: tuple[BoardSpec, ...]
    path: Path | None = None
    project_dir: Path = Path("firmware")

    def role(self, role: str) -> list[BoardSpec]:
        """The boards of ``role`` (``esp32`` or ``nodemcu``); ValueError for another role."""
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}; expected one of {', '.join(ROLES)}")
        return [board for board in self.boards if board.role == role]

    def board(self, name: str) -> BoardSpec:
        for board in self.boards:
            if board.name == name:
                return board
        raise BenchError(f"{self._where()}: no board named {name!r}")

    def _where(self) -> str:
        return str(self.path) if self.path else "bench"


def load_bench(path: str | Path) -> Bench:
    """Read and check a bench file. Raises BenchError with the file and the fault."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BenchError(f"bench file {file} does not exist") from None
    except OSError as exc:
        raise BenchError(f"cannot read bench file {file}: {exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise BenchError(f"{file}: not valid YAML: {exc}") from None
    return parse_bench(data, source=file)


def parse_bench(data: Any, *, source: Path | None = None) -> Bench:
    """A Bench from already-parsed YAML (``source`` names the file in errors and anchors
    relative paths)."""
    where = str(source) if source else "bench"
    base = source.parent if source else Path.cwd()
    if not isinstance(data, Mapping):
        raise BenchError(f"{where}: expected a mapping with a 'boards' list")
    unknown = set(data) - {"boards", "project_dir"}
    if unknown:
        raise BenchError(f"{where}: unknown key(s) {', '.join(sorted(map(str, unknown)))}")
    project_dir = base / str(data.get("project_dir", "firmware"))
    boards_data = data.get("boards")
    if not isinstance(boards_data, list) or not boards_data:
        raise BenchError(f"{where}: 'boards' must be a non-empty list of boards")
    boards = tuple(
        _board(item, index, where, base, project_dir) for index, item in enumerate(boards_data)
    )
    _check_unique(boards, where)
    return Bench(boards=boards, path=source, project_dir=project_dir)


def _board(item: Any, index: int, where: str, base: Path, project_dir: Path) -> BoardSpec:
    label = f"{where}: boards[{index}]"
    if not isinstance(item, Mapping):
        raise BenchError(f"{label}: expected a mapping (name, role, port or match, ...)")
    if isinstance(item.get("name"), str):
        label += f" ({item['name']})"
    unknown = set(item) - _BOARD_KEYS
    if unknown:
        raise BenchError(
            f"{label}: unknown key(s) {', '.join(sorted(map(str, unknown)))}; "
            f"known: {', '.join(sorted(_BOARD_KEYS))}"
        )
    role = item.get("role")
    if role not in ROLES:
        raise BenchError(f"{label}: role must be one of {', '.join(ROLES)}, got {role!r}")
    defaults = ROLES[role]
    name = str(item.get("name") or f"{role}-{index}")
    chip = str(item.get("chip", defaults.chip)).lower().replace("-", "")
    if chip not in CHIPS:
        raise BenchError(f"{label}: chip must be one of {', '.join(CHIPS)}, got {chip!r}")
    port = item.get("port")
    if port is not None and (not isinstance(port, str) or not port.strip()):
        raise BenchError(f"{label}: port must be a device path or pyserial URL, got {port!r}")
    match = _match(item.get("match"), label) if "match" in item else None
    if port is None and match is None:
        raise BenchError(f"{label}: needs a port (/dev/ttyUSB0) or a USB match (vid_pid: ...)")
    return BoardSpec(
        name=name,
        role=role,
        chip=chip,
        baud=_positive_int(item.get("baud", defaults.baud), "baud", label),
        env=str(item.get("env", defaults.env)),
        port=port,
        match=match,
        images=_images(item.get("images"), label, base),
        flash_baud=_positive_int(item.get("flash_baud", DEFAULT_FLASH_BAUD), "flash_baud", label),
        project_dir=project_dir,
    )


def _match(data: Any, label: str) -> UsbMatch:
    if not isinstance(data, Mapping) or not data:
        raise BenchError(f"{label}: match must be a mapping of vid_pid, serial, location")
    unknown = set(data) - _MATCH_KEYS
    if unknown:
        raise BenchError(
            f"{label}: unknown match key(s) {', '.join(sorted(map(str, unknown)))}; "
            f"known: {', '.join(sorted(_MATCH_KEYS))}"
        )
    vid = pid = None
    if "vid_pid" in data:
        found = _VID_PID.match(str(data["vid_pid"]))
        if not found:
            raise BenchError(
                f"{label}: vid_pid must be four hex digits, a colon, four hex digits "
                f"(10c4:ea60), got {data['vid_pid']!r} (quote it in YAML)"
            )
        vid, pid = int(found.group(1), 16), int(found.group(2), 16)
    serial = data.get("serial")
    location = data.get("location")
    return UsbMatch(
        vid=vid,
        pid=pid,
        serial=None if serial is None else str(serial),
        location=None if location is None else str(location),
    )


def _images(data: Any, label: str, base: Path) -> tuple[ImageSpec, ...]:
    if data is None:
        return ()
    if not isinstance(data, list) or not data:
        raise BenchError(f"{label}: images must be a list of {{offset: 0x1000, file: path}}")
    images = []
    for index, entry in enumerate(data):
        if not isinstance(entry, Mapping) or set(entry) != {"offset", "file"}:
            raise BenchError(f"{label}: images[{index}] must have exactly offset and file")
        offset = entry["offset"]
        if isinstance(offset, str):
            try:
                offset = int(offset, 0)
            except ValueError:
                raise BenchError(
                    f"{label}: images[{index}].offset {offset!r} is not a number"
                ) from None
        if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
            raise BenchError(f"{label}: images[{index}].offset must be a number >= 0")
        images.append(ImageSpec(offset, base / str(entry["file"])))
    return tuple(sorted(images, key=lambda image: image.offset))


def _positive_int(value: Any, key: str, label: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise BenchError(f"{label}: {key} must be a positive whole number, got {value!r}")
    return value


def _check_unique(boards: tuple[BoardSpec, ...], where: str) -> None:
    names: set[str] = set()
    ports: dict[str, str] = {}
    for board in boards:
        if board.name in names:
            raise BenchError(f"{where}: two boards are named {board.name!r}")
        names.add(board.name)
        if board.port is not None:
            if board.port in ports:
                raise BenchError(
                    f"{where}: {ports[board.port]} and {board.name} both use {board.port}"
                )
            ports[board.port] = board.name
