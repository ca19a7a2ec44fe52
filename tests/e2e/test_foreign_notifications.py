"""The whole loop with real Grafana bodies of other rules and of the Test button thrown in: only
the loop's own alert moves the LED."""

from __future__ import annotations

import pytest
import requests

from alertloop.hil.capture import MqttCapture
from alertloop.hil.pytest_plugin.pipeline_fixtures import Pipeline
from tests.conformance.grafana.corpus import load_corpus

pytestmark = pytest.mark.e2e

HIGH, LOW = 80, 0
CORPUS = {entry.name: entry for entry in load_corpus()}
# What a Grafana shared with other alerts sends the contact point besides the loop's alert.
FOREIGN = (
    "unified-g9-resolved",  # another rule resolves
    "unified-g9-mixed",
    "unified-g11-other-rule-firing",  # another rule fires
    "unified-g9-testalert-firing",  # the Test button
    "unified-g9-testalert-resolved",
    "unified-datasource-error",  # other rules' query errors
    "legacy-test-ok",
)


def _send_foreign(pipeline: Pipeline) -> None:
    for name in FOREIGN:
        response = requests.post(
            pipeline.webhook.alert_url,
            json=CORPUS[name].body,
            auth=pipeline.webhook.auth,
            timeout=10,
        )
        assert response.status_code == 200, (name, response.text)
        assert response.json()["status"] == "ignored", (name, response.text)


def test_other_rules_and_the_test_button_leave_the_led_alone(
    alertloop_pipeline: Pipeline, alertloop_mqtt_capture: MqttCapture
) -> None:
    alertloop_mqtt_capture.subscribe(alertloop_pipeline.alert_topic)
    alertloop_pipeline.esp32.set_knob(HIGH)
    alertloop_pipeline.nodemcu.wait_for_led("red", timeout=alertloop_pipeline.loop_timeout)
    alertloop_mqtt_capture.wait_for(
        alertloop_pipeline.alert_topic, lambda m: m.payload == b"1", timeout=1.0
    )
    red_changes = len(alertloop_pipeline.nodemcu.history)

    _send_foreign(alertloop_pipeline)
    alertloop_mqtt_capture.assert_no_message(alertloop_pipeline.alert_topic, within=1.0)
    assert alertloop_pipeline.nodemcu.led.name == "red"
    assert len(alertloop_pipeline.nodemcu.history) == red_changes

    alertloop_pipeline.esp32.set_knob(LOW)
    alertloop_pipeline.nodemcu.wait_for_led("green", timeout=alertloop_pipeline.loop_timeout)
    green_changes = len(alertloop_pipeline.nodemcu.history)
    _send_foreign(alertloop_pipeline)
    alertloop_mqtt_capture.assert_no_message(alertloop_pipeline.alert_topic, within=1.0)
    assert alertloop_pipeline.nodemcu.led.name == "green"
    assert len(alertloop_pipeline.nodemcu.history) == green_changes
