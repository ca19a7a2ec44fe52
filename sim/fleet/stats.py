"""Counters and a lateness histogram for a fleet: fixed memory however long it runs."""

from __future__ import annotations

from array import array
from dataclasses import dataclass

__all__ = ["FleetStats", "LatenessHistogram"]


class LatenessHistogram:
    """Publish lateness in 1 ms buckets up to ``limit`` s (later ones share the last bucket).

    Percentiles are exact to the millisecond; memory is ``8 * limit * 1000`` bytes.
    """

    def __init__(self, limit: float = 10.0) -> None:
        self.buckets = int(limit * 1000) + 1
        self._counts = array("q", bytes(8 * self.buckets))
        self.count = 0
        self.max = 0.0

    def add(self, lateness: float) -> None:
        index = int(lateness * 1000) if lateness > 0 else 0
        if index >= self.buckets:
            index = self.buckets - 1
        self._counts[index] += 1
        self.count += 1
        if lateness > self.max:
            self.max = lateness

    def percentile(self, fraction: float) -> float:
        """The lateness (s) at or below which ``fraction`` of publishes were (0 if none)."""
        if self.count == 0:
            return 0.0
        wanted = max(1, round(fraction * self.count))
        seen = 0
        for index, count in enumerate(self._counts):
            seen += count
            if seen >= wanted:
                return min((index + 1) / 1000, self.max)
        return self.max

    def reset(self) -> None:
        for index in range(self.buckets):
            self._counts[index] = 0
        self.count = 0
        self.max = 0.0


@dataclass(frozen=True)
class FleetStats:
    """A snapshot of a fleet. ``published`` counts publishes handed to the socket,
    ``acked`` the QoS 1 ones the broker acknowledged, ``failed`` publishes paho refused,
    ``skipped`` ticks that found the device disconnected (no message, as on a real board),
    ``missed`` ticks the loop served more than a period late (dropped, not made up in a burst:
    the loop did not get enough CPU)."""

    devices: int
    connected: int
    published: int
    acked: int
    failed: int
    skipped: int
    missed: int
    connects: int
    disconnects: int
    connect_failures: int
    lateness_p50: float
    lateness_p99: float
    lateness_max: float
    all_connected_after: float | None

    def line(self) -> str:
        """One line for a terminal."""
        return (
            f"connected {self.connected}/{self.devices}  published {self.published}  "
            f"acked {self.acked}  failed {self.failed}  skipped {self.skipped}  missed {self.missed}  "
            f"reconnects {max(0, self.connects - self.connected)}  "
            f"lateness p50 {self.lateness_p50 * 1000:.0f} ms p99 {self.lateness_p99 * 1000:.0f} ms "
            f"max {self.lateness_max * 1000:.0f} ms"
        )
