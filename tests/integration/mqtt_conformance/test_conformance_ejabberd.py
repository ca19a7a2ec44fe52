"""The shared MQTT 5 session, the ingester and the webhook against a second, independent MQTT 5
broker: ejabberd's ``mod_mqtt``, on a plain and a TLS listener (skipped with the reason when
ejabberd is not installed)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import requests

from alertloop.hil.influx import TestDatabase
from alertloop.hil.mqtt5_clients import collect, connect, publish_many, read_retained, subscribe
from alertloop.hil.stack.ejabberd import EjabberdBroker
from alertloop.services.common.deadline import wait_until
from alertloop.services.common.mqtt import new_client_id
from alertloop.services.common.mqtt5_errors import MqttAuthError
from alertloop.services.ingester import Ingester
from alertloop.services.webhook.examples import legacy
from tests.integration.mqtt_conformance.frozen_broker import assert_a_freeze_is_noticed


def payloads(n: int, start: int = 0) -> list[bytes]:
    return [
        b'{"value": %d, "ts": %d}' % (i % 101, 1_500_000_000_000 + i)
        for i in range(start, start + n)
    ]


LISTENERS = ["mqtt", "tls"]


@pytest.mark.parametrize("listener", LISTENERS, ids=["plain", "tls"])
@pytest.mark.parametrize("qos", [0, 1, 2], ids=["qos0", "qos1", "qos2"])
def test_publish_is_acknowledged_and_delivered(
    alertloop_ejabberd_broker: EjabberdBroker, qos: int, listener: str
) -> None:
    settings = getattr(alertloop_ejabberd_broker, listener)
    reader, _ = connect(settings)
    subscribe(reader, f"conf/q{qos}/#", qos=2)
    writer, _ = connect(settings)
    try:
        writer.publish_wait(f"conf/q{qos}/x", b"42", qos, timeout=5.0)
        (message,) = collect(reader, 1)
        assert (message.payload, int(message.qos)) == (b"42", qos)
    finally:
        writer.close()
        reader.close()


def test_wrong_password_is_an_auth_error(alertloop_ejabberd_broker: EjabberdBroker) -> None:
    from dataclasses import replace

    with pytest.raises(MqttAuthError):
        connect(replace(alertloop_ejabberd_broker.mqtt, password="wrong"))


def test_session_present_after_reconnect(alertloop_ejabberd_broker: EjabberdBroker) -> None:
    client_id = new_client_id("present")
    first, accepted = connect(
        alertloop_ejabberd_broker.mqtt, client_id, clean_start=False, session_expiry=60
    )
    assert not accepted.session_present
    first.close()
    again, accepted = connect(
        alertloop_ejabberd_broker.mqtt, client_id, clean_start=False, session_expiry=60
    )
    assert accepted.session_present
    again.close()
    fresh, accepted = connect(alertloop_ejabberd_broker.mqtt, client_id, clean_start=True)
    assert not accepted.session_present
    fresh.close()


@pytest.mark.parametrize(
    ("listener", "count"), [("mqtt", 2000), ("tls", 500)], ids=["plain", "tls"]
)
def test_ingester_stores_every_qos1_message(
    alertloop_ejabberd_broker: EjabberdBroker,
    alertloop_ingester_factory: Callable[..., Ingester],
    alertloop_influxdb: TestDatabase,
    alertloop_unique_topic: str,
    listener: str,
    count: int,
) -> None:
    alertloop_ingester_factory(mqtt=getattr(alertloop_ejabberd_broker, listener))
    publish_many(alertloop_ejabberd_broker.mqtt, f"{alertloop_unique_topic}/pot", payloads(count))
    wait_until(
        lambda: alertloop_influxdb.count() == count,
        60,
        what=f"{count} points",
        state=alertloop_influxdb.count,
    )


@pytest.mark.parametrize("listener", LISTENERS, ids=["plain", "tls"])
def test_webhook_publishes_the_retained_state(
    alertloop_ejabberd_broker: EjabberdBroker,
    alertloop_webhook_factory: Callable[..., object],
    listener: str,
) -> None:
    topic = f"conf/alert-{listener}"
    hook = alertloop_webhook_factory(mqtt=getattr(alertloop_ejabberd_broker, listener), topic=topic)
    response = requests.post(
        hook.alert_url,  # type: ignore[attr-defined]
        json=legacy("alerting"),
        auth=hook.auth,  # type: ignore[attr-defined]
        timeout=10,
    )
    assert response.status_code == 200, response.text
    assert read_retained(alertloop_ejabberd_broker.mqtt, topic) == b"1"


def test_a_frozen_broker_is_noticed_within_one_and_a_half_keepalives(
    alertloop_ejabberd_broker: EjabberdBroker,
) -> None:
    assert_a_freeze_is_noticed(alertloop_ejabberd_broker.mqtt, alertloop_ejabberd_broker)


def test_ingester_resumes_its_session_after_its_own_restart(
    alertloop_ejabberd_broker: EjabberdBroker,
    alertloop_ingester_factory: Callable[..., Ingester],
    alertloop_influxdb: TestDatabase,
    alertloop_unique_topic: str,
) -> None:
    client_id, topic = new_client_id("resume"), f"{alertloop_unique_topic}/pot"
    first = alertloop_ingester_factory(mqtt=alertloop_ejabberd_broker.mqtt, client_id=client_id)
    publish_many(alertloop_ejabberd_broker.mqtt, topic, payloads(100))
    wait_until(lambda: alertloop_influxdb.count() == 100, 20, what="the first 100 points")
    first.stop()
    publish_many(
        alertloop_ejabberd_broker.mqtt, topic, payloads(100, start=100)
    )  # kept for the session
    again = alertloop_ingester_factory(mqtt=alertloop_ejabberd_broker.mqtt, client_id=client_id)
    assert again._mqtt.session_present
    wait_until(
        lambda: alertloop_influxdb.count() == 200,
        20,
        what="200 points",
        state=alertloop_influxdb.count,
    )


def test_ingester_after_a_broker_restart_that_lost_its_session(
    alertloop_ejabberd_broker: EjabberdBroker,
    alertloop_ingester_factory: Callable[..., Ingester],
    alertloop_influxdb: TestDatabase,
    alertloop_unique_topic: str,
) -> None:
    """mod_mqtt keeps sessions in memory: after its restart the session is gone (session
    present 0), and the ingester says so, subscribes again and goes on storing."""
    ingester = alertloop_ingester_factory(mqtt=alertloop_ejabberd_broker.mqtt)
    topic = f"{alertloop_unique_topic}/pot"
    publish_many(alertloop_ejabberd_broker.mqtt, topic, payloads(100))
    wait_until(lambda: alertloop_influxdb.count() == 100, 20, what="the first 100 points")
    alertloop_ejabberd_broker.stop()
    alertloop_ejabberd_broker.start()
    wait_until(lambda: ingester.connected and ingester._mqtt.session >= 2, 30, what="a reconnect")
    assert not ingester._mqtt.session_present
    assert ingester.stats["mqtt_sessions_lost"] == 1
    publish_many(alertloop_ejabberd_broker.mqtt, topic, payloads(100, start=100))
    wait_until(
        lambda: alertloop_influxdb.count() == 200,
        20,
        what="200 points",
        state=alertloop_influxdb.count,
    )
