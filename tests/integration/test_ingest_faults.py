"""The ingester under faults: InfluxDB down under load, a full spool, broker restart, SIGKILL
and SIGTERM of the ``python -m alertloop.services.ingester`` process."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests

from alertloop.hil.influx import TestDatabase
from alertloop.hil.stack.probes import free_port
from alertloop.services.common.config import MqttSettings
from alertloop.services.common.deadline import wait_until
from alertloop.services.common.mqtt import make_client, new_client_id
from alertloop.services.ingester import Ingester

ROOT = Path(__file__).resolve().parents[2]


class SteadyPublisher:
    """Publishes ``payloads`` at QoS 1 from a thread, one every ``interval`` seconds."""

    def __init__(
        self, mqtt: MqttSettings, topic: str, payloads: list[bytes], interval: float
    ) -> None:
        self.payloads, self.interval, self.topic = payloads, interval, topic
        self.client = make_client(mqtt, new_client_id("steady-pub"))
        self.client.max_inflight_messages_set(100)
        self.client.connect(mqtt.host, mqtt.port, 30)
        self.client.loop_start()
        self.sent = 0
        self._pace = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._infos: list[Any] = []

    def start(self) -> SteadyPublisher:
        self._thread.start()
        return self

    def _run(self) -> None:
        for payload in self.payloads:
            self._infos.append(self.client.publish(self.topic, payload, qos=1))
            self.sent += 1
            self._pace.wait(self.interval)  # pacing of the load, not a wait for an event

    def finish(self, timeout: float = 30.0) -> None:
        """Wait until every message is published and acknowledged by the broker."""
        self._thread.join(timeout)
        wait_until(
            lambda: all(i.is_published() for i in self._infos), timeout, what="publisher acks"
        )
        self.client.disconnect()
        self.client.loop_stop()


def values(db: TestDatabase) -> list[int]:
    return sorted(row["value"] for row in db.query('SELECT "value" FROM "pot"'))


def test_influxdb_down_under_load_then_back_stores_every_message_once(
    alertloop_native_stack_factory: Callable[..., Any],
    alertloop_ingester_factory: Callable[..., Ingester],
    alertloop_unique_topic: str,
    tmp_path: Path,
) -> None:
    own = alertloop_native_stack_factory()
    db = TestDatabase(own.influx, label="influx_down").create()
    ingester = alertloop_ingester_factory(mqtt=own.mqtt, influx=db.settings)
    payloads = [str(i % 101).encode() for i in range(600)]
    publisher = SteadyPublisher(own.mqtt, f"{alertloop_unique_topic}/pot", payloads, 0.004).start()
    wait_until(lambda: ingester.stats["written"] >= 50, 10, what="writes before the outage")
    own.servers["influxdb"].stop()
    wait_until(lambda: ingester.stats["write_failures"] >= 1, 10, what="a failed write")
    spooled_at_failure = ingester.stats["spooled"]
    wait_until(
        lambda: ingester.stats["spooled"] >= spooled_at_failure + 100,
        10,
        what="messages still accepted and spooled while InfluxDB is down",
        state=lambda: ingester.stats,
    )
    assert ingester.stats["acked"] == ingester.stats["received"] or ingester.stats["queue_depth"]
    own.servers["influxdb"].start()
    publisher.finish()
    wait_until(
        lambda: db.count() == len(payloads),
        30,
        what="every message stored",
        state=lambda: (db.count(), ingester.stats),
    )
    assert values(db) == sorted(int(p) for p in payloads)
    assert ingester.stats["written"] == len(payloads)
    db.drop()


def test_full_spool_stops_acknowledging_and_the_broker_holds_the_rest(
    alertloop_native_stack_factory: Callable[..., Any],
    alertloop_ingester_factory: Callable[..., Ingester],
    alertloop_unique_topic: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="alertloop.services.ingester")
    own = alertloop_native_stack_factory()
    db = TestDatabase(own.influx, label="spool_full").create()
    ingester = alertloop_ingester_factory(
        mqtt=own.mqtt, influx=db.settings, spool_max_bytes=2000, metrics_bind="127.0.0.1:0"
    )
    own.servers["influxdb"].stop()
    payloads = [str(i % 101).encode() for i in range(300)]
    publisher = SteadyPublisher(own.mqtt, f"{alertloop_unique_topic}/pot", payloads, 0).start()
    publisher.finish()
    wait_until(lambda: ingester.stats["spool_full_waits"] >= 3, 10, what="the spool to fill")
    held = len(payloads) - ingester.stats["acked"]
    assert held > 100, ingester.stats  # not acknowledged: still the broker's
    assert ingester.stats["spool_bytes"] <= 2000
    health = requests.get(f"{ingester.metrics_url}/healthz", timeout=5)
    assert health.status_code == 503 and health.json()["status"] == "failing"
    assert health.json()["checks"]["spool_full"] is True
    assert "not acknowledged" in health.json()["problems"]["spool_full"]
    metrics = requests.get(f"{ingester.metrics_url}/metrics", timeout=5).text
    waits = [line for line in metrics.splitlines() if line.startswith("alertloop_ingest_spool_f")]
    assert waits and float(waits[0].split()[-1]) >= 3, waits
    full_lines = [r for r in caplog.records if getattr(r, "condition", None) == "spool_full"]
    assert len(full_lines) == 1  # logged when it started, not once per wait
    own.servers["influxdb"].start()
    wait_until(
        lambda: db.count() == len(payloads),
        30,
        what="every message stored after the spool drained",
        state=lambda: (db.count(), ingester.stats),
    )
    assert values(db) == sorted(int(p) for p in payloads)
    wait_until(lambda: ingester.health()[0], 10, what="healthy again", state=ingester.health)
    assert ingester.health()[1]["checks"]["spool_full"] is False  # type: ignore[index]
    assert any(r.getMessage() == "spool_full is over" for r in caplog.records)
    db.drop()


def test_restart_writes_what_the_spool_kept(
    alertloop_native_stack_factory: Callable[..., Any],
    alertloop_ingester_factory: Callable[..., Ingester],
    alertloop_unique_topic: str,
    tmp_path: Path,
) -> None:
    own = alertloop_native_stack_factory()
    db = TestDatabase(own.influx, label="spool_restart").create()
    spool = tmp_path / "kept"
    first = alertloop_ingester_factory(
        mqtt=own.mqtt, influx=db.settings, spool_dir=spool, stop_timeout=0.2
    )
    own.servers["influxdb"].stop()
    SteadyPublisher(own.mqtt, f"{alertloop_unique_topic}/pot", [b"7"] * 40, 0).start().finish()
    wait_until(lambda: first.stats["acked"] == 40, 10, what="40 messages acknowledged")
    first.stop()
    assert first.stats["spool_lines"] == 40
    own.servers["influxdb"].start()
    second = alertloop_ingester_factory(
        mqtt=own.mqtt, influx=db.settings, spool_dir=spool, client_id=first.cfg.client_id
    )
    wait_until(lambda: db.count() == 40, 15, what="the spooled points written after restart")
    assert second.stats["received"] == 0  # nothing was redelivered: all had been acknowledged
    db.drop()


def test_broker_restart_resumes_ingestion(
    alertloop_native_stack_factory: Callable[..., Any],
    alertloop_ingester_factory: Callable[..., Ingester],
    alertloop_unique_topic: str,
) -> None:
    own = alertloop_native_stack_factory()
    db = TestDatabase(own.influx, label="broker_restart").create()
    ingester = alertloop_ingester_factory(mqtt=own.mqtt, influx=db.settings)
    SteadyPublisher(own.mqtt, f"{alertloop_unique_topic}/pot", [b"1"], 0).start().finish()
    wait_until(lambda: db.count() == 1, 10, what="the first point")
    own.servers["mqtt"].stop()
    wait_until(lambda: not ingester.connected, 10, what="the ingester to see the broker gone")
    own.servers["mqtt"].start()
    wait_until(lambda: ingester.connected, 15, what="reconnect and resubscribe")
    SteadyPublisher(own.mqtt, f"{alertloop_unique_topic}/pot", [b"2", b"3"], 0).start().finish()
    wait_until(
        lambda: db.count() == 3, 10, what="points after the restart", state=lambda: ingester.stats
    )
    db.drop()


# -- the real process: SIGKILL and SIGTERM ------------------------------------------------


class IngesterProcess:
    """``python -m alertloop.services.ingester`` with a metrics port; its JSON logs go to a file."""

    def __init__(
        self,
        mqtt: MqttSettings,
        db: TestDatabase,
        topic: str,
        spool: Path,
        client_id: str,
        log: Path,
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        argv = [
            sys.executable,
            "-m",
            "alertloop.services.ingester",
            "--topic",
            topic,
            "--client-id",
            client_id,
            "--spool-dir",
            str(spool),
            "--metrics-bind",
            f"127.0.0.1:{self.port}",
            "--retry-initial",
            "0.1",
            "--reconnect-min",
            "0.1",
            "--reconnect-max",
            "1",
        ]
        env = {
            **os.environ,
            "ALERTLOOP_MQTT_URL": mqtt.url,
            "ALERTLOOP_INFLUX_URL": db.settings.url,
            "ALERTLOOP_INFLUX_DB": db.name,
        }
        with open(log, "ab") as stderr:
            self.proc = subprocess.Popen(
                argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=stderr
            )
        wait_until(self.healthy, 15, what="the ingester process to be healthy", state=self.tail)

    def healthy(self) -> bool:
        try:
            return requests.get(f"{self.url}/healthz", timeout=1).json()["status"] == "ok"
        except (requests.RequestException, ValueError):
            return self.proc.poll() is not None and False

    def metric(self, name: str) -> float:
        try:
            text = requests.get(f"{self.url}/metrics", timeout=2).text
        except requests.RequestException:
            return -1.0
        for line in text.splitlines():
            if line.startswith(f"alertloop_ingest_{name}"):
                return float(line.split()[-1])
        return -1.0

    def tail(self) -> str:
        return self.log.read_text()[-2000:]


def _json_payloads(count: int) -> list[bytes]:
    # Device times make a redelivered message rewrite its own point instead of adding one.
    return [
        json.dumps({"value": s % 101, "ts": 1_700_000_000_000 + s, "seq": s}).encode()
        for s in range(count)
    ]


def test_sigkill_under_load_then_restart_loses_no_message(
    alertloop_mqtt_broker: MqttSettings,
    alertloop_influxdb: TestDatabase,
    alertloop_unique_topic: str,
    tmp_path: Path,
) -> None:
    client_id, spool, topic = (
        new_client_id("killed"),
        tmp_path / "spool",
        f"{alertloop_unique_topic}/pot",
    )
    first = IngesterProcess(
        alertloop_mqtt_broker, alertloop_influxdb, topic, spool, client_id, tmp_path / "first.log"
    )
    payloads = _json_payloads(3000)
    publisher = SteadyPublisher(alertloop_mqtt_broker, topic, payloads, 0.0002).start()
    wait_until(
        lambda: first.metric("acked_total") >= 500, 20, what="500 messages taken", state=first.tail
    )
    first.proc.send_signal(signal.SIGKILL)
    assert first.proc.wait(10) == -signal.SIGKILL
    second = IngesterProcess(
        alertloop_mqtt_broker, alertloop_influxdb, topic, spool, client_id, tmp_path / "second.log"
    )
    publisher.finish()
    try:
        wait_until(
            lambda: alertloop_influxdb.count() == len(payloads),
            30,
            what="every message stored",
            state=lambda: (alertloop_influxdb.count(), second.tail()),
        )
    finally:
        second.proc.send_signal(signal.SIGTERM)
        second.proc.wait(20)
    assert values(alertloop_influxdb) == sorted(s % 101 for s in range(len(payloads)))


def test_sigterm_flushes_acknowledges_and_exits_zero(
    alertloop_mqtt_broker: MqttSettings,
    alertloop_influxdb: TestDatabase,
    alertloop_unique_topic: str,
    tmp_path: Path,
    alertloop_ingester_factory: Callable[..., Ingester],
) -> None:
    client_id, spool, topic = (
        new_client_id("termed"),
        tmp_path / "spool",
        f"{alertloop_unique_topic}/pot",
    )
    proc = IngesterProcess(
        alertloop_mqtt_broker, alertloop_influxdb, topic, spool, client_id, tmp_path / "run.log"
    )
    payloads = [str(i % 101).encode() for i in range(1500)]
    publisher = SteadyPublisher(alertloop_mqtt_broker, topic, payloads, 0.0002).start()
    wait_until(
        lambda: proc.metric("received_total") >= 200, 20, what="messages flowing", state=proc.tail
    )
    proc.proc.send_signal(signal.SIGTERM)
    assert proc.proc.wait(20) == 0, proc.tail()
    stopped = [
        json.loads(line)
        for line in proc.log.read_text().splitlines()
        if '"ingester stopped"' in line
    ]
    stats = stopped[-1]["stats"]
    assert stats["acked"] == stats["received"] == stats["written"] > 0
    assert stats["spool_lines"] == 0
    assert alertloop_influxdb.count() == stats["written"]
    publisher.finish()
    # Plain integers get receive-time stamps: a redelivered message would be a second point.
    after = alertloop_ingester_factory(client_id=client_id, spool_dir=spool)
    wait_until(
        lambda: alertloop_influxdb.count() == len(payloads),
        20,
        what="the rest stored by the next run",
        state=lambda: (alertloop_influxdb.count(), after.stats),
    )
    assert after.stats["received"] == len(payloads) - stats["received"]
    assert values(alertloop_influxdb) == sorted(int(p) for p in payloads)
