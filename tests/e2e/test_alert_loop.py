"""The closed loop on the native stack: knob -> ingester -> InfluxDB -> evaluator -> webhook ->
retained ``/alert`` -> NodeMCU LEDs, with the real ingester and webhook.

Tests marked ``every_board`` run once per board backend (``sim``, ``virtual``: the real
sketches built for Linux, and the ``--esp32``/``--nodemcu`` ports when given); the others run
on the backend the options choose.

The evaluator runs every provisioned rule: beside the loop's PotMeanHigh, PotActive fires
whenever the knob is above 5, and must never move the LED."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from alertloop.hil.capture import MqttCapture
from alertloop.hil.pytest_plugin.pipeline_fixtures import LOOP_MARGIN, Pipeline
from alertloop.services.common.deadline import wait_until
from alertloop.services.common.errors import TimeoutExpired
from alertloop.sim.alerting import NotificationPolicy
from alertloop.sim.alerting.notifier import Delivery, Notifier

pytestmark = pytest.mark.e2e

HIGH, MID, LOW = 80, 30, 0
LOOP_RULE, SECOND_RULE = "PotMeanHigh", "PotActive"
# A Grafana whose whole policy tree sends every alert to the webhook (the contact point added
# at the root of an organisation that has other rules): only the webhook's selector then
# keeps other rules' alerts off the LED.
EVERYTHING_TO_THE_WEBHOOK = NotificationPolicy(
    "alertloop-webhook", group_wait=0.0, group_interval=1.0, repeat_interval=3600.0
)


def _loop_deliveries(notifier: Notifier) -> list[Delivery]:
    """The deliveries of the loop rule's notifications (not those of the second rule)."""
    return [d for d in notifier.deliveries if LOOP_RULE in (d.group_key or d.summary)]


def _turn_red_then_green(pipeline: Pipeline, mqtt_capture: MqttCapture) -> None:
    mqtt_capture.subscribe(pipeline.alert_topic)
    pipeline.esp32.set_knob(HIGH)
    pipeline.nodemcu.wait_for_led("red", timeout=pipeline.loop_timeout)
    message = mqtt_capture.wait_for(pipeline.alert_topic, lambda m: m.payload == b"1", timeout=1.0)
    assert message.qos == 1
    assert pipeline.alerting.state == "Alerting"
    firing = next(e for e in pipeline.alerting.history if e.state == "Alerting")
    assert firing.value is not None and firing.value > pipeline.threshold

    pipeline.esp32.set_knob(LOW)
    pipeline.nodemcu.wait_for_led("green", timeout=pipeline.loop_timeout)
    notifier = pipeline.alerting.notifier
    assert notifier is not None
    # The retained message can reach the LED board before the evaluator has read the
    # webhook's answer, so wait for both answers to be recorded.
    wait_until(
        lambda: len(_loop_deliveries(notifier)) >= 2,
        5.0,
        what="the webhook's answers to both notifications",
        state=lambda: notifier.deliveries,
    )
    mqtt_capture.wait_for(pipeline.alert_topic, lambda m: m.payload == b"0", timeout=1.0)
    assert pipeline.alerting.state == "Normal"


@pytest.mark.every_board
def test_knob_above_threshold_turns_red_and_back_down_turns_green(
    alertloop_pipeline: Pipeline, alertloop_mqtt_capture: MqttCapture
) -> None:
    _turn_red_then_green(alertloop_pipeline, alertloop_mqtt_capture)
    names = [change.state.name for change in alertloop_pipeline.nodemcu.history]
    assert names[-2:] == ["red", "green"]
    assert alertloop_pipeline.influxdb.count() >= 2  # the ingester stored what the knob published
    assert alertloop_pipeline.alerting.notifier is not None
    assert all(d.ok and d.status == 200 for d in alertloop_pipeline.alerting.notifier.deliveries)


