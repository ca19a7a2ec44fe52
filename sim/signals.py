"""Knob signals: callables of elapsed seconds -> knob position in percent (0..100).

Every signal is a small object with ``__call__(t)`` and ``duration`` (seconds until it stops
changing, or ``None`` if it never does). Boards clamp what a signal returns to 0..100.
``parse_signal("sine:50,30,20")`` builds one from a command-line spec.
"""

from __future__ import annotations

import csv
import math
import random
import threading
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from alertloop.sim.errors import SignalError

__all__ = [
    "Constant",
    "CsvReplay",
    "RandomWalk",
    "Ramp",
    "Settable",
    "Signal",
    "Sine",
    "Square",
    "Step",
    "parse_signal",
]


def _number(name: str, value: object, *, positive: bool = False, percent: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        raise SignalError(f"{name} must be a number, got {value!r}")
    number = float(value)
    if positive and number <= 0:
        raise SignalError(f"{name} must be > 0, got {value!r}")
    if percent and not 0 <= number <= 100:
        raise SignalError(f"{name} must be a percentage 0..100, got {value!r}")
    return number


class Signal:
    """Base of the knob signals: ``signal(t)`` is the knob position ``t`` s after the start."""

    duration: float | None = None

    def __call__(self, t: float) -> float:  # pragma: no cover - overridden
        raise NotImplementedError


@dataclass(frozen=True)
class Constant(Signal):
    """Always ``value``."""

    value: float

    def __post_init__(self) -> None:
        _number("value", self.value, percent=True)

    def __call__(self, t: float) -> float:
        return self.value


class Settable(Signal):
    """A knob someone turns at run time with ``set(value)`` (the boards' default signal)."""

    def __init__(self, value: float = 0.0) -> None:
        self._value = _number("value", value, percent=True)
        self._lock = threading.Lock()

    @property
    def value(self) -> float:
        with self._lock:
            return self._value

    def set(self, value: float) -> None:
        """Turn the knob; raises SignalError unless 0 <= value <= 100."""
        checked = _number("value", value, percent=True)
        with self._lock:
            self._value = checked

    def __call__(self, t: float) -> float:
        return self.value

    def __repr__(self) -> str:
        return f"Settable({self.value:g})"


@dataclass(frozen=True)
class Ramp(Signal):
    """``start`` until ``delay``, then linearly to ``end`` over ``seconds``, then ``end``."""

    start: float
    end: float
    seconds: float
    delay: float = 0.0

    def __post_init__(self) -> None:
        _number("start", self.start, percent=True)
        _number("end", self.end, percent=True)
        _number("seconds", self.seconds, positive=True)
        if _number("delay", self.delay) < 0:
            raise SignalError(f"delay must be >= 0, got {self.delay!r}")

    @property
    def duration(self) -> float:  # type: ignore[override]
        return self.delay + self.seconds

    def __call__(self, t: float) -> float:
        fraction = min(1.0, max(0.0, (t - self.delay) / self.seconds))
        return self.start + (self.end - self.start) * fraction


@dataclass(frozen=True)
class Step(Signal):
    """``before`` until ``at`` seconds, then ``after``."""

    before: float
    after: float
    at: float

    def __post_init__(self) -> None:
        _number("before", self.before, percent=True)
        _number("after", self.after, percent=True)
        if _number("at", self.at) < 0:
            raise SignalError(f"at must be >= 0, got {self.at!r}")

    @property
    def duration(self) -> float:  # type: ignore[override]
        return self.at

    def __call__(self, t: float) -> float:
        return self.after if t >= self.at else self.before


@dataclass(frozen=True)
class Sine(Signal):
    """``mean + amplitude * sin(2 pi t / period + phase)``."""

    mean: float = 50.0
    amplitude: float = 25.0
    period: float = 20.0
    phase: float = 0.0

    def __post_init__(self) -> None:
        _number("mean", self.mean, percent=True)
        _number("amplitude", self.amplitude)
        _number("period", self.period, positive=True)
        _number("phase", self.phase)

    def __call__(self, t: float) -> float:
        return self.mean + self.amplitude * math.sin(2 * math.pi * t / self.period + self.phase)


@dataclass(frozen=True)
class Square(Signal):
    """``high`` for the first ``duty`` fraction of each ``period``, ``low`` for the rest."""

    low: float = 20.0
    high: float = 80.0
    period: float = 20.0
    duty: float = 0.5

    def __post_init__(self) -> None:
        _number("low", self.low, percent=True)
        _number("high", self.high, percent=True)
        _number("period", self.period, positive=True)
        if not 0 <= _number("duty", self.duty) <= 1:
            raise SignalError(f"duty must be between 0 and 1, got {self.duty!r}")

    def __call__(self, t: float) -> float:
        return self.high if (t % self.period) < self.duty * self.period else self.low


class RandomWalk(Signal):
    """A reproducible random walk: every ``interval`` s the knob moves by a uniform step in
    ``[-step, +step]``, staying within ``low..high``. The same seed gives the same path,
    whichever times it is sampled at (it replays from the start when asked about the past).
    """

    def __init__(
        self,
        start: float = 50.0,
        step: float = 2.0,
        interval: float = 0.5,
        seed: int | None = None,
        low: float = 0.0,
        high: float = 100.0,
    ) -> None:
        self.start = _number("start", start, percent=True)
        self.step = _number("step", step)
        self.interval = _number("interval", interval, positive=True)
        self.low = _number("low", low, percent=True)
        self.high = _number("high", high, percent=True)
        if self.low > self.high or not self.low <= self.start <= self.high:
            raise SignalError(f"need low <= start <= high, got {low!r}, {start!r}, {high!r}")
        self.seed = random.SystemRandom().randrange(2**32) if seed is None else seed
        self._lock = threading.Lock()
        self._reset()

    def _reset(self) -> None:
        self._rng = random.Random(self.seed)
        self._index = 0
        self._value = self.start

    def __call__(self, t: float) -> float:
        target = max(0, int(t // self.interval))
        with self._lock:
            if target < self._index:
                self._reset()
            while self._index < target:
                moved = self._value + self._rng.uniform(-self.step, self.step)
                self._value = min(self.high, max(self.low, moved))
                self._index += 1
            return self._value

    def __repr__(self) -> str:
        return f"RandomWalk(start={self.start:g}, step={self.step:g}, seed={self.seed})"


@dataclass(frozen=True)
class CsvReplay(Signal):
    """Replays ``(seconds, percent)`` rows: the value of the last row at or before ``t``
    (or linear between rows with ``interpolate``); before the first row, the first value.
    ``loop`` starts again after the last row."""

    rows: Sequence[tuple[float, float]]
    interpolate: bool = False
    loop: bool = False
    _times: list[float] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.rows:
            raise SignalError("a CSV replay needs at least one row")
        times: list[float] = []
        for index, (at, value) in enumerate(self.rows):
            _number(f"row {index + 1} time", at)
            _number(f"row {index + 1} value", value, percent=True)
            if times and at < times[-1]:
                raise SignalError(f"row {index + 1}: time {at!r} goes back from {times[-1]!r}")
            times.append(float(at))
        object.__setattr__(self, "_times", times)

    @property
    def duration(self) -> float | None:  # type: ignore[override]
        return None if self.loop else self._times[-1]

    @classmethod
    def from_file(cls, path: str | Path, **options: bool) -> CsvReplay:
        """Read ``time,value`` rows (a header line and ``#`` comments are allowed).

        Raises SignalError naming the file and line of a bad row, OSError if unreadable."""
        rows: list[tuple[float, float]] = []
        with open(path, newline="", encoding="utf-8") as handle:
            for line_no, row in enumerate(csv.reader(handle), start=1):
                cells = [cell.strip() for cell in row]
                if not any(cells) or cells[0].startswith("#"):
                    continue
                if len(cells) < 2:
                    raise SignalError(f"{path}:{line_no}: expected 'time,value', got {row!r}")
                try:
                    rows.append((float(cells[0]), float(cells[1])))
                except ValueError:
                    if line_no == 1 and not rows:
                        continue  # a header
                    raise SignalError(
                        f"{path}:{line_no}: time and value must be numbers, got {row!r}"
                    ) from None
        try:
            return cls(rows, **options)
        except SignalError as exc:
            raise SignalError(f"{path}: {exc}") from None

    def __call__(self, t: float) -> float:
        times = self._times
        if self.loop and times[-1] > 0:
            t = t % times[-1]
        index = bisect_right(times, t) - 1
        if index < 0:
            return self.rows[0][1]
        value = self.rows[index][1]
        if self.interpolate and index + 1 < len(times):
            t0, t1 = times[index], times[index + 1]
            v1 = self.rows[index + 1][1]
            if t1 > t0:
                value = value + (v1 - value) * (t - t0) / (t1 - t0)
        return value


# kind -> (constructor, positional parameter names)
_SPECS: dict[str, tuple[type[Signal], tuple[str, ...]]] = {
    "const": (Constant, ("value",)),
    "ramp": (Ramp, ("start", "end", "seconds", "delay")),
    "step": (Step, ("before", "after", "at")),
    "sine": (Sine, ("mean", "amplitude", "period", "phase")),
    "square": (Square, ("low", "high", "period", "duty")),
    "walk": (RandomWalk, ("start", "step", "interval", "seed", "low", "high")),
}

SPEC_HELP = (
    "const:VALUE | ramp:START,END,SECONDS[,DELAY] | step:BEFORE,AFTER,AT | "
    "sine:MEAN,AMPLITUDE,PERIOD[,PHASE] | square:LOW,HIGH,PERIOD[,DUTY] | "
    "walk:START,STEP[,INTERVAL,SEED] | csv:PATH (parameters also as name=value)"
)


def parse_signal(spec: str) -> Signal:
    """Build a signal from ``KIND:ARGS``, e.g. ``const:60``, ``sine:50,30,20``,
    ``ramp:start=0,end=100,seconds=30``, ``csv:knob.csv``.

    Raises SignalError saying what is wrong and what is accepted."""
    kind, _, args = spec.partition(":")
    kind = kind.strip().lower()
    if kind == "csv":
        if not args:
            raise SignalError("csv: needs a file path, e.g. csv:knob.csv")
        return CsvReplay.from_file(args)
    if kind not in _SPECS:
        raise SignalError(f"unknown signal {spec!r}; expected {SPEC_HELP}")
    cls, names = _SPECS[kind]
    kwargs: dict[str, float | int] = {}
    for position, part in enumerate(p.strip() for p in args.split(",") if p.strip()):
        name, eq, text = part.partition("=")
        if not eq:
            if position >= len(names):
                raise SignalError(f"{kind}: too many values in {spec!r}; expected {SPEC_HELP}")
            name, text = names[position], part
        name = name.strip()
        if name not in names:
            raise SignalError(f"{kind}: unknown parameter {name!r}; known: {', '.join(names)}")
        try:
            kwargs[name] = int(text) if name == "seed" else float(text)
        except ValueError:
            raise SignalError(f"{kind}: {name} must be a number, got {text!r}") from None
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise SignalError(f"{kind}: {exc}; expected {SPEC_HELP}") from None
