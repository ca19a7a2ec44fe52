"""The Board API: what a knob board (``SensorBoard``) and an LED board (``IndicatorBoard``) do,
whatever they are, and the recording and waiting every backend shares.

It sits with the device models so that the simulated boards (``sim``) and the harness's other
backends (``alertloop.hil.boards``: the host-built firmware and flashed boards on serial ports) implement
the same API without importing each other."""

from alertloop.sim.board_api.protocol import (
    LED_STATE_NAMES,
    BoardError,
    BoardNotStarted,
    IndicatorBoard,
    LedChange,
    LedState,
    Published,
    SensorBoard,
)
from alertloop.sim.board_api.recording import BoardLifecycle, IndicatorRecorder, SensorRecorder

__all__ = [
    "LED_STATE_NAMES",
    "BoardError",
    "BoardLifecycle",
    "BoardNotStarted",
    "IndicatorBoard",
    "IndicatorRecorder",
    "LedChange",
    "LedState",
    "Published",
    "SensorBoard",
    "SensorRecorder",
]
