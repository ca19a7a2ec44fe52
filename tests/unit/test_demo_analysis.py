"""The demo's analysis: rolling mean, its crossings, and matching them with LED changes."""

from __future__ import annotations

import math
from collections.abc import Sequence

import pytest
from hypothesis import given
from hypothesis import strategies as st

from alertloop.hil.demo.analysis import check_loop, led_periods, mean_crossings, rolling_mean
from alertloop.sim.board_api.protocol import LedChange, LedState

RED, GREEN, OFF = LedState.named("red"), LedState.named("green"), LedState.named("off")


def _points(
    values: Sequence[float], start: float = 100.0, step: float = 0.5
) -> list[tuple[float, float]]:
    return [(start + i * step, v) for i, v in enumerate(values)]


def test_mean_crosses_up_when_enough_high_points_enter_and_down_when_they_leave() -> None:
    points = _points([20] * 10 + [90] * 10)  # 100.0..104.5 low, 105.0..109.5 high
    crossings = mean_crossings(points, window=10.0, threshold=50.0)
    up, down = crossings
    # (10*20 + n*90)/(10+n) > 50  <=>  n > 7.5: the 8th high point enters at 108.5
    assert up.direction == "up" and up.mean > 50
    assert up.time == pytest.approx(108.5)
    # then only highs remain in the window until the last one leaves, just after 109.5 + 10
    assert down.direction == "down" and down.time == pytest.approx(119.5, abs=1e-3)


def test_window_edges_are_inclusive_like_grafana() -> None:
    points = [(0.0, 100.0)]
    assert rolling_mean(points, 10.0, [0.0, 10.0, 10.001])[:2] == [100.0, 100.0]
    assert math.isnan(rolling_mean(points, 10.0, [10.001])[0])


def test_no_points_is_below_the_threshold() -> None:
    assert mean_crossings([], 10.0, 50.0) == []
    crossings = mean_crossings([(0.0, 80.0)], 10.0, 50.0)
    assert [(c.direction, round(c.time, 3)) for c in crossings] == [("up", 0.0), ("down", 10.0)]


def test_equal_to_the_threshold_is_not_above() -> None:
    assert mean_crossings(_points([50, 50, 50]), 10.0, 50.0) == []


@given(st.lists(st.integers(0, 100), min_size=1, max_size=60))
def test_crossings_agree_with_the_rolling_mean(values: list[int]) -> None:
    points = _points([float(v) for v in values])
    crossings = mean_crossings(points, 10.0, 50.0)
    assert all(a.direction != b.direction for a, b in zip(crossings, crossings[1:], strict=False))
    for crossing in crossings:
        (mean,) = rolling_mean(points, 10.0, [crossing.time])
        assert (mean > 50) == (crossing.direction == "up")
    times = [c.time for c in crossings]
    assert all(b - a >= 0.001 for a, b in zip(times, times[1:], strict=False))


def test_an_instant_excursion_is_not_a_crossing() -> None:
    # at 110.0 the 21st point enters while the one at 100.0 is still in the (inclusive) window
    values = [51.0] + [0.0] * 7 + [13, 69, 14, 4] + [100.0] * 9
    crossings = mean_crossings(_points(values), 10.0, 50.0)
    assert [(c.direction, round(c.time, 3)) for c in crossings] == [
        ("up", 100.0), ("down", 100.5), ("up", 110.5), ("down", 120.0),
    ]  # fmt: skip


def test_check_loop_matches_leds_and_measures_latency() -> None:
    crossings = mean_crossings(_points([90] * 4), 10.0, 50.0)  # up at 100, down just after 111.5
    leds = [LedChange(90.0, OFF), LedChange(101.2, RED), LedChange(113.0, GREEN)]
    up, down = check_loop(crossings, leds, allowed=3.0, end_time=130.0)
    assert up.ok and up.latency == pytest.approx(1.2)
    assert down.ok and down.latency == pytest.approx(113.0 - down.crossing.time)


def test_check_loop_flags_late_and_missing_leds_but_not_short_excursions() -> None:
    crossings = mean_crossings(_points([90] * 4), 10.0, 50.0)
    late, missing = check_loop(crossings, [LedChange(105.0, RED)], allowed=3.0, end_time=130.0)
    assert late.required and not late.ok and late.latency == pytest.approx(5.0)
    assert missing.required and not missing.ok and missing.led_time is None
    # the run ended 1 s after the mean fell back: too short to require green
    _, short = check_loop(
        crossings, [LedChange(101.0, RED)], allowed=3.0, end_time=crossings[1].time + 1.0
    )
    assert not short.required and short.ok


def test_led_periods() -> None:
    leds = [LedChange(0.0, OFF), LedChange(2.0, RED), LedChange(5.0, GREEN)]
    assert led_periods(leds, 9.0) == [(0.0, 2.0, "off"), (2.0, 5.0, "red"), (5.0, 9.0, "green")]


def test_led_changes_the_loops_mean_does_not_explain_are_found() -> None:
    from alertloop.hil.demo.analysis import unexplained_changes

    points = _points([20] * 10 + [90] * 10)
    up, down = mean_crossings(points, window=10.0, threshold=50.0)
    following = [
        LedChange(99.0, OFF),
        LedChange(up.time + 1.0, RED),
        LedChange(down.time + 1.0, GREEN),
    ]
    assert unexplained_changes([up, down], following, allowed=3.0) == []
    early_red = LedChange(101.0, RED)  # another rule's alert, long before the mean rose
    late_red = LedChange(down.time + 5.0, RED)  # after the mean had fallen back
    found = unexplained_changes([up, down], [*following, early_red, late_red], allowed=3.0)
    assert found == [early_red, late_red]
