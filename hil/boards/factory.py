"""Choosing a board backend by name: ``sim`` (Python models), ``virtual`` (the sketches built
for Linux, on a pty) or a serial port (a device path such as ``/dev/ttyUSB0`` or a pyserial URL
such as ``rfc2217://host:4000``). The fixtures and the demo build boards through here."""

from __future__ import annotations

import re
from typing import Any

from alertloop.sim.board_api.protocol import BoardError, IndicatorBoard, SensorBoard

__all__ = [
    "BUILT_BACKENDS",
    "BackendNotBuilt",
    "backend_kind",
    "check_backend",
    "create_esp32",
    "create_nodemcu",
    "is_port",
]

BUILT_BACKENDS = ("sim", "virtual")
BACKEND_HELP = "sim, virtual, or a serial port (/dev/ttyUSB0, COM3, rfc2217://host:port)"
_PORT = re.compile(r"^(/|[A-Za-z][A-Za-z0-9+.-]*://|COM[0-9]+$)")


class BackendNotBuilt(BoardError):
    """The backend named is neither ``sim``, ``virtual`` nor a serial port."""


def is_port(backend: str) -> bool:
    """True for a device path (``/dev/ttyUSB0``), ``COM3`` or a pyserial URL (``loop://``)."""
    return bool(_PORT.match(backend))


def backend_kind(backend: str) -> str:
    """``"sim"``, ``"virtual"`` or ``"serial"``; raises BackendNotBuilt for anything else."""
    if backend in BUILT_BACKENDS:
        return backend
    if is_port(backend):
        return "serial"
    raise BackendNotBuilt(f"unknown board backend {backend!r}: expected {BACKEND_HELP}")


def check_backend(kind: str, backend: str) -> None:
    """Raises BackendNotBuilt unless ``backend`` for ``kind`` (esp32, nodemcu) exists."""
    try:
        backend_kind(backend)
    except BackendNotBuilt as exc:
        raise BackendNotBuilt(f"--{kind}={backend}: {exc}") from None


def create_esp32(backend: str = "sim", **settings: Any) -> SensorBoard:
    """A (not yet started) knob board; ``settings`` go to the backend's constructor
    (``SimEsp32``, ``VirtualEsp32``, or ``SerialEsp32`` with ``port=backend``).

    Raises BackendNotBuilt for an unknown backend name."""
    check_backend("esp32", backend)
    kind = backend_kind(backend)
    if kind == "sim":
        from alertloop.sim.esp32 import SimEsp32

        return SimEsp32(**settings)
    if kind == "virtual":
        from alertloop.hil.boards.virtual import VirtualEsp32

        return VirtualEsp32(**settings)
    from alertloop.hil.boards.serial_board import SerialEsp32

    return SerialEsp32(backend, **settings)


def create_nodemcu(backend: str = "sim", **settings: Any) -> IndicatorBoard:
    """A (not yet started) LED board; ``settings`` go to the backend's constructor
    (``SimNodeMcu``, ``VirtualNodeMcu``, or ``SerialNodeMcu`` with ``port=backend``).

    Raises BackendNotBuilt for an unknown backend name."""
    check_backend("nodemcu", backend)
    kind = backend_kind(backend)
    if kind == "sim":
        from alertloop.sim.nodemcu import SimNodeMcu

        return SimNodeMcu(**settings)
    if kind == "virtual":
        from alertloop.hil.boards.virtual import VirtualNodeMcu

        return VirtualNodeMcu(**settings)
    from alertloop.hil.boards.serial_board import SerialNodeMcu

    return SerialNodeMcu(backend, **settings)
