"""The ingester and the webhook on the shared session against the real mosquitto over TLS:
stored and published through TLS (with and without a client certificate), a broker restart
with and without the session kept, and a broker that stops answering (SIGSTOP, SIGCONT)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import pytest
import requests

from alertloop.hil.influx import TestDatabase
from alertloop.hil.mqtt5_clients import publish_many, read_retained
from alertloop.hil.stack.tls import ConformanceMosquitto
from alertloop.services.common.deadline import wait_until
from alertloop.services.ingester import Ingester
from alertloop.services.webhook.examples import legacy
from alertloop.services.webhook.payloads import Decision
from alertloop.services.webhook.publisher import MqttPublisher


def payloads(n: int, start: int = 0) -> list[bytes]:
    return [
        b'{"value": %d, "ts": %d}' % (i % 101, 1_700_000_000_000 + i)
        for i in range(start, start + n)
    ]


@pytest.mark.parametrize("listener", ["tls", "mtls"], ids=["tls", "client-certificate"])
def test_ingester_over_tls_stores_every_message(
    alertloop_conformance_mosquitto: ConformanceMosquitto,
    alertloop_ingester_factory: Callable[..., Ingester],
    alertloop_influxdb: TestDatabase,
    alertloop_unique_topic: str,
    listener: str,
) -> None:
    alertloop_ingester_factory(mqtt=getattr(alertloop_conformance_mosquitto, listener))
    publish_many(
        alertloop_conformance_mosquitto.plain, f"{alertloop_unique_topic}/pot", payloads(500)
    )
    wait_until(
        lambda: alertloop_influxdb.count() == 500,
        20,
        what="500 points",
        state=alertloop_influxdb.count,
    )


@pytest.mark.parametrize("forget", [False, True], ids=["session-kept", "session-lost"])
def test_ingester_after_a_broker_restart(
    alertloop_conformance_mosquitto: ConformanceMosquitto,
    alertloop_ingester_factory: Callable[..., Ingester],
    alertloop_influxdb: TestDatabase,
    alertloop_unique_topic: str,
    caplog: pytest.LogCaptureFixture,
    forget: bool,
) -> None:
    ingester = alertloop_ingester_factory(mqtt=alertloop_conformance_mosquitto.tls)
    topic = f"{alertloop_unique_topic}/pot"
    publish_many(alertloop_conformance_mosquitto.plain, topic, payloads(100))
    wait_until(lambda: alertloop_influxdb.count() == 100, 20, what="the first 100 points")
    caplog.set_level(logging.INFO, logger="alertloop.services.ingester.transport")
    alertloop_conformance_mosquitto.restart(forget=forget)
    wait_until(
        lambda: ingester.connected and ingester._mqtt.session >= 2,
        20,
        what="the ingester to reconnect",
    )
    assert ingester._mqtt.session_present is not forget
    assert ingester.stats["mqtt_sessions_lost"] == int(forget)
    if forget:
        assert "no longer had our session" in caplog.text
    publish_many(alertloop_conformance_mosquitto.plain, topic, payloads(100, start=100))
    wait_until(
        lambda: alertloop_influxdb.count() == 200,
        20,
        what="200 points",
        state=alertloop_influxdb.count,
    )


def test_ingester_notices_a_frozen_broker_and_comes_back(
    alertloop_conformance_mosquitto: ConformanceMosquitto,
    alertloop_ingester_factory: Callable[..., Ingester],
    alertloop_influxdb: TestDatabase,
    alertloop_unique_topic: str,
) -> None:
    keepalive = 2
    ingester = alertloop_ingester_factory(
        mqtt=alertloop_conformance_mosquitto.tls, keepalive=keepalive
    )
    alertloop_conformance_mosquitto.suspend()
    frozen = time.monotonic()
    try:
        wait_until(lambda: not ingester.connected, 3 * keepalive, what="the ingester to notice")
        noticed = time.monotonic() - frozen
    finally:
        alertloop_conformance_mosquitto.resume()
    assert noticed <= 1.5 * keepalive + 0.5, noticed
    ingester.wait_connected(20)
    publish_many(
        alertloop_conformance_mosquitto.plain, f"{alertloop_unique_topic}/pot", payloads(50)
    )
    wait_until(
        lambda: alertloop_influxdb.count() == 50,
        20,
        what="50 points",
        state=alertloop_influxdb.count,
    )


@pytest.mark.parametrize("listener", ["tls", "mtls"], ids=["tls", "client-certificate"])
def test_webhook_over_tls_publishes_the_retained_state(
    alertloop_conformance_mosquitto: ConformanceMosquitto,
    alertloop_webhook_factory: Callable[..., object],
    listener: str,
) -> None:
    settings = getattr(alertloop_conformance_mosquitto, listener)
    hook = alertloop_webhook_factory(mqtt=settings, topic="conf/alert")
    response = requests.post(
        hook.alert_url,  # type: ignore[attr-defined]
        json=legacy("alerting"),
        auth=hook.auth,  # type: ignore[attr-defined]
        timeout=10,
    )
    assert response.status_code == 200, response.text
    assert read_retained(alertloop_conformance_mosquitto.plain, "conf/alert") == b"1"


def test_webhook_publisher_notices_a_frozen_broker_and_comes_back(
    alertloop_conformance_mosquitto: ConformanceMosquitto,
) -> None:
    keepalive = 2
    publisher = MqttPublisher(
        alertloop_conformance_mosquitto.tls, "conf/frozen", keepalive=keepalive, timeout=2.0
    ).start()
    try:
        publisher.wait_connected(10)
        alertloop_conformance_mosquitto.suspend()
        frozen = time.monotonic()
        try:
            wait_until(
                lambda: not publisher.connected, 3 * keepalive, what="the publisher to notice"
            )
            noticed = time.monotonic() - frozen
        finally:
            alertloop_conformance_mosquitto.resume()
        # the keeper services the session every 0.25 s
        assert noticed <= 1.5 * keepalive + 0.25 + 0.5, noticed
        publisher.wait_connected(20)
        result = publisher.publish(Decision(kind="legacy", value="0", reason="test"))
        assert result.outcome == "published"
    finally:
        publisher.stop()
    assert read_retained(alertloop_conformance_mosquitto.plain, "conf/frozen") == b"0"
