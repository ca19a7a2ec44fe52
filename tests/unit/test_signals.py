"""Knob signals: shapes, validation, the command-line spec and CSV replay."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from alertloop.sim.errors import SignalError
from alertloop.sim.signals import (
    Constant,
    CsvReplay,
    Ramp,
    RandomWalk,
    Settable,
    Sine,
    Square,
    Step,
    parse_signal,
)


def test_constant_and_settable() -> None:
    assert Constant(60)(123.0) == 60
    knob = Settable()
    assert knob(0) == 0
    knob.set(75)
    assert knob(10) == 75
    with pytest.raises(SignalError, match="0..100"):
        knob.set(101)


def test_ramp_holds_before_and_after() -> None:
    ramp = Ramp(20, 80, 10, delay=5)
    assert [ramp(t) for t in (0, 5, 10, 15, 100)] == [20, 20, 50, 80, 80]
    assert ramp.duration == 15


def test_step_square_sine() -> None:
    step = Step(10, 90, at=3)
    assert (step(2.999), step(3)) == (10, 90)
    square = Square(20, 80, period=10, duty=0.3)
    assert [square(t) for t in (0, 2.9, 3, 9.9, 10)] == [80, 80, 20, 20, 80]
    sine = Sine(50, 30, 20)
    assert sine(0) == pytest.approx(50)
    assert sine(5) == pytest.approx(80)
    assert sine(15) == pytest.approx(20)


def test_random_walk_is_reproducible_and_bounded() -> None:
    first = RandomWalk(start=50, step=10, interval=0.5, seed=7)
    second = RandomWalk(start=50, step=10, interval=0.5, seed=7)
    path = [first(t / 2) for t in range(200)]
    assert path == [second(t / 2) for t in range(200)]
    assert all(0 <= v <= 100 for v in path)
    assert len(set(path)) > 50
    # Asking about the past replays the same path.
    assert first(3.0) == path[6]
    assert RandomWalk(seed=8)(20) != RandomWalk(seed=7)(20)


def test_csv_replay_from_file(tmp_path: Path) -> None:
    path = tmp_path / "knob.csv"
    path.write_text("time,value\n0,10\n# a comment\n5,60\n10,30\n")
    replay = CsvReplay.from_file(path)
    assert [replay(t) for t in (-1, 0, 4.9, 5, 12)] == [10, 10, 10, 60, 30]
    assert replay.duration == 10
    smooth = CsvReplay.from_file(path, interpolate=True)
    assert smooth(2.5) == pytest.approx(35)
    looped = CsvReplay.from_file(path, loop=True)
    assert looped(15) == 60 and looped.duration is None


def test_csv_replay_errors_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("0,10\n5,oops\n")
    with pytest.raises(SignalError, match=r"bad.csv:2: time and value must be numbers"):
        CsvReplay.from_file(path)
    path.write_text("0,10\n5,150\n")
    with pytest.raises(SignalError, match=r"row 2 value must be a percentage"):
        CsvReplay.from_file(path)
    path.write_text("5,10\n1,20\n")
    with pytest.raises(SignalError, match="goes back"):
        CsvReplay.from_file(path)


@pytest.mark.parametrize(
    ("spec", "t", "expected"),
    [
        ("const:60", 99, 60),
        ("ramp:0,100,10", 5, 50),
        ("ramp:start=0,end=100,seconds=10,delay=10", 15, 50),
        ("step:20,80,3", 4, 80),
        ("sine:50,30,20", 5, 80),
        ("square:low=10,high=90,period=4", 3, 10),
    ],
    ids=["const", "ramp", "ramp-keywords", "step", "sine", "square"],
)
def test_parse_signal(spec: str, t: float, expected: float) -> None:
    assert parse_signal(spec)(t) == pytest.approx(expected)


def test_parse_walk_with_seed() -> None:
    assert parse_signal("walk:50,5,seed=3")(30) == RandomWalk(50, 5, seed=3)(30)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("wobble:1", "unknown signal 'wobble:1'"),
        ("const:abc", "const: value must be a number"),
        ("const:1,2", "too many values"),
        ("sine:50,30,0", "period must be > 0"),
        ("ramp:0,100", "missing 1 required positional argument"),
        ("sine:freq=3", "unknown parameter 'freq'"),
        ("const:120", "percentage 0..100"),
        ("csv:", "needs a file path"),
    ],
    ids=["kind", "number", "too-many", "period", "missing", "unknown-param", "range", "csv"],
)
def test_parse_signal_errors(spec: str, message: str) -> None:
    with pytest.raises(SignalError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_signal(spec)


@given(
    start=st.floats(0, 100),
    end=st.floats(0, 100),
    seconds=st.floats(0.01, 1000),
    t=st.floats(-10, 2000),
)
def test_ramp_stays_between_its_ends(start: float, end: float, seconds: float, t: float) -> None:
    value = Ramp(start, end, seconds)(t)
    assert min(start, end) - 1e-9 <= value <= max(start, end) + 1e-9
    assert not math.isnan(value)
