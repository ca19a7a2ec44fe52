"""Fixtures: ``alertloop_alerting`` (the simulated Grafana evaluator) and
``alertloop_pipeline`` (the whole loop).

``alertloop_alerting`` evaluates every provisioned rule against the test's database every
``--alertloop-alert-interval`` seconds (1 s by default: faster than Grafana, whose minimum is
10 s, so the evaluator is told ``faster_than_grafana``) and posts to the ``alertloop_webhook``
fixture with its generated credentials, through the provisioned notification policy. Override
per test with indirect parametrization:
``@pytest.mark.parametrize("alertloop_alerting", [{"payload": "legacy"}], indirect=True)``.

``alertloop_pipeline`` wires stack + ingester + webhook + alerting + the two boards on
``alertloop_unique_topic`` and yields them as one object, with the deadlines a test needs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:  # the evaluator and the services load when a test uses them
    from alertloop.hil.influx import TestDatabase
    from alertloop.hil.pytest_plugin.webhook_fixtures import RunningWebhook
    from alertloop.hil.stack import Stack
    from alertloop.services.ingester import Ingester
    from alertloop.sim.alerting import AlertEvaluator
    from alertloop.sim.board_api.protocol import IndicatorBoard, SensorBoard

__all__ = ["alertloop_alerting", "alertloop_alerting_factory", "alertloop_pipeline"]

TEST_ALERT_INTERVAL = 1.0
# Slack for storing a point, the webhook's publish and the board's delivery.
LOOP_MARGIN = 3.0


def _interval(request: pytest.FixtureRequest) -> float:
    value = request.config.getoption("--alertloop-alert-interval", default=None)
    return float(value) if value else TEST_ALERT_INTERVAL


def _require_sim_alerting(request: pytest.FixtureRequest) -> None:
    chosen = request.config.getoption("--alertloop-alerting", default="sim")
    if chosen != "sim":
        pytest.skip(
            f"--alerting={chosen}: only the simulated evaluator is wired into these fixtures"
        )


@pytest.fixture
def alertloop_alerting_factory(
    request: pytest.FixtureRequest,
    alertloop_influxdb: TestDatabase,
    alertloop_webhook: RunningWebhook,
) -> Iterator[Callable[..., AlertEvaluator]]:
    """``alertloop_alerting_factory(**overrides)`` -> a started AlertEvaluator on the test's
    database, posting to the ``alertloop_webhook`` fixture; every one is stopped at teardown."""
    _require_sim_alerting(request)
    from alertloop.sim.alerting import AlertEvaluator
    from alertloop.sim.alerting.provisioning import BASE_INTERVAL

    started: list[AlertEvaluator] = []

    def factory(**overrides: Any) -> AlertEvaluator:
        interval = _interval(request)
        options: dict[str, Any] = {
            "interval": interval,
            "faster_than_grafana": interval < BASE_INTERVAL,
            **overrides,
        }
        evaluator = AlertEvaluator(
            options.pop("influx", alertloop_influxdb.settings),
            options.pop("webhook_url", alertloop_webhook.alert_url),
            options.pop("user", alertloop_webhook.username),
            options.pop("password", alertloop_webhook.password),
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
def alertloop_alerting(
    request: pytest.FixtureRequest, alertloop_alerting_factory: Callable[..., AlertEvaluator]
) -> AlertEvaluator:
    """The simulated Grafana alert evaluator (overrides via indirect parametrization)."""
    return alertloop_alerting_factory(**getattr(request, "param", {}))


@dataclass
class Pipeline:
    """Every part of the loop, wired on one topic prefix and one database."""

    stack: Stack
    influxdb: TestDatabase
    ingester: Ingester
    webhook: RunningWebhook
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
def alertloop_pipeline(
    alertloop_stack: Stack,
    alertloop_influxdb: TestDatabase,
    alertloop_ingester: Ingester,
    alertloop_webhook: RunningWebhook,
    alertloop_alerting: AlertEvaluator,
    alertloop_esp32: SensorBoard,
    alertloop_nodemcu: IndicatorBoard,
    alertloop_unique_topic: str,
) -> Pipeline:
    """The whole loop: knob -> ingester -> InfluxDB -> alerting -> webhook -> LEDs."""
    return Pipeline(
        alertloop_stack,
        alertloop_influxdb,
        alertloop_ingester,
        alertloop_webhook,
        alertloop_alerting,
        alertloop_esp32,
        alertloop_nodemcu,
        alertloop_unique_topic,
    )
