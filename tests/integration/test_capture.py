"""mqtt_capture and the influxdb fixture on the shared stack."""

from __future__ import annotations

import threading

import pytest

from alertloop.hil.capture import CaptureError, MqttCapture
from alertloop.services.common.errors import TimeoutExpired


def test_retained_message_reaches_a_later_subscriber(
    alertloop_mqtt_capture, alertloop_mqtt_broker, alertloop_unique_topic
) -> None:
    topic = f"{alertloop_unique_topic}/alert"
    alertloop_mqtt_capture.publish(topic, "1", qos=1, retain=True)
    with MqttCapture(alertloop_mqtt_broker) as late:
        late.subscribe(topic)
        message = late.wait_for(topic, timeout=5)
    assert (message.payload, message.retain, message.qos) == (b"1", True, 1)


def test_capture_clears_retained_at_close(alertloop_mqtt_broker, alertloop_unique_topic) -> None:
    topic = f"{alertloop_unique_topic}/state"
    with MqttCapture(alertloop_mqtt_broker) as first:
        first.publish(topic, "0", retain=True)
    with MqttCapture(alertloop_mqtt_broker) as second:
        second.subscribe(topic)
        second.assert_no_message(topic, within=0.3)


def test_wait_for_with_predicate_and_explaining_timeout(
    alertloop_mqtt_capture, alertloop_unique_topic
) -> None:
    alertloop_mqtt_capture.subscribe(f"{alertloop_unique_topic}/#")
    for value in ("10", "60", "20"):
        alertloop_mqtt_capture.publish(f"{alertloop_unique_topic}/pot", value, qos=1)
    hit = alertloop_mqtt_capture.wait_for(
        f"{alertloop_unique_topic}/pot", lambda m: int(m.payload) > 50, timeout=5
    )
    assert hit.payload == b"60" and not hit.retain
    with pytest.raises(
        TimeoutExpired, match=r"no message on .*/pot.* matching .* last messages seen"
    ):
        alertloop_mqtt_capture.wait_for(
            f"{alertloop_unique_topic}/pot", lambda m: m.payload == b"99", timeout=0.2
        )


def test_assert_no_message_fails_when_one_arrives(
    alertloop_mqtt_capture, alertloop_unique_topic
) -> None:
    alertloop_mqtt_capture.subscribe(f"{alertloop_unique_topic}/x")
    publisher = threading.Timer(
        0.1, alertloop_mqtt_capture.publish, (f"{alertloop_unique_topic}/x", "late", 1, True)
    )
    publisher.start()
    try:
        with pytest.raises(CaptureError, match="unexpected message"):
            alertloop_mqtt_capture.assert_no_message(f"{alertloop_unique_topic}/x", within=3)
    finally:
        publisher.join()


@pytest.mark.parametrize("value", [1, 2], ids=["first", "second"])
def test_influxdb_fixture_isolates_tests(alertloop_influxdb, value: int) -> None:
    assert alertloop_influxdb.count() == 0, "a previous test's points are visible"
    alertloop_influxdb.client.write_points([{"measurement": "pot", "fields": {"value": value}}])
    assert alertloop_influxdb.query('SELECT "value" FROM "pot"')[0]["value"] == value
