"""The publishing schedule: absolute deadlines, no drift, no bursts after a stall."""

from __future__ import annotations

import pytest

from alertloop.sim.schedule import Schedule


def test_late_ticks_do_not_push_later_ones() -> None:
    schedule = Schedule(0.5, start=100.0)
    served = []
    for now in (100.0, 100.7, 101.02, 101.5):
        assert schedule.due(now)
        served.append(round(schedule.lateness(now), 3))
        assert schedule.advance(now) == 0
    assert served == [0.0, 0.2, 0.02, 0.0]
    assert schedule.next == 102.0


def test_a_stall_skips_ticks_instead_of_bursting() -> None:
    schedule = Schedule(0.5, start=0.0)
    schedule.advance(0.0)
    assert schedule.advance(3.2) == 5  # ticks at 1.0 .. 3.0 missed
    assert schedule.next == 3.5
    assert not schedule.due(3.3)
    assert schedule.skipped == 5


def test_period_must_be_positive() -> None:
    with pytest.raises(ValueError, match="period must be > 0"):
        Schedule(0, start=0)
