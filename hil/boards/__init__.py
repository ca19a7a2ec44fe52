"""Board backends behind one API: ``SensorBoard`` (ESP32 knob) and ``IndicatorBoard`` (NodeMCU
LEDs), defined in ``alertloop.sim.board_api`` and re-exported here. ``sim``: the Python models in ``sim``;
``virtual``: the real sketches built for Linux on a pty (``alertloop.hil.boards.virtual``); a serial port:
a flashed board (``alertloop.hil.boards.serial_board``)."""

from alertloop.hil.boards.factory import (
    BUILT_BACKENDS,
    BackendNotBuilt,
    create_esp32,
    create_nodemcu,
    is_port,
)
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
    "BUILT_BACKENDS",
    "BackendNotBuilt",
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
    "create_esp32",
    "create_nodemcu",
    "is_port",
]
