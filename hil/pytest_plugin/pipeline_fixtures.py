"""Fixtures: ``alerting`` (the simulated Grafana evaluator) and ``pipeline`` (the whole loop).

``alerting`` evaluates every provisioned rule against the test's database every
``--alert-interval`` seconds (1 s by default in tests: faster than Grafana, whose minimum is
10 s, so the evaluator is told ``faster_than_grafana``) and posts to the ``webhook`` fixture
with its generated credentials, through the provisioned notification policy. Override per test with indirect
parametrization: ``@pytest.mark.parametrize("alerting", [{"payload": "legacy"}], indirect=True)``.

``pipeline`` wires stack + ingester + webhook + alerting + the two boards on ``unique_topic``
and yields them as one object, with the deadlines a test needs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from alertloop.hil.influx import TestDatabase
from alertloop.hil.stack import Stack
from alertloop.sim.alerting import AlertEvaluator
from alertloop.sim.alerting.provisioning import BASE_INTERVAL
from alertloop.sim.board_api.protocol import IndicatorBoard, SensorBoard

__all__ = ["alerting", "alerting_factory", "pipeline"]

TEST_ALERT_INTERVAL = 1.0
# Slack for storing a point, the webhook's publish and the board's delivery.
LOOP_MARGIN = 3.0


def _interval(request: pytest.FixtureRequest) -> float:
    value = request.config.getoption("--alert-interval", default=None)
    return float(value) if value else TEST_ALERT_INTERVAL


def _require_sim_alerting(request: pytest.FixtureRequest) -> None:
    chosen = request.config.getoption("--alerting", default="sim")
    if chosen != "sim":
        pytest.skip(
            f"--alerting={chosen}: only the simulated evaluator is wired into these fixtures"
        )


@pytest.fixture
def alerting_factory(
    request: pytest.FixtureRequest, influxdb: TestDatabase, webhook: Any
) -> Iterator[Callable[..., AlertEvaluator]]:
    """``alerting_factory(**overrides)`` -> a started AlertEvaluator on the test's database,
    posting to the ``webhook`` fixture; every one is stopped at teardown."""
    _require_sim_alerting(request)
    started: list[AlertEvaluator] = []

    def factory(**overrides: Any) -> AlertEvaluator:
        interval = _interval(request)
        options: dict[str, Any] = {
            "interval": interval,
            "faster_than_grafana": interval < BASE_INTERVAL,
            **overrides,
        }
        evaluator = AlertEvaluator(
            options.pop("influx", influxdb.settings),
            options.pop("webhook_url", webhook.alert_url),
            options.pop("user", webhook.username),
            options.pop("password", webhook.password),
            **options,
        )
        evaluator.start()
        started.append(evaluator)
        return evaluator

    try:
        yield factory
    finally:
        for evaluator in reversed(started):
            evaluator.stop()


@pytest.fixture
def alerting(
    request: pytest.FixtureRequest, alerting_factory: Callable[..., AlertEvaluator]
) -> AlertEvaluator:
    """The simulated Grafana alert evaluator (overrides via indirect parametrization)."""
    return alerting_factory(**getattr(request, "param", {}))


@dataclass
class Pipeline:
    """Every part of the loop, wired on one topic prefix and one database."""

    stack: Stack
    influxdb: TestDatabase
    ingester: Any
    webhook: Any
    alerting: AlertEvaluator
    esp32: SensorBoard
    nodemcu: IndicatorBoard
    topic_prefix: str

    @property
    def pot_topic(self) -> str:
        return f"{self.topic_prefix}/pot"

    @property
    def alert_topic(self) -> str:
        return f"{self.topic_prefix}/alert"

    @property
    def threshold(self) -> float:
        return self.alerting.rule.threshold_value

    @property
    def loop_timeout(self) -> float:
        """How long a change of the knob may take to show on the LEDs: the mean needs up to
        one window to cross, the evaluator one interval to see it, plus the margin."""
        return self.alerting.rule.window + self.alerting.interval + LOOP_MARGIN

    @property
    def react_timeout(self) -> float:
        """How long the LEDs may take once the stored mean has crossed: one interval + margin."""
        return self.alerting.interval + LOOP_MARGIN


@pytest.fixture
def pipeline(
    stack: Stack,
    influxdb: TestDatabase,
    ingester: Any,
    webhook: Any,
    alerting: AlertEvaluator,
    esp32: SensorBoard,
    nodemcu: IndicatorBoard,
    unique_topic: str,
) -> Pipeline:
    """The whole loop: knob -> ingester -> InfluxDB -> alerting -> webhook -> LEDs."""
    return Pipeline(stack, influxdb, ingester, webhook, alerting, esp32, nodemcu, unique_topic)
