"""Scenario files: the format, what they compile to, and errors that say where."""

from __future__ import annotations

from pathlib import Path

import pytest

from alertloop.sim.errors import ScenarioError
from alertloop.sim.scenario import Scenario, load_scenario

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "scenarios" / "cross-and-back.yaml"


def test_steps_compile_to_the_knob_profile() -> None:
    scenario = Scenario.from_yaml(
        """
        start: 10
        steps:
          - hold: 20
            for: 5
          - ramp: 80
            over: 4
          - jump: 30
          - repeat: 2
            steps:
              - hold: 90
                for: 1
              - hold: 0
                for: 1
        """
    )
    assert scenario.start_value == 10
    samples = {t: scenario(t) for t in (0, 4.99, 5, 7, 9, 9.5, 10, 10.5, 11, 12.5, 13, 100)}
    assert samples == {
        0: 20, 4.99: 20, 5: 20, 7: 50, 9: 90, 9.5: 90, 10: 0,
        10.5: 0, 11: 90, 12.5: 0, 13: 0, 100: 0,
    }  # fmt: skip
    assert scenario.duration == 13


def test_a_bare_list_and_a_dict_are_scenarios_too() -> None:
    scenario = Scenario.from_dict([{"jump": 70}, {"ramp": 30, "over": 2}])
    assert (scenario(0), scenario(1), scenario(5)) == (70, 50, 30)


def test_loop_plays_again() -> None:
    scenario = Scenario.from_dict(
        {"loop": True, "steps": [{"hold": 10, "for": 1}, {"hold": 90, "for": 1}]}
    )
    assert (scenario(0.5), scenario(1.5), scenario(2.5)) == (10, 90, 10)
    assert scenario.duration is None


def test_example_crosses_the_threshold_and_comes_back() -> None:
    scenario = load_scenario(EXAMPLE)
    assert 35 <= scenario.duration <= 45
    samples = [scenario(t / 2) for t in range(int(scenario.duration * 2) + 1)]

    def mean10(t: float) -> float:
        points = [scenario(t - i * 0.5) for i in range(20)]
        return sum(points) / len(points)

    assert samples[0] < 50 and samples[-1] < 50 and max(samples) > 50
    means = [mean10(t / 2) for t in range(20, int(scenario.duration * 2) + 1)]
    assert max(means) > 50 and means[-1] < 50


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("steps: []", "steps: must be a non-empty list of steps"),
        ("- hold: 20", "steps[0]: hold needs for"),
        ("- hold: 20\n  for: -1", "steps[0].for: must be a number of seconds >= 0, got int -1"),
        ("- jump: 20\n- ramp: 80\n  over: 0", "steps[1].over: must be a number of seconds > 0"),
        ("- jump: 120", "steps[0].jump: must be a knob position 0..100, got 120"),
        ("- jump: high", "steps[0].jump: must be a knob position 0..100, got str 'high'"),
        ("- hold: 20\n  ramp: 30\n  for: 1", "steps[0]: a step needs exactly one of hold, ramp, jump, repeat (found hold, ramp)"),
        ("- wait: 3", "steps[0]: a step needs exactly one of hold, ramp, jump, repeat (found none)"),
        ("- ramp: 30\n  for: 2", "steps[0]: unknown field(s) 'for' in a ramp step; ramp takes over"),
        ("- jump: 30\n- repeat: 0\n  steps: [{jump: 1}]", "steps[1].repeat: must be a whole number >= 1"),
        ("- repeat: 2\n  steps:\n    - jump: 1\n    - hold: 5", "steps[0].steps[1]: hold needs for"),
        ("- 42", "steps[0]: a step is a mapping like {hold: 50, for: 5}, got int 42"),
        ("start: 200\nsteps: [{jump: 1}]", "start: must be a knob position 0..100, got 200"),
        ("steps: [{jump: 1}]\nspeed: 2", "unknown key(s) 'speed'; allowed: description, loop, name, start, steps"),
        ("loop: yes please\nsteps: [{jump: 1}]", "loop: must be true or false"),
        ("just text", "a scenario is a mapping with 'steps' or a list of steps, got str 'just text'"),
        ("- hold: [1\n", "line 2, column 1: not valid YAML"),
    ],
    ids=[
        "empty", "missing-for", "negative-for", "zero-ramp", "out-of-range", "not-a-number",
        "two-actions", "no-action", "unknown-field", "repeat-zero", "nested", "not-a-mapping",
        "start", "unknown-top-key", "loop", "not-a-scenario", "bad-yaml",
    ],
)  # fmt: skip
def test_bad_scenarios_say_where(document: str, message: str) -> None:
    with pytest.raises(ScenarioError) as info:
        Scenario.from_yaml(document, source="knob.yaml")
    assert str(info.value).startswith(f"knob.yaml: {message}")


def test_error_keeps_where_for_tools() -> None:
    with pytest.raises(ScenarioError) as info:
        Scenario.from_dict({"steps": [{"jump": 1}, {"hold": 2, "for": "x"}]})
    assert info.value.where == "steps[1].for"
    assert isinstance(info.value, ValueError)


def test_missing_file_is_a_scenario_error(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match=r"nope.yaml: cannot read"):
        load_scenario(tmp_path / "nope.yaml")
