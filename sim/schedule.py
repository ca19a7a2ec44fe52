"""Publishing on a fixed schedule without drift: absolute deadlines ``start + k * period``."""

from __future__ import annotations

import math

__all__ = ["Schedule"]


class Schedule:
    """Ticks at ``start + k * period``. Lateness never pushes later ticks back; a tick missed
    by more than a whole period (a stall, a disconnection) is skipped, not made up in a burst.
    """

    def __init__(self, period: float, start: float) -> None:
        if not period > 0:
            raise ValueError(f"period must be > 0, got {period!r}")
        self.period = period
        self.start = start
        self.index = 0
        self.skipped = 0

    @property
    def next(self) -> float:
        """The clock time of the next tick."""
        return self.start + self.index * self.period

    def due(self, now: float) -> bool:
        return now >= self.next

    def lateness(self, now: float) -> float:
        """How far ``now`` is past the next tick (negative when early)."""
        return now - self.next

    def advance(self, now: float) -> int:
        """Move past the tick just served at ``now``; return how many ticks were skipped."""
        self.index += 1
        if now >= self.next:
            first_future = math.floor((now - self.start) / self.period) + 1
            skipped = first_future - self.index
            self.index = first_future
            self.skipped += skipped
            return skipped
        return 0