@pytest.mark.parametrize(
    "alertloop_alerting",
    [{"payload": "unified"}, {"payload": "legacy"}],
    indirect=True,
    ids=["unified", "legacy"],
)
def test_the_webhook_accepts_the_evaluators_payloads(
    alertloop_pipeline: Pipeline, alertloop_mqtt_capture: MqttCapture
) -> None:
    _turn_red_then_green(alertloop_pipeline, alertloop_mqtt_capture)
    assert alertloop_pipeline.alerting.notifier is not None
    statuses = [d.status for d in _loop_deliveries(alertloop_pipeline.alerting.notifier)]
    assert statuses == [200, 200]


@pytest.mark.every_board
def test_a_nodemcu_that_connects_late_gets_the_current_state(
    alertloop_pipeline: Pipeline, alertloop_nodemcu_factory: Callable[..., object]
) -> None:
    alertloop_pipeline.esp32.set_knob(HIGH)
    alertloop_pipeline.nodemcu.wait_for_led("red", timeout=alertloop_pipeline.loop_timeout)
    notifier = alertloop_pipeline.alerting.notifier
    assert notifier is not None
    # the LED can change before the evaluator has recorded the webhook's answer
    wait_until(lambda: _loop_deliveries(notifier), 5.0, what="the webhook's answer to the alert")
    sent = len(_loop_deliveries(notifier))
    late = alertloop_nodemcu_factory()
    change = late.wait_for_led("red", timeout=2.0)  # type: ignore[attr-defined]
    # no notification since it connected: the retained message brought the state
    assert len(_loop_deliveries(notifier)) == sent
    assert change.state.name == "red"

    alertloop_pipeline.esp32.set_knob(LOW)
    alertloop_pipeline.nodemcu.wait_for_led("green", timeout=alertloop_pipeline.loop_timeout)
    later = alertloop_nodemcu_factory()
    assert later.wait_for_led("green", timeout=2.0).state.name == "green"  # type: ignore[attr-defined]
    assert [c.state.name for c in later.history if c.state.name != "off"] == ["green"]  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "alertloop_alerting",
    [
        pytest.param({}, id="provisioned-policy"),
        pytest.param({"policy": EVERYTHING_TO_THE_WEBHOOK}, id="everything-to-the-webhook"),
    ],
    indirect=True,
)
def test_a_second_rule_firing_beside_the_loops_never_moves_the_led(
    alertloop_pipeline: Pipeline, alertloop_mqtt_capture: MqttCapture
) -> None:
    alerting = alertloop_pipeline.alerting
    alertloop_mqtt_capture.subscribe(alertloop_pipeline.alert_topic)
    alertloop_pipeline.esp32.set_knob(MID)  # above PotActive's 5, below PotMeanHigh's 50
    alerting.wait_for_state("Alerting", timeout=alertloop_pipeline.loop_timeout, rule=SECOND_RULE)
    wait_until(
        lambda: alerting.dispatcher.notified(SECOND_RULE),
        alertloop_pipeline.react_timeout,
        what=f"the notification of {SECOND_RULE}",
    )
    alertloop_mqtt_capture.assert_no_message(alertloop_pipeline.alert_topic, within=LOOP_MARGIN)
    assert alertloop_mqtt_capture.on(alertloop_pipeline.alert_topic) == []
    assert "red" not in [c.state.name for c in alertloop_pipeline.nodemcu.history]
    assert alerting.state == "Normal"

    alertloop_pipeline.esp32.set_knob(HIGH)  # the loop's rule fires: red
    alertloop_pipeline.nodemcu.wait_for_led("red", timeout=alertloop_pipeline.loop_timeout)
    alertloop_pipeline.esp32.set_knob(MID)  # the loop's rule resolves, the second rule still fires
    alertloop_pipeline.nodemcu.wait_for_led("green", timeout=alertloop_pipeline.loop_timeout)
    green_at = time.monotonic()
    assert alerting.state_of(SECOND_RULE) == "Alerting"
    # When both rules share a notification group, the second rule's notifications carry the
    # loop rule's resolved alert again (as Grafana's do), so "0" may be published again; what
    # must not happen is a "1" or any change of the LED.
    with pytest.raises(TimeoutExpired):
        alertloop_mqtt_capture.wait_for(
            alertloop_pipeline.alert_topic,
            lambda m: m.time > green_at and m.payload != b"0",
            timeout=LOOP_MARGIN,
        )
    assert alertloop_pipeline.nodemcu.led.name == "green"
