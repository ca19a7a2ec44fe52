"""The demo's knob profiles: the default one crosses the threshold and comes back."""

from __future__ import annotations

from pathlib import Path

from alertloop.sim.scenario import Scenario, load_scenario

DEFAULT_DURATION = 40.0
LOW, HIGH = 15.0, 85.0


def default_profile(duration: float = DEFAULT_DURATION, loop: bool = False) -> Scenario:
    """Low, up to high (the mean crosses the threshold), back down (the mean falls back).

    The parts scale with ``duration``: 12.5 % low, 7.5 % ramp up, 30 % high, 5 % ramp down,
    45 % low, so the mean has time to fall and the LED to turn green again.
    Raises ScenarioError for a non-positive duration.
    """
    steps = [
        {"hold": 20, "for": duration * 0.125},
        {"ramp": HIGH, "over": duration * 0.075},
        {"hold": HIGH, "for": duration * 0.30},
        {"ramp": LOW, "over": duration * 0.05},
        {"hold": LOW, "for": duration * 0.45},
    ]
    return Scenario.from_dict(
        {"name": "cross-and-back", "start": 20, "loop": loop, "steps": steps},
        source="default profile",
    )


def choose_profile(
    scenario: str | Path | None, duration: float | None, forever: bool
) -> tuple[Scenario, float]:
    """The profile to play and how long to play it (seconds; ``inf`` with ``forever``).

    A scenario file sets the length unless ``duration`` is given. Raises ScenarioError.
    """
    if scenario is not None:
        profile = load_scenario(scenario)
        if forever and not profile.loop:
            profile = Scenario(
                profile.segments, profile.start_value, True, profile.name, profile.description
            )
        length = duration if duration is not None else profile.length
    else:
        length = duration if duration is not None else DEFAULT_DURATION
        profile = default_profile(length, loop=forever)
    return profile, float("inf") if forever else length
