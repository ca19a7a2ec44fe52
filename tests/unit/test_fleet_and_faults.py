"""Pure logic of fleets and fault schedules: templates, lateness percentiles, schedule
validation and ``for`` expansion."""

from __future__ import annotations

import pytest

from alertloop.hil.faults import FaultSchedule, FaultScheduleError
from alertloop.sim.fleet import FleetConfig, FleetConfigError, LatenessHistogram

pytest_plugins = ["pytester"]


def test_the_plugin_offers_the_fleet_and_fault_fixtures(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--fixtures")
    for name in (
        "alertloop_fleet",
        "alertloop_fleet_factory",
        "alertloop_fault_proxy",
        "alertloop_fault_proxy_factory",
    ):
        result.stdout.fnmatch_lines([f"{name} -- *fault_fixtures.py*"])


def test_templates_give_ids_topics_and_the_ingester_template() -> None:
    config = FleetConfig(esp32=3, prefix="plant", run="r1")
    names = config.names("esp32", 2)
    assert names == {
        "device": "esp32-0002",
        "client_id": "esp32-0002-r1",
        "pot_topic": "plant/esp32-0002/pot",
        "alert_topic": "plant/alert",
        "status_topic": "status/esp32-0002-r1",
    }
    assert config.ingester_topic == "plant/{device}/pot"
    assert config.period == 0.5


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("pot_topic", "x/{nope}/pot", "pot_topic"),
        ("alert_topic", "x/+/alert", "wildcards"),
        ("esp32", -1, "esp32"),
        ("rate", 0, "rate"),
        ("qos", 2, "qos"),
    ],
    ids=["unknown-placeholder", "wildcard", "negative-count", "zero-rate", "qos2"],
)
def test_bad_settings_are_named(field: str, value: object, message: str) -> None:
    with pytest.raises(FleetConfigError, match=message):
        FleetConfig(**{field: value})  # type: ignore[arg-type]


def test_lateness_percentiles_to_the_millisecond() -> None:
    histogram = LatenessHistogram(limit=1.0)
    for ms in range(100):
        histogram.add(ms / 1000)
    histogram.add(5.0)  # beyond the limit: counted in the last bucket, max kept
    assert histogram.count == 101
    assert histogram.percentile(0.5) == pytest.approx(0.051, abs=0.0015)
    assert histogram.percentile(0.99) == pytest.approx(0.1, abs=0.002)
    assert histogram.max == 5.0
    histogram.reset()
    assert histogram.percentile(0.99) == 0.0


def test_for_expands_into_a_heal_or_a_start() -> None:
    schedule = FaultSchedule.from_dict(
        [
            {"at": 10, "server": "influxdb", "do": "stop", "for": 5},
            {"at": 1, "proxy": "mqtt", "do": "latency", "ms": 100, "for": 2},
        ]
    )
    assert [(s.at, s.target, s.action) for s in schedule.steps] == [
        (1, "mqtt", "latency"),
        (3, "mqtt", "heal"),
        (10, "influxdb", "stop"),
        (15, "influxdb", "start"),
    ]
    assert schedule.length == 15


@pytest.mark.parametrize(
    ("step", "message"),
    [
        ({"at": 1, "proxy": "m", "do": "explode"}, r"steps\[0\]\.do"),
        ({"at": 1, "proxy": "m", "server": "s", "do": "stop"}, "exactly one"),
        ({"at": -1, "proxy": "m", "do": "stall"}, r"\.at"),
        ({"at": 1, "proxy": "m", "do": "latency"}, "needs ms"),
        ({"at": 1, "proxy": "m", "do": "stall", "ms": 3}, "unknown field"),
        ({"at": 1, "server": "mqtt", "do": "restart", "for": 3}, "over at once"),
    ],
    ids=[
        "unknown-action",
        "two-targets",
        "negative-time",
        "latency-without-ms",
        "stray-field",
        "for-on-restart",
    ],
)
def test_bad_steps_name_the_step_and_field(step: dict[str, object], message: str) -> None:
    with pytest.raises(FaultScheduleError, match=message):
        FaultSchedule.from_dict({"steps": [step]})


def test_bad_yaml_is_a_schedule_error() -> None:
    with pytest.raises(FaultScheduleError, match="YAML"):
        FaultSchedule.from_yaml("steps: [at: 1", source="f.yaml")
