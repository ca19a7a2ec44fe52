"""Scenarios: a knob profile a user writes as a list of timed steps (YAML or the same dict).

.. code-block:: yaml

    name: cross-and-back
    start: 20            # knob position before the first step (default 0)
    loop: false          # play again from the top when done (default false)
    steps:
      - hold: 20         # go to 20 and stay there...
        for: 5           # ...for 5 s
      - ramp: 80         # move linearly from where the knob is to 80...
        over: 3          # ...in 3 s
      - jump: 30         # go to 30 at once
      - repeat: 2        # play the nested steps twice
        steps:
          - hold: 90
            for: 1
          - hold: 10
            for: 1

A bare list of steps is a scenario too. ``Scenario`` is a ``Signal``: ``scenario(t)``.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from alertloop.sim.errors import ScenarioError
from alertloop.sim.signals import Signal

__all__ = ["Scenario", "Segment", "load_scenario"]

_TOP_KEYS = {"name", "description", "start", "loop", "steps"}
_STEP_FIELDS = {"hold": {"for"}, "ramp": {"over"}, "jump": set(), "repeat": {"steps"}}
MAX_SEGMENTS = 100_000


@dataclass(frozen=True)
class Segment:
    """From ``start`` s to ``end`` s the knob goes linearly from ``from_value`` to ``to_value``."""

    start: float
    end: float
    from_value: float
    to_value: float

    def at(self, t: float) -> float:
        if self.end <= self.start:
            return self.to_value
        fraction = min(1.0, max(0.0, (t - self.start) / (self.end - self.start)))
        return self.from_value + (self.to_value - self.from_value) * fraction


@dataclass(frozen=True)
class Scenario(Signal):
    """A validated scenario, compiled to segments. ``scenario(t)`` gives the knob at ``t``."""

    segments: tuple[Segment, ...]
    start_value: float = 0.0
    loop: bool = False
    name: str = ""
    description: str = ""
    _starts: list[float] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_starts", [seg.start for seg in self.segments])

    @property
    def length(self) -> float:
        """Seconds from the first step to the end of the last."""
        return self.segments[-1].end if self.segments else 0.0

    @property
    def duration(self) -> float | None:  # type: ignore[override]
        return None if self.loop else self.length

    def __call__(self, t: float) -> float:
        if not self.segments:
            return self.start_value
        if self.loop and self.length > 0:
            t = t % self.length
        index = bisect_right(self._starts, t) - 1
        if index < 0:
            return self.start_value
        # Zero-length segments (jumps) share a start with the next one: take the last.
        return self.segments[index].at(t)

    # -- building -------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: Any, source: str = "") -> Scenario:
        """Validate a dict (or list of steps) shaped like the YAML format and compile it.

        Raises ScenarioError naming the step (``steps[2]``, ``steps[3].steps[0]``) and field.
        """
        if isinstance(data, list):
            data = {"steps": data}
        if not isinstance(data, Mapping):
            raise ScenarioError(
                f"a scenario is a mapping with 'steps' or a list of steps, got {_kind(data)}",
                source=source,
            )
        unknown = set(data) - _TOP_KEYS
        if unknown:
            raise ScenarioError(
                f"unknown key(s) {', '.join(sorted(map(repr, map(str, unknown))))}; "
                f"allowed: {', '.join(sorted(_TOP_KEYS))}",
                source=source,
            )
        start = _percent(data.get("start", 0), "start", source)
        loop = data.get("loop", False)
        if not isinstance(loop, bool):
            raise ScenarioError(f"must be true or false, got {loop!r}", where="loop", source=source)
        steps = data.get("steps")
        if not isinstance(steps, list) or not steps:
            raise ScenarioError(
                f"must be a non-empty list of steps, got {_kind(steps)}",
                where="steps",
                source=source,
            )
        builder = _Builder(start, source)
        builder.add_steps(steps, "steps")
        if builder.now <= 0 and loop:
            raise ScenarioError("a looping scenario must last longer than 0 s", source=source)
        return cls(
            tuple(builder.segments),
            start_value=start,
            loop=loop,
            name=str(data.get("name", "")),
            description=str(data.get("description", "")),
        )

    @classmethod
    def from_yaml(cls, text: str, source: str = "<string>") -> Scenario:
        """Parse YAML text; raises ScenarioError for bad YAML (with its line) or bad content."""
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            problem = getattr(exc, "problem", None) or str(exc)
            raise ScenarioError(f"not valid YAML: {problem}", where=where, source=source) from None
        return cls.from_dict(data, source=source)


def load_scenario(path: str | Path) -> Scenario:
    """Read a scenario file. Raises ScenarioError if it is unreadable or invalid."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(f"cannot read: {exc.strerror or exc}", source=str(path)) from None
    return Scenario.from_yaml(text, source=str(path))


