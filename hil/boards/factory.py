"""Choosing a board backend by name: ``sim`` now; ``virtual`` (host-built firmware) and a
serial port later. The fixtures and the demo build boards through here, so a new backend
only needs its module and a line in this file."""

from __future__ import annotations

from typing import Any

from hil.boards.protocol import BoardError, IndicatorBoard, SensorBoard

__all__ = ["BUILT_BACKENDS", "BackendNotBuilt", "check_backend", "create_esp32", "create_nodemcu"]

BUILT_BACKENDS = ("sim",)


class BackendNotBuilt(BoardError):
    """The backend named exists in the design but is not implemented yet."""


def check_backend(kind: str, backend: str) -> None:
    """Raises BackendNotBuilt unless ``backend`` for ``kind`` (esp32, nodemcu) is built."""
    if backend not in BUILT_BACKENDS:
        raise BackendNotBuilt(
            f"--{kind}={backend}: the {backend!r} board backend is not built yet "
            f"(available: {', '.join(BUILT_BACKENDS)})"
        )


def create_esp32(backend: str = "sim", **settings: Any) -> SensorBoard:
    """A (not yet started) knob board; ``settings`` go to the backend's constructor.

    Raises BackendNotBuilt for a backend that does not exist yet."""
    check_backend("esp32", backend)
    from sim.esp32 import SimEsp32

    return SimEsp32(**settings)


def create_nodemcu(backend: str = "sim", **settings: Any) -> IndicatorBoard:
    """A (not yet started) LED board; ``settings`` go to the backend's constructor.

    Raises BackendNotBuilt for a backend that does not exist yet."""
    check_backend("nodemcu", backend)
    from sim.nodemcu import SimNodeMcu

    return SimNodeMcu(**settings)
