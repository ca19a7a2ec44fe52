"""What every board backend shares: lifecycle as a context manager, and recording and waiting
for published values and LED changes. A backend only feeds events in (``_record_published``,
``_record_led``); the waiting, filtering and explaining timeouts live here once.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Self

from alertloop.services.common.deadline import wait_until
from alertloop.services.common.lifecycle import Lifecycle
from alertloop.sim.board_api.protocol import BoardNotStarted, LedChange, LedState, Published

__all__ = ["BoardLifecycle", "IndicatorRecorder", "SensorRecorder"]

HISTORY_LIMIT = 100_000


class BoardLifecycle(Lifecycle):
    """``start()``/``stop()`` plus a context manager that cleans up even when start fails."""

    name = "board"

    def start(self) -> Self:  # pragma: no cover - overridden
        raise NotImplementedError

    def stop(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    @property
    def running(self) -> bool:  # pragma: no cover - overridden
        raise NotImplementedError

    def _require_running(self) -> None:
        """Raises BoardNotStarted unless the board runs."""
        if not self.running:
            raise BoardNotStarted(f"{self.name} is not running: call start() first")

    def _describe(self) -> str:
        """A short description of the board's state for timeout messages."""
        return self.name


class SensorRecorder(BoardLifecycle):
    """Keeps what a sensor board published and waits for values."""

    def __init__(self) -> None:
        self._published: deque[Published] = deque(maxlen=HISTORY_LIMIT)
        self._published_lock = threading.Lock()

    def _record_published(self, item: Published) -> None:
        with self._published_lock:
            self._published.append(item)

    @property
    def published(self) -> list[Published]:
        """What the board has published so far, oldest first (a copy)."""
        with self._published_lock:
            return list(self._published)

    def wait_for_published(
        self,
        predicate: Callable[[Published], bool] | int,
        timeout: float = 5.0,
        *,
        since: float | None = None,
    ) -> Published:
        """The first published value matching ``predicate`` (a callable, or an int to match
        ``value``), among those published at or after ``since`` (epoch s) when given.

        Raises BoardNotStarted if the board is not running, TimeoutExpired after ``timeout``.
        """
        self._require_running()
        match = _value_matcher(predicate)

        def found() -> Published | None:
            with self._published_lock:
                for item in self._published:
                    if (since is None or item.time >= since) and match(item):
                        return item
            return None

        def state() -> str:
            with self._published_lock:
                last = [p.value for p in list(self._published)[-8:]]
            return f"{self._describe()}; last values {last}"

        what = f"{self.name} to publish {_describe_predicate(predicate)}"
        return wait_until(found, timeout, what=what, state=state)


class IndicatorRecorder(BoardLifecycle):
    """Keeps the LED state and its history and waits for a state."""

    def __init__(self) -> None:
        self._history: deque[LedChange] = deque(maxlen=HISTORY_LIMIT)
        self._led = LedState(False, False)
        self._led_lock = threading.Lock()

    def _record_led(self, state: LedState, at: float | None = None) -> bool:
        """Set the LEDs; returns True (and records a change) if they changed."""
        with self._led_lock:
            if self._history and state == self._led:
                return False
            self._led = state
            self._history.append(LedChange(time.time() if at is None else at, state))
            return True

    @property
    def led(self) -> LedState:
        """The LEDs now."""
        with self._led_lock:
            return self._led

    @property
    def history(self) -> list[LedChange]:
        """Every change since start, oldest first; the first entry is the initial state."""
        with self._led_lock:
            return list(self._history)

    def wait_for_led(
        self, state: str | LedState, timeout: float = 5.0, *, since: float | None = None
    ) -> LedChange:
        """Wait until the LEDs show ``state``; return the change that set it.

        Without ``since`` a board already in that state returns at once; with ``since``
        (epoch s) only a change at or after that time counts. Raises ValueError for an unknown
        state name, BoardNotStarted if the board is not running, TimeoutExpired after
        ``timeout``.
        """
        wanted = state.name if isinstance(state, LedState) else LedState.named(state).name
        self._require_running()

        def found() -> LedChange | None:
            with self._led_lock:
                if since is None:
                    last = self._history[-1] if self._history else None
                    return last if last is not None and last.state.name == wanted else None
                for change in self._history:
                    if change.time >= since and change.state.name == wanted:
                        return change
            return None

        def seen() -> str:
            changes = ", ".join(f"{c.state.name}@{c.time:.3f}" for c in self.history[-6:])
            return f"{self._describe()}; LEDs {self.led.name}; last changes [{changes}]"

        return wait_until(found, timeout, what=f"{self.name} LEDs to show {wanted}", state=seen)


def _value_matcher(predicate: Callable[[Published], bool] | int) -> Callable[[Published], bool]:
    if isinstance(predicate, bool) or not (isinstance(predicate, int) or callable(predicate)):
        raise TypeError(f"predicate must be a callable or an int, not {predicate!r}")
    if isinstance(predicate, int):
        value = predicate
        return lambda item: item.value == value
    return predicate


def _describe_predicate(predicate: Callable[[Published], bool] | int) -> str:
    if isinstance(predicate, int):
        return f"the value {predicate}"
    name = getattr(predicate, "__name__", "")
    return "a value matching " + (name if name and name != "<lambda>" else "the predicate")
