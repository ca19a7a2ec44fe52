"""One spool, one process: a second ingester on the same spool directory or with the same
client id refuses to start, names the holder's pid and says how to run several, and the first
one loses nothing it acknowledged. Real processes, real mosquitto and InfluxDB."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
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
from alertloop.services.ingester.errors import LockHeld

ROOT = Path(__file__).resolve().parents[2]


class Process:
    """``python -m alertloop.services.ingester`` with ``args``; stderr to ``log``; a metrics port."""

    def __init__(self, args: Sequence[str], env: dict[str, str], log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        argv = [
            sys.executable,
            "-m",
            "alertloop.services.ingester",
            "--metrics-bind",
            f"127.0.0.1:{self.port}",
        ]
        argv += ["--log-format", "text", "--reconnect-min", "0.1", "--reconnect-max", "1", *args]
        with open(log, "ab") as stderr:
            self.proc = subprocess.Popen(
                argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=stderr
            )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def healthy(self) -> bool:
        try:
            return requests.get(f"{self.url}/healthz", timeout=1).json()["status"] == "ok"
        except (requests.RequestException, ValueError):
            return False

    def wait_healthy(self) -> Process:
        wait_until(self.healthy, 15, what=f"ingester pid {self.pid} healthy", state=self.tail)
        return self

    def tail(self) -> str:
        return self.log.read_text()[-3000:]

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
        return self.proc.wait(30)


class Publisher:
    """Publishes ``payloads`` at QoS 1 from a thread, paced by ``interval`` s."""

    def __init__(self, mqtt: MqttSettings, topic: str, payloads: list[bytes], interval: float):
        self.client = make_client(mqtt, new_client_id("pub"))
        self.client.max_inflight_messages_set(100)
        self.client.connect(mqtt.host, mqtt.port, 30)
        self.client.loop_start()
        self._infos: list[Any] = []
        self._pace = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(topic, payloads, interval), daemon=True
        )
        self._thread.start()

    def _run(self, topic: str, payloads: list[bytes], interval: float) -> None:
        for payload in payloads:
            self._infos.append(self.client.publish(topic, payload, qos=1))
            self._pace.wait(interval)  # pacing of the load, not a wait for an event

    def finish(self, timeout: float = 30.0) -> None:
        """Wait until the broker acknowledged every message."""
        self._thread.join(timeout)
        wait_until(lambda: all(i.is_published() for i in self._infos), timeout, what="puback")
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def processes() -> Iterator[list[Process]]:
    started: list[Process] = []
    yield started
    for process in started:
        process.stop()


def environment(mqtt: MqttSettings, db: TestDatabase, state: Path, **extra: str) -> dict[str, str]:
    """Settings through the environment, the state directory (the default spool's home) ours."""
    return {
        **os.environ,
        "XDG_STATE_HOME": str(state),
        "ALERTLOOP_MQTT_URL": mqtt.url,
        "ALERTLOOP_INFLUX_URL": db.settings.url,
        "ALERTLOOP_INFLUX_DB": db.name,
        **extra,
    }


def refused(process: Process) -> str:
    """Wait for ``process`` to give up starting; its stderr."""
    assert process.proc.wait(20) == 2, process.tail()
    return process.log.read_text()


def test_a_second_instance_with_default_settings_refuses_and_nothing_is_lost(
    alertloop_native_stack_factory: Callable[..., Any],
    processes: list[Process],
    alertloop_unique_topic: str,
    tmp_path: Path,
) -> None:
    own = alertloop_native_stack_factory()  # the default client id gets a broker of its own
    db = TestDatabase(own.influx, label="two_defaults").create()
    topic = f"{alertloop_unique_topic}/pot"
    env = environment(own.mqtt, db, tmp_path / "state", ALERTLOOP_INGEST_TOPIC=topic)
    first = Process([], env, tmp_path / "first.log").wait_healthy()
    processes.append(first)
    payloads = [str(i % 101).encode() for i in range(1000)]
    publisher = Publisher(own.mqtt, topic, payloads, 0.001)
    second = Process([], env, tmp_path / "second.log")
    processes.append(second)
    error = refused(second)
    assert f"is in use by another ingester (pid {first.pid})" in error
    assert "client id alertloop-ingester" in error
    assert "--client-id" in error and "--spool-dir" in error and "--share-group" in error
    publisher.finish()
    wait_until(
        lambda: db.count() == len(payloads),
        30,
        what="every message stored by the first instance",
        state=lambda: (db.count(), first.tail()),
    )
    assert first.healthy()
    assert first.stop() == 0
    assert "MQTT connection lost" not in first.log.read_text()  # never thrown off the broker
    db.drop()


def test_same_spool_dir_on_a_shared_subscription_refuses(
    alertloop_mqtt_broker: MqttSettings,
    alertloop_influxdb: TestDatabase,
    processes: list[Process],
    alertloop_unique_topic: str,
    tmp_path: Path,
) -> None:
    env = environment(alertloop_mqtt_broker, alertloop_influxdb, tmp_path / "state")
    spool = tmp_path / "spool"
    common = [
        "--topic",
        f"{alertloop_unique_topic}/pot",
        "--share-group",
        "g",
        "--spool-dir",
        str(spool),
    ]
    first = Process([*common, "--client-id", new_client_id("a")], env, tmp_path / "a.log")
    processes.append(first.wait_healthy())
    before = sorted(p.name for p in spool.iterdir())
    second = Process([*common, "--client-id", new_client_id("b")], env, tmp_path / "b.log")
    processes.append(second)
    error = refused(second)
    assert f"the spool directory {spool} is in use by another ingester (pid {first.pid})" in error
    assert sorted(p.name for p in spool.iterdir()) == before  # it touched nothing
    assert first.healthy()


def test_same_client_id_with_another_spool_refuses_on_this_host(
    alertloop_mqtt_broker: MqttSettings,
    alertloop_influxdb: TestDatabase,
    processes: list[Process],
    alertloop_unique_topic: str,
    tmp_path: Path,
) -> None:
    env = environment(alertloop_mqtt_broker, alertloop_influxdb, tmp_path / "state")
    client_id = new_client_id("twin")
    common = ["--topic", f"{alertloop_unique_topic}/pot", "--client-id", client_id]
    first = Process([*common, "--spool-dir", str(tmp_path / "a")], env, tmp_path / "a.log")
    processes.append(first.wait_healthy())
    second = Process([*common, "--spool-dir", str(tmp_path / "b")], env, tmp_path / "b.log")
    processes.append(second)
    error = refused(second)
    assert f"the client id {client_id!r}" in error
    assert f"in use by another ingester (pid {first.pid})" in error
    assert "one connection per client id" in error
    assert first.healthy()


def test_two_ingester_objects_on_one_spool(
    alertloop_ingester_factory: Callable[..., Ingester], tmp_path: Path
) -> None:
    spool = tmp_path / "one"
    first = alertloop_ingester_factory(spool_dir=spool)
    with pytest.raises(LockHeld, match=rf"pid {os.getpid()}\) \[client id {first.cfg.client_id}"):
        alertloop_ingester_factory(spool_dir=spool)
    wait_until(lambda: first.health()[0], 10, what="the first healthy", state=first.health)
    first.stop()
    alertloop_ingester_factory(spool_dir=spool)  # released by stop
