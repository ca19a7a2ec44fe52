"""The ingester on the real broker and database: seed payloads, dead letters, tags, metrics,
a type conflict inside a batch, shared subscriptions."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import requests

from alertloop.hil.capture import MqttCapture
from alertloop.hil.influx import TestDatabase
from alertloop.services.common.deadline import wait_until
from alertloop.services.common.healthz import version
from alertloop.services.ingester import Ingester
from alertloop.services.ingester.writer import InfluxWriter

DASHBOARD_QUERY = (
    'SELECT last("value") FROM "pot" WHERE time >= now() - 5m GROUP BY time(1s) fill(previous)'
)


def wait_count(
    db: TestDatabase,
    expected: int,
    timeout: float = 10.0,
    ingester: Ingester | None = None,
    others: tuple[Ingester, ...] = (),
) -> None:
    wait_until(
        lambda: db.count() == expected,
        timeout,
        what=f"{expected} points in {db.name}",
        state=lambda: {
            "count": db.count(),
            "stats": [i.stats for i in (ingester, *others) if i is not None] or None,
        },
    )


def test_seed_payloads_land_and_the_dashboard_query_returns_them(
    alertloop_ingester: Ingester,
    alertloop_influxdb: TestDatabase,
    alertloop_mqtt_capture: MqttCapture,
    alertloop_unique_topic: str,
) -> None:
    for value in (10, 55, 30):
        alertloop_mqtt_capture.publish(f"{alertloop_unique_topic}/pot", str(value))
    wait_count(alertloop_influxdb, 3, ingester=alertloop_ingester)
    values = [row["value"] for row in alertloop_influxdb.query('SELECT "value" FROM "pot"')]
    assert values == [10, 55, 30]
    dashboard = [
        row["last"] for row in alertloop_influxdb.query(DASHBOARD_QUERY) if row["last"] is not None
    ]
    assert dashboard and dashboard[-1] == 30
    assert alertloop_ingester.stats["acked"] == 3 and alertloop_ingester.stats["rejected"] == 0


BAD_PAYLOADS = [
    (b"", "empty"),
    (b"abc", "not_a_number"),
    (b"42.5", "wrong_type"),
    (b"101", "out_of_bounds"),
    (b"-3", "out_of_bounds"),
    (b"\xff\xfe\x00", "not_utf8"),
    (b"9" * 300, "too_long"),
    (b'{"value": "42"}', "wrong_type"),
    (b"{oops", "bad_json"),
    (b'{"value": 5, "ts": "now"}', "bad_ts"),
    (b'{"value": 5, "seq": -2}', "bad_seq"),
]


def test_every_bad_payload_is_dead_lettered_and_the_next_good_one_stored(
    alertloop_ingester_factory: Callable[..., Ingester],
    alertloop_influxdb: TestDatabase,
    alertloop_mqtt_capture: MqttCapture,
    alertloop_unique_topic: str,
    tmp_path: Any,
) -> None:
    dead_file = tmp_path / "dead.jsonl"
    dead_topic = f"{alertloop_unique_topic}/dead"
    alertloop_mqtt_capture.subscribe(dead_topic)
    ingester = alertloop_ingester_factory(dead_letter_file=dead_file, dead_letter_topic=dead_topic)
    topic = f"{alertloop_unique_topic}/pot"
    for index, (payload, _) in enumerate(BAD_PAYLOADS):
        alertloop_mqtt_capture.publish(topic, payload)
        alertloop_mqtt_capture.publish(topic, str(index))
    wait_count(alertloop_influxdb, len(BAD_PAYLOADS), ingester=ingester)
    stored = [row["value"] for row in alertloop_influxdb.query('SELECT "value" FROM "pot"')]
    assert stored == list(range(len(BAD_PAYLOADS)))

    records = [json.loads(line) for line in dead_file.read_text().splitlines()]
    assert [r["reason"] for r in records] == [reason for _, reason in BAD_PAYLOADS]
    assert all(r["topic"] == topic and r["time"] and r["detail"] for r in records)
    assert records[1]["payload"] == "abc"
    assert records[5]["payload_b64"] == "//4A"
    by_reason = ingester.stats["rejected_by_reason"]
    assert sum(by_reason.values()) == len(BAD_PAYLOADS)
    assert by_reason["out_of_bounds"] == 2
    published = alertloop_mqtt_capture.wait_for(
        dead_topic, lambda m: json.loads(m.payload)["reason"] == "bad_seq"
    )
    assert json.loads(published.payload)["payload"] == '{"value": 5, "seq": -2}'


def test_device_placeholder_becomes_a_tag_and_json_ts_is_the_time(
    alertloop_ingester_factory: Callable[..., Ingester],
    alertloop_influxdb: TestDatabase,
    alertloop_mqtt_capture: MqttCapture,
    alertloop_unique_topic: str,
) -> None:
    ingester = alertloop_ingester_factory(topics=[f"{alertloop_unique_topic}/{{device}}/pot"])
    ts = 1_700_000_000_000
    alertloop_mqtt_capture.publish(
        f"{alertloop_unique_topic}/esp-a/pot", json.dumps({"value": 7, "ts": ts, "seq": 1})
    )
    alertloop_mqtt_capture.publish(f"{alertloop_unique_topic}/esp b/pot", "8")
    alertloop_mqtt_capture.publish(
        f"{alertloop_unique_topic}/esp-a/pot", json.dumps({"value": 9, "ts": ts, "seq": 1})
    )
    wait_until(
        lambda: ingester.stats["written"] == 3,
        10,
        what="3 points written",
        state=lambda: ingester.stats,
    )
    rows = alertloop_influxdb.query('SELECT "value", "device" FROM "pot" WHERE time > 0')
    assert {(row["device"], row["value"]) for row in rows} == {("esp-a", 9), ("esp b", 8)}
    assert [row["time"] for row in rows if row["device"] == "esp-a"] == [ts * 1_000_000]


def test_metrics_and_healthz(
    alertloop_ingester_factory: Callable[..., Ingester],
    alertloop_mqtt_capture: MqttCapture,
    alertloop_unique_topic: str,
) -> None:
    ingester = alertloop_ingester_factory(metrics_bind="127.0.0.1:0")
    assert ingester.metrics_url
    alertloop_mqtt_capture.publish(f"{alertloop_unique_topic}/pot", "5")
    alertloop_mqtt_capture.publish(f"{alertloop_unique_topic}/pot", "x")
    wait_until(lambda: ingester.stats["written"] == 1, 10, what="one point written")
    health = requests.get(f"{ingester.metrics_url}/healthz", timeout=5)
    assert health.status_code == 200
    body = health.json()
    assert body["checks"] | {"spool_bytes": 0} == {
        "mqtt_connected": True,
        "influx_reachable": True,
        "spool_bytes": 0,
        "spool_lines": 0,
        "spool_full": False,
        "reading_paused": False,
        "dropped": 0,
    }
    assert body == {
        "status": "ok",
        "service": "ingester",
        "version": version(),
        "problems": {},
        "checks": body["checks"],
    }
    text = requests.get(f"{ingester.metrics_url}/metrics", timeout=5).text
    for name in ("spool_full_waits", "spool_errors", "dead_letters_lost"):
        assert f"alertloop_ingest_{name}_total 0.0" in text
    assert "alertloop_ingest_healthy 1.0" in text
    assert "alertloop_ingest_received_total 2.0" in text
    assert "alertloop_ingest_written_total 1.0" in text
    assert 'alertloop_ingest_rejected_total{reason="not_a_number"} 1.0' in text
    assert "alertloop_ingest_write_latency_seconds_count" in text
    for name in ("process_cpu_seconds_total", "process_resident_memory_bytes", "process_open_fds"):
        assert f"\n{name} " in text, name
    assert "alertloop_ingest_batch_size_bucket" in text


def test_type_conflict_in_a_batch_loses_only_that_point(alertloop_influxdb: TestDatabase) -> None:
    alertloop_influxdb.client.write_points(
        [{"measurement": "pot", "fields": {"value": 1}, "time": 1}]
    )
    writer = InfluxWriter(alertloop_influxdb.settings)
    lines = [b"pot value=%di %d" % (i, 1_700_000_000_000_000_000 + i) for i in range(50)]
    lines[23] = b"pot value=2.5 1700000000000000023"  # float into an integer field
    refused = writer.write_isolating(b"\n".join(lines) + b"\n")
    writer.close()
    assert [r.line for r in refused] == [lines[23]]
    assert "conflict" in refused[0].error
    assert alertloop_influxdb.count() == 1 + 49


def test_two_instances_on_a_shared_subscription_store_each_message_once(
    alertloop_ingester_factory: Callable[..., Ingester],
    alertloop_influxdb: TestDatabase,
    alertloop_mqtt_capture: MqttCapture,
    alertloop_unique_topic: str,
) -> None:
    group = alertloop_unique_topic.replace("/", "_")
    first = alertloop_ingester_factory(share_group=group)
    second = alertloop_ingester_factory(share_group=group)
    count = 200
    for seq in range(count):  # plain integers: receive-time stamps from two processes
        alertloop_mqtt_capture.publish(f"{alertloop_unique_topic}/pot", str(seq % 101))
    wait_count(alertloop_influxdb, count, ingester=first, others=(second,))
    received = (first.stats["received"], second.stats["received"])
    assert sum(received) == count
    assert min(received) > 0
    rows = alertloop_influxdb.query('SELECT "value", "ingester" FROM "pot"')
    assert {row["ingester"] for row in rows} == {first.cfg.client_id, second.cfg.client_id}
    assert sorted(row["value"] for row in rows) == sorted(s % 101 for s in range(count))
