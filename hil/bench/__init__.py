"""A bench of real boards: the bench file, finding the boards' ports, flashing them through
esptool, resetting them and keeping their boot logs.

``boards_for_role(bench, "esp32")`` is what the board fixtures use: the bench's boards of a
role with their ports found (``spec.port``, ``spec.baud``).
"""

from alertloop.hil.bench.discovery import (
    KNOWN_BRIDGES,
    PortInfo,
    assign_ports,
    boards_for_role,
    bridge_name,
    list_ports,
)
from alertloop.hil.bench.model import Bench, BenchError, BoardSpec, ImageSpec, UsbMatch, load_bench

__all__ = [
    "KNOWN_BRIDGES",
    "Bench",
    "BenchError",
    "BoardSpec",
    "ImageSpec",
    "PortInfo",
    "UsbMatch",
    "assign_ports",
    "boards_for_role",
    "bridge_name",
    "list_ports",
    "load_bench",
]