class _Builder:
    """Turns steps into segments, tracking the knob position and the time."""

    def __init__(self, start: float, source: str) -> None:
        self.value = start
        self.now = 0.0
        self.segments: list[Segment] = []
        self.source = source

    def error(self, message: str, where: str) -> ScenarioError:
        return ScenarioError(message, where=where, source=self.source)

    def add_steps(self, steps: Sequence[Any], where: str) -> None:
        for index, step in enumerate(steps):
            self.add_step(step, f"{where}[{index}]")

    def add_step(self, step: Any, where: str) -> None:
        if not isinstance(step, Mapping):
            raise self.error(
                f"a step is a mapping like {{hold: 50, for: 5}}, got {_kind(step)}", where
            )
        actions = [key for key in step if key in _STEP_FIELDS]
        if len(actions) != 1:
            found = f"found {', '.join(map(str, actions))}" if actions else "found none"
            raise self.error(
                f"a step needs exactly one of {', '.join(_STEP_FIELDS)} ({found})", where
            )
        action = actions[0]
        allowed = _STEP_FIELDS[action]
        unknown = set(step) - allowed - {action}
        if unknown:
            hint = f"; {action} takes {', '.join(sorted(allowed))}" if allowed else ""
            raise self.error(
                f"unknown field(s) {', '.join(sorted(map(repr, map(str, unknown))))} in a {action} step{hint}",
                where,
            )
        missing = allowed - set(step)
        if missing:
            raise self.error(f"{action} needs {', '.join(sorted(missing))}", where)
        if len(self.segments) > MAX_SEGMENTS:
            raise self.error(f"more than {MAX_SEGMENTS} segments; use loop: true", where)
        if action == "repeat":
            count = step["repeat"]
            if isinstance(count, bool) or not isinstance(count, int) or count < 1:
                raise self.error(f"must be a whole number >= 1, got {count!r}", f"{where}.repeat")
            nested = step["steps"]
            if not isinstance(nested, list) or not nested:
                raise self.error(
                    f"must be a non-empty list of steps, got {_kind(nested)}", f"{where}.steps"
                )
            for _ in range(count):
                self.add_steps(nested, f"{where}.steps")
            return
        target = _percent(step[action], f"{where}.{action}", self.source)
        seconds = 0.0
        if action == "hold":
            seconds = _seconds(step["for"], f"{where}.for", self.source, allow_zero=True)
            self.segments.append(Segment(self.now, self.now, self.value, target))
            self.segments.append(Segment(self.now, self.now + seconds, target, target))
        elif action == "ramp":
            seconds = _seconds(step["over"], f"{where}.over", self.source, allow_zero=False)
            self.segments.append(Segment(self.now, self.now + seconds, self.value, target))
        else:  # jump
            self.segments.append(Segment(self.now, self.now, self.value, target))
        self.value = target
        self.now += seconds


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    return f"{type(value).__name__} {value!r}"[:80]


def _percent(value: Any, where: str, source: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        raise ScenarioError(
            f"must be a knob position 0..100, got {_kind(value)}", where=where, source=source
        )
    if not 0 <= value <= 100:
        raise ScenarioError(
            f"must be a knob position 0..100, got {value!r}", where=where, source=source
        )
    return float(value)


def _seconds(value: Any, where: str, source: str, *, allow_zero: bool) -> float:
    ok = not isinstance(value, bool) and isinstance(value, int | float) and math.isfinite(value)
    if not ok or value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ScenarioError(
            f"must be a number of seconds {bound}, got {_kind(value)}", where=where, source=source
        )
    return float(value)
