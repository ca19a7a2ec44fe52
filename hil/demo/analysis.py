"""What the loop did, computed from the stored points: the rolling mean, its threshold
crossings, and how long the LEDs took to follow each crossing.

Grafana's window ``time >= now-10s and time <= now`` includes both ends, so a point at
``t`` counts in the mean from ``t`` until just after ``t + window``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from alertloop.sim.board_api.protocol import LedChange

# LED times and point times come from different threads of one machine; allow for rounding
# of point times to milliseconds.
CLOCK_TOLERANCE = 0.005


@dataclass(frozen=True)
class Crossing:
    """The rolling mean went ``up`` above or ``down`` to/below the threshold at ``time``."""

    time: float
    direction: str
    mean: float

    @property
    def colour(self) -> str:
        """The LED colour the loop must show after this crossing."""
        return "red" if self.direction == "up" else "green"


@dataclass(frozen=True)
class LoopCheck:
    """Whether the LEDs followed one crossing in time."""

    crossing: Crossing
    allowed: float
    led_time: float | None
    required: bool

    @property
    def latency(self) -> float | None:
        return None if self.led_time is None else self.led_time - self.crossing.time

    @property
    def ok(self) -> bool:
        if not self.required:
            return True
        return self.latency is not None and self.latency <= self.allowed


def _events(times: Sequence[float], window: float) -> list[tuple[float, int, int]]:
    """(time, kind, index): kind 1 = point enters, 0 = point leaves (just after t + window)."""
    events = [(t, 1, i) for i, t in enumerate(times)]
    events += [(t + window + 1e-6, 0, i) for i, t in enumerate(times)]
    events.sort()
    return events


def mean_crossings(
    points: Sequence[tuple[float, float]],
    window: float,
    threshold: float,
    min_excursion: float = 0.001,
) -> list[Crossing]:
    """Every time the mean of the points in the trailing ``window`` crossed ``threshold``.

    ``points`` are (epoch seconds, value), sorted by time. No points in the window counts as
    below the threshold (the rule's noDataState OK). An excursion shorter than
    ``min_excursion`` (a point entering at the very instant an older one leaves, with
    millisecond timestamps) is dropped: no evaluation can see it.
    """
    times = [p[0] for p in points]
    total, count, above = 0.0, 0, False
    crossings: list[Crossing] = []
    events = _events(times, window)
    for n, (t, kind, index) in enumerate(events):
        value = points[index][1]
        if kind:
            total, count = total + value, count + 1
        else:
            total, count = total - value, count - 1
        if n + 1 < len(events) and events[n + 1][0] == t:
            continue  # settle every event at the same instant first
        mean = total / count if count else math.nan
        now_above = count > 0 and mean > threshold
        if now_above != above:
            if crossings and t - crossings[-1].time < min_excursion:
                crossings.pop()  # back where it was at once
            else:
                crossings.append(Crossing(t, "up" if now_above else "down", mean))
            above = now_above
    return crossings


def rolling_mean(
    points: Sequence[tuple[float, float]], window: float, at: Sequence[float]
) -> list[float]:
    """The trailing-window mean at each time in ``at`` (sorted); NaN where the window is empty."""
    out: list[float] = []
    start = end = 0
    total = 0.0
    for t in at:
        while end < len(points) and points[end][0] <= t:
            total += points[end][1]
            end += 1
        while start < end and points[start][0] < t - window:
            total -= points[start][1]
            start += 1
        out.append(total / (end - start) if end > start else math.nan)
    return out


def check_loop(
    crossings: Sequence[Crossing],
    leds: Sequence[LedChange],
    allowed: float,
    end_time: float,
) -> list[LoopCheck]:
    """Match each crossing with the first LED change to its colour after it.

    A crossing is required only when the mean stayed on its new side for at least ``allowed``
    seconds (until the next crossing or ``end_time``): shorter excursions may fall between
    two evaluations, as they would in Grafana.
    """
    checks = []
    for i, crossing in enumerate(crossings):
        until = crossings[i + 1].time if i + 1 < len(crossings) else end_time
        required = until - crossing.time >= allowed
        led_time = next(
            (
                change.time
                for change in leds
                if change.time >= crossing.time - CLOCK_TOLERANCE
                and change.state.name == crossing.colour
            ),
            None,
        )
        checks.append(LoopCheck(crossing, allowed, led_time, required))
    return checks


def led_periods(leds: Sequence[LedChange], end_time: float) -> list[tuple[float, float, str]]:
    """(start, end, colour name) for each period the LEDs held one state."""
    periods = []
    for i, change in enumerate(leds):
        end = leds[i + 1].time if i + 1 < len(leds) else end_time
        if end > change.time:
            periods.append((change.time, end, change.state.name))
    return periods


def unexplained_changes(
    crossings: Sequence[Crossing], leds: Sequence[LedChange], allowed: float
) -> list[LedChange]:
    """LED changes to red or green that the loop's own mean does not explain.

    A change to a colour is explained when the mean asked for that colour at the time, or did
    so within the last ``allowed`` seconds (the LED may lag that long behind a crossing). Before
    the first crossing the mean is below the threshold: green. Any other change was made by
    something else (another rule's alert, a test notification).
    """
    wrong = []
    for change in leds:
        colour = change.state.name
        if colour not in ("red", "green"):
            continue
        wanted = {_wanted(crossings, change.time + CLOCK_TOLERANCE)}
        wanted |= {c.colour for c in crossings if change.time - allowed <= c.time <= change.time}
        if colour not in wanted:
            wrong.append(change)
    return wrong


def _wanted(crossings: Sequence[Crossing], at: float) -> str:
    before = [c for c in crossings if c.time <= at]
    return before[-1].colour if before else "green"
