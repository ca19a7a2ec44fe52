"""The demo's profile, live view, summary and plot, from made-up runs (no servers)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from alertloop.hil.demo.analysis import check_loop, mean_crossings
from alertloop.hil.demo.live import LiveView
from alertloop.hil.demo.plot import alert_periods, save_plot
from alertloop.hil.demo.profile import DEFAULT_DURATION, choose_profile, default_profile
from alertloop.hil.demo.runner import DemoResult, Snapshot, alert_to_led_latency
from alertloop.hil.demo.summary import summary_lines
from alertloop.sim.alerting.state import AlertState, Evaluation, Outcome
from alertloop.sim.board_api.protocol import LedChange, LedState, Published
from alertloop.sim.errors import ScenarioError


def _snapshot(**changes: object) -> Snapshot:
    fields: dict[str, object] = {
        "elapsed": 3.0, "knob": 80.0, "value": 80, "mean": 61.5, "threshold": 50.0, "state": "Alerting",
        "led": "red", "published": 7, "stored": 7, "notifications": 1, "alert_messages": 1,
        "last_latency": 0.012, "remaining": 9.0,
    }  # fmt: skip
    fields.update(changes)
    return Snapshot(**fields)  # type: ignore[arg-type]


def test_default_profile_crosses_the_threshold_and_comes_back() -> None:
    profile = default_profile()
    assert profile.length == pytest.approx(DEFAULT_DURATION)
    assert profile(0) < 50 < max(profile(t) for t in range(41)) and profile(39.9) < 50


def test_choose_profile_from_a_scenario_file(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("steps:\n  - hold: 90\n    for: 4\n  - hold: 10\n    for: 6\n")
    profile, length = choose_profile(path, None, False)
    assert length == 10 and profile(1) == 90
    _, forever = choose_profile(path, None, True)
    assert forever == float("inf")
    path.write_text("steps:\n  - ramp: 101\n    over: 2\n")
    with pytest.raises(ScenarioError, match=r"steps\[0\]"):
        choose_profile(path, None, False)


def test_live_view_redraws_in_place_on_a_terminal() -> None:
    out = io.StringIO()
    view = LiveView(out, tty=True)
    view.update(_snapshot())
    view.update(_snapshot(led="green", state="Normal"))
    text = out.getvalue()
    assert "\x1b[6F" in text  # the second frame moved up over the first (6 lines)
    assert "Alerting" in text and "Normal" in text and "61.5" in text and "12 ms" in text


def test_live_view_writes_plain_lines_when_not_a_terminal() -> None:
    out = io.StringIO()
    view = LiveView(out, tty=False)
    view.update(_snapshot(elapsed=0.0))
    view.update(_snapshot(elapsed=0.25))  # nothing new, not due: no line
    view.update(_snapshot(elapsed=0.5, led="green", state="Normal"))  # a change: a line
    view.update(_snapshot(elapsed=2.6, led="green", state="Normal"))  # due: a line
    lines = out.getvalue().splitlines()
    assert len(lines) == 3 and "\x1b" not in out.getvalue()
    assert "state=Alerting led=red" in lines[0] and "alert_to_led=12ms" in lines[0]


def _result() -> DemoResult:
    t0 = 1000.0
    values = [20] * 6 + [90] * 16 + [10] * 30
    published = [Published(v, t0 + i * 0.5) for i, v in enumerate(values)]
    stored = [(p.time, float(p.value)) for p in published]
    result = DemoResult(
        "native", t0, t0 + 26.0, 50.0, 10.0, 1.0, 2.0, published=published, stored=stored
    )
    result.crossings = mean_crossings(stored, 10.0, 50.0)
    up, down = result.crossings
    result.evaluations = [
        Evaluation(up.time + 0.5, 55.0, Outcome.FIRING, AlertState.ALERTING, 10, changed=True),
        Evaluation(down.time + 0.5, 45.0, Outcome.NOT_FIRING, AlertState.NORMAL, 10, changed=True),
    ]
    red, green = LedState.named("red"), LedState.named("green")
    result.leds = [
        LedChange(t0, LedState.named("off")),
        LedChange(up.time + 0.6, red),
        LedChange(down.time + 0.6, green),
    ]
    result.checks = check_loop(result.crossings, result.leds, result.allowed, result.ended)
    return result


def test_summary_tells_each_crossing_and_the_verdict() -> None:
    result = _result()
    text = "\n".join(summary_lines(result))
    assert result.passed
    assert (
        "mean rose above 50" in text
        and "LED red" in text
        and "after 0.60 s (allowed 3 s) ok" in text
    )
    assert "result: PASS" in text
    assert alert_to_led_latency(result.evaluations, result.leds) == pytest.approx(0.1)


def test_summary_says_fail_when_the_led_never_turned_green() -> None:
    result = _result()
    result.leds = result.leds[:2]
    result.checks = check_loop(result.crossings, result.leds, result.allowed, result.ended)
    text = "\n".join(summary_lines(result))
    assert (
        not result.passed
        and "LED never turned green" in text
        and "MISSING" in text
        and "result: FAIL" in text
    )


def test_plot_is_a_png_with_the_alert_periods(tmp_path: Path) -> None:
    result = _result()
    assert len(alert_periods(result)) == 1
    path = save_plot(result, tmp_path / "sub" / "run.png")
    assert path.read_bytes()[:4] == b"\x89PNG" and path.stat().st_size > 10_000


def test_summary_names_faster_than_grafana_the_other_rules_and_unexplained_changes() -> None:
    result = _result()
    result.faster_than_grafana = True
    other = Evaluation(1001.0, 20.0, Outcome.FIRING, AlertState.ALERTING, 3, changed=True)
    result.other_rules = {"PotActive": [other]}
    text = "\n".join(summary_lines(result))
    assert "every 1 s (faster than Grafana, --faster-than-grafana" in text
    assert "other rule PotActive: Alerting at 1.0 s; it must not move the LED" in text
    assert result.passed
    result.unexplained = [LedChange(1001.5, LedState.named("red"))]
    text = "\n".join(summary_lines(result))
    assert not result.passed and "LED turned red at   1.5 s" in text and "result: FAIL" in text
