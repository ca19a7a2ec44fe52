"""mqtt_capture and the influxdb fixture on the shared stack."""

from __future__ import annotations

import threading

import pytest

from alertloop.hil.capture import CaptureError, MqttCapture
from alertloop.services.common.errors import TimeoutExpired


def test_retained_message_reaches_a_later_subscriber(
    mqtt_capture, mqtt_broker, unique_topic
) -> None:
    topic = f"{unique_topic}/alert"
    mqtt_capture.publish(topic, "1", qos=1, retain=True)
    with MqttCapture(mqtt_broker) as late:
        late.subscribe(topic)
        message = late.wait_for(topic, timeout=5)
    assert (message.payload, message.retain, message.qos) == (b"1", True, 1)


def test_capture_clears_retained_at_close(mqtt_broker, unique_topic) -> None:
    topic = f"{unique_topic}/state"
    with MqttCapture(mqtt_broker) as first:
        first.publish(topic, "0", retain=True)
    with MqttCapture(mqtt_broker) as second:
        second.subscribe(topic)
        second.assert_no_message(topic, within=0.3)


def test_wait_for_with_predicate_and_explaining_timeout(mqtt_capture, unique_topic) -> None:
    mqtt_capture.subscribe(f"{unique_topic}/#")
    for value in ("10", "60", "20"):
        mqtt_capture.publish(f"{unique_topic}/pot", value, qos=1)
    hit = mqtt_capture.wait_for(f"{unique_topic}/pot", lambda m: int(m.payload) > 50, timeout=5)
    assert hit.payload == b"60" and not hit.retain
    with pytest.raises(
        TimeoutExpired, match=r"no message on .*/pot.* matching .* last messages seen"
    ):
        mqtt_capture.wait_for(f"{unique_topic}/pot", lambda m: m.payload == b"99", timeout=0.2)


def test_assert_no_message_fails_when_one_arrives(mqtt_capture, unique_topic) -> None:
    mqtt_capture.subscribe(f"{unique_topic}/x")
    publisher = threading.Timer(0.1, mqtt_capture.publish, (f"{unique_topic}/x", "late", 1, True))
    publisher.start()
    try:
        with pytest.raises(CaptureError, match="unexpected message"):
            mqtt_capture.assert_no_message(f"{unique_topic}/x", within=3)
    finally:
        publisher.join()


@pytest.mark.parametrize("value", [1, 2], ids=["first", "second"])
def test_influxdb_fixture_isolates_tests(influxdb, value: int) -> None:
    assert influxdb.count() == 0, "a previous test's points are visible"
    influxdb.client.write_points([{"measurement": "pot", "fields": {"value": value}}])
    assert influxdb.query('SELECT "value" FROM "pot"')[0]["value"] == value
