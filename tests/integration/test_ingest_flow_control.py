"""Flow control: when the pipeline cannot keep up, the ingester stops reading from the broker
instead of dropping messages, with the real mosquitto and InfluxDB."""

from __future__ import annotations

from collections.abc import Callable

import requests

from alertloop.hil.influx import TestDatabase
from alertloop.hil.mqtt5_clients import blast_qos0, publish_many
from alertloop.hil.stack.probes import free_port
from alertloop.services.common.config import InfluxSettings, MqttSettings
from alertloop.services.common.deadline import wait_until
from alertloop.services.ingester import Ingester


def numbered(n: int, start: int = 0) -> list[bytes]:
    """JSON payloads with distinct device times: every message is its own point."""
    return [
        b'{"value": %d, "ts": %d}' % (i % 101, 1_600_000_000_000 + i)
        for i in range(start, start + n)
    ]


def test_qos1_flood_beyond_the_queue_is_all_stored(
    alertloop_ingester_factory: Callable[..., Ingester],
    alertloop_influxdb: TestDatabase,
    alertloop_mqtt_broker: MqttSettings,
    alertloop_unique_topic: str,
) -> None:
    ingester = alertloop_ingester_factory(
        receive_maximum=50, queue_size=50, metrics_bind="127.0.0.1:0"
    )
    publish_many(alertloop_mqtt_broker, f"{alertloop_unique_topic}/pot", numbered(10_000))
    wait_until(
        lambda: alertloop_influxdb.count() == 10_000,
        60,
        what="10,000 points",
        state=alertloop_influxdb.count,
    )
    stats = ingester.stats
    assert stats["queue_overflow"] == 0
    assert stats["acked"] == stats["received"] == 10_000
    health = requests.get(f"{ingester.metrics_url}/healthz", timeout=5).json()["checks"]
    assert health["dropped"] == 0 and health["reading_paused"] is False


def test_qos0_floods_never_stop_qos1_ingestion(
    alertloop_ingester_factory: Callable[..., Ingester],
    alertloop_influxdb: TestDatabase,
    alertloop_mqtt_broker: MqttSettings,
    alertloop_unique_topic: str,
) -> None:
    """Floods of QoS 0 beyond the queue, then 1,000 QoS 1: everything is stored (the old
    ingester dropped QoS 1 messages unacknowledged and stopped taking any after a few floods)."""
    ingester = alertloop_ingester_factory(
        receive_maximum=20, queue_size=100, metrics_bind="127.0.0.1:0"
    )
    topic, sent = f"{alertloop_unique_topic}/pot", 0
    for _ in range(3):
        blast_qos0(alertloop_mqtt_broker, topic, numbered(20_000, start=sent))
        sent += 20_000
        publish_many(alertloop_mqtt_broker, topic, numbered(100, start=sent))
        sent += 100
    publish_many(alertloop_mqtt_broker, topic, numbered(1000, start=sent))
    sent += 1000
    wait_until(
        lambda: alertloop_influxdb.count() == sent,
        60,
        what=f"{sent} points",
        state=alertloop_influxdb.count,
    )
    stats = ingester.stats
    assert stats["reading_pauses"] > 0  # flow control was needed, and used
    assert stats["queue_overflow"] == 0
    text = requests.get(f"{ingester.metrics_url}/metrics", timeout=5).text
    assert "alertloop_ingest_reading_pauses_total" in text
    assert "alertloop_ingest_reading_paused 0.0" in text


def test_keepalive_holds_while_reading_is_paused(
    alertloop_ingester_factory: Callable[..., Ingester],
    alertloop_mqtt_broker: MqttSettings,
    alertloop_unique_topic: str,
) -> None:
    """InfluxDB away and a tiny spool: the pipeline stops, reading pauses, and the session
    stays up for many keepalive periods (no reconnect, no PINGRESP timeout)."""
    nowhere = InfluxSettings("127.0.0.1", free_port(), database="nowhere")
    keepalive = 1
    ingester = alertloop_ingester_factory(
        influx=nowhere,
        keepalive=keepalive,
        receive_maximum=20,
        queue_size=20,
        spool_max_bytes=2048,
    )
    publish_many(alertloop_mqtt_broker, f"{alertloop_unique_topic}/pot", numbered(500))
    transport = ingester._mqtt
    wait_until(lambda: transport.paused, 20, what="reading to pause", state=lambda: ingester.stats)
    wait_until(
        lambda: transport.paused_seconds > 4 * keepalive,
        20,
        what="a pause of several keepalive periods",
        state=lambda: (transport.paused, transport.session, ingester.stats),
    )
    assert transport.session == 1 and ingester.connected
    assert ingester.health()[1]["checks"]["reading_paused"] is True  # type: ignore[index]
