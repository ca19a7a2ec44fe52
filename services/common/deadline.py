"""Monotonic deadlines and waiting for a condition with a deadline (no bare sleep loops)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TypeVar

from alertloop.services.common.errors import TimeoutExpired

T = TypeVar("T")


class Deadline:
    """A point in monotonic time; ``remaining`` tells how long is left (never negative)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.start = time.monotonic()
        self.end = self.start + seconds

    @property
    def remaining(self) -> float:
        return max(0.0, self.end - time.monotonic())

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.start

    @property
    def expired(self) -> bool:
        return time.monotonic() >= self.end


def wait_until(
    predicate: Callable[[], T | None],
    timeout: float,
    *,
    what: str,
    interval: float = 0.02,
    state: Callable[[], object] | None = None,
    hint: str = "",
) -> T:
    """Poll ``predicate`` until it returns a truthy value and return that value.

    Raises TimeoutExpired naming ``what`` was awaited, for how long, the last state seen
    (``state()`` when given, else the last value) and ``hint``.
    """
    deadline = Deadline(timeout)
    event = threading.Event()
    last: object = None
    while True:
        value = predicate()
        if value:
            return value
        last = value
        if deadline.expired:
            seen = state() if state is not None else last
            message = f"timed out after {timeout:.1f} s waiting for {what}; last seen: {seen!r}"
            if hint:
                message += f"; hint: {hint}"
            raise TimeoutExpired(message)
        event.wait(min(interval, deadline.remaining))
