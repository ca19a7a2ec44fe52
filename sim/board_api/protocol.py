"""The Board API: what a test may ask of a sensor board (ESP32 knob) and an indicator board
(NodeMCU LEDs), whatever the backend (simulated, host-built firmware, real board on a port).

Event times (``Published.time``, ``LedChange.time``) are epoch seconds (``time.time()``), so
they compare with InfluxDB point times and with events seen in other processes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Protocol, Self, runtime_checkable

from alertloop.services.common.errors import AlertloopError

__all__ = [
    "LED_STATE_NAMES",
    "Board",
    "BoardError",
    "BoardNotStarted",
    "IndicatorBoard",
    "LedChange",
    "LedState",
    "Published",
    "SensorBoard",
]

LED_STATE_NAMES = ("red", "green", "off", "error", "both")


class BoardError(AlertloopError):
    """Root of the errors a board backend raises on purpose."""


class BoardNotStarted(BoardError, RuntimeError):
    """A board was asked to do or report something before ``start()`` or after ``stop()``."""


@dataclass(frozen=True)
class Published:
    """One value a sensor board published: the integer percent, when, and its sequence number
    (``None`` where the backend cannot know it)."""

    value: int
    time: float
    seq: int | None = None


@dataclass(frozen=True)
class LedState:
    """The two LEDs of the indicator board; ``error`` marks "both off because the last message
    could not be understood" (the improved firmware's state, never set in seed mode)."""

    red: bool
    green: bool
    error: bool = False

    @property
    def name(self) -> str:
        """``"red"``, ``"green"``, ``"both"``, ``"error"`` or ``"off"``."""
        if self.red and self.green:
            return "both"
        if self.red:
            return "red"
        if self.green:
            return "green"
        return "error" if self.error else "off"

    @classmethod
    def named(cls, name: str) -> LedState:
        """The state called ``name`` (one of ``LED_STATE_NAMES``); raises ValueError otherwise."""
        states = {
            "red": cls(True, False),
            "green": cls(False, True),
            "off": cls(False, False),
            "error": cls(False, False, error=True),
            "both": cls(True, True),
        }
        try:
            return states[name]
        except KeyError:
            raise ValueError(
                f"unknown LED state {name!r}; expected one of {', '.join(LED_STATE_NAMES)}"
            ) from None

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class LedChange:
    """The LEDs changed to ``state`` at ``time`` (epoch seconds)."""

    time: float
    state: LedState


Signal = Callable[[float], float]


@runtime_checkable
class Board(Protocol):
    """What every board is: started and stopped, or used as a context manager."""

    def start(self) -> Self: ...

    def stop(self) -> None: ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
        /,
    ) -> None: ...


@runtime_checkable
class SensorBoard(Board, Protocol):
    """A board that reads a knob (0..100 %) and publishes it."""

    def set_knob(self, percent: float) -> None:
        """Turn the knob to ``percent`` (0..100) and leave it there."""

    def follow(self, signal: Signal) -> None:
        """Let the knob follow ``signal`` (seconds since this call -> percent)."""

    @property
    def published(self) -> list[Published]:
        """What the board has published so far, oldest first."""

    def wait_for_published(
        self, predicate: Callable[[Published], bool] | int, timeout: float = 5.0
    ) -> Published:
        """The first published value matching ``predicate`` (or equal to an int).

        Raises alertloop.services.common.errors.TimeoutExpired when none comes within ``timeout``."""


@runtime_checkable
class IndicatorBoard(Board, Protocol):
    """A board that shows the alert state on a red and a green LED."""

    @property
    def led(self) -> LedState:
        """The LEDs now."""

    @property
    def history(self) -> list[LedChange]:
        """Every change of the LEDs since start, oldest first (the first is the initial state)."""

    def wait_for_led(self, state: str | LedState, timeout: float = 5.0) -> LedChange:
        """Wait until the LEDs show ``state`` ("red", "green", "off", "error", "both").

        Raises alertloop.services.common.errors.TimeoutExpired when they do not within ``timeout``."""
