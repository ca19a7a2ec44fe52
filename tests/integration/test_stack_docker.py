"""The docker backend on a real engine (Docker, or the Podman service ``make test`` starts).

Without an engine these tests skip with the reason; ``make test`` sets one up so they run.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from alertloop.hil.stack import DockerStack, DockerUnavailable, docker_available
from alertloop.hil.stack.docker import leftover_containers
from alertloop.hil.stack.engine import Engine, find_engine
from alertloop.hil.stack.probes import influx_ping_ok, mqtt_connect_ok
from alertloop.services.common.deadline import wait_until

ENGINE, WHY = docker_available()
needs_engine = pytest.mark.skipif(not ENGINE, reason=f"docker backend needs an engine: {WHY}")
pytestmark = [pytest.mark.docker]


@pytest.fixture(scope="module")
def engine() -> Engine:
    return find_engine()


@pytest.fixture(scope="module")
def docker_stack() -> Iterator[DockerStack]:
    with DockerStack(grafana=False) as the_stack:
        yield the_stack


def _retained(host: str, port: int, topic: str, timeout: float = 5.0) -> bytes | None:
    """The retained payload on ``topic`` (None when there is none), read by a fresh client."""
    got: list[bytes] = []
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    client.on_connect = lambda c, *_: c.subscribe(topic, qos=1)
    client.on_message = lambda _c, _u, msg: got.append(bytes(msg.payload))
    client.connect(host, port)
    client.loop_start()
    try:
        wait_until(lambda: got, timeout, what=f"the retained message on {topic}")
    finally:
        client.loop_stop()
        client.disconnect()
    return got[0]


def test_without_engine_start_raises_docker_unavailable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import alertloop.hil.stack.engine as engine_module

    monkeypatch.setattr(engine_module, "candidate_urls", lambda: [f"unix://{tmp_path}/no.sock"])
    with pytest.raises(DockerUnavailable, match="no Docker engine answers"):
        DockerStack(grafana=False).start()


@needs_engine
def test_servers_answer_on_loopback_and_the_database_exists(docker_stack: DockerStack) -> None:
    assert docker_stack.mqtt.host == docker_stack.influx.host == "127.0.0.1"
    assert mqtt_connect_ok(docker_stack.mqtt.host, docker_stack.mqtt.port, timeout=5)
    assert influx_ping_ok(docker_stack.influx.url, timeout=5)
    client = docker_stack.influx.client()
    try:
        assert {"name": docker_stack.database} in client.get_list_database()
    finally:
        client.close()
    assert docker_stack.images is not None
    assert docker_stack.images.source in docker_stack.describe()


@needs_engine
def test_published_ports_are_bound_to_loopback_only(docker_stack: DockerStack) -> None:
    for server in docker_stack.servers.values():
        container = server.docker_container  # type: ignore[attr-defined]
        container.reload()
        bindings = [b for ports in container.ports.values() if ports for b in ports]
        assert bindings, f"{server.name} publishes no port"
        assert {b["HostIp"] for b in bindings} == {"127.0.0.1"}


@needs_engine
def test_broker_restarts_on_the_same_port_and_keeps_retained_state(
    docker_stack: DockerStack, alertloop_unique_topic: str
) -> None:
    host, port = docker_stack.mqtt.host, docker_stack.mqtt.port
    topic = f"{alertloop_unique_topic}/alert"
    publish = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    publish.connect(host, port)
    publish.loop_start()
    publish.publish(topic, "1", qos=1, retain=True).wait_for_publish(5)
    publish.loop_stop()
    publish.disconnect()
    broker = docker_stack.servers["mqtt"]
    broker.stop()
    assert not broker.running
    assert not _answers(host, port)
    broker.start()
    assert broker.running and docker_stack.mqtt.port == port
    assert _retained(host, port, topic) == b"1"


def _answers(host: str, port: int) -> bool:
    try:
        return mqtt_connect_ok(host, port, timeout=1)
    except OSError:
        return False


@needs_engine
def test_killed_database_comes_back(docker_stack: DockerStack) -> None:
    database = docker_stack.servers["influxdb"]
    database.kill()
    assert not database.running
    database.start()
    assert influx_ping_ok(docker_stack.influx.url, timeout=5)


@needs_engine
def test_two_stacks_at_once_on_their_own_ports(docker_stack: DockerStack) -> None:
    with DockerStack(grafana=False) as second:
        assert second.mqtt.port != docker_stack.mqtt.port
        assert second.influx.port != docker_stack.influx.port
        assert mqtt_connect_ok(second.mqtt.host, second.mqtt.port, timeout=5)
        assert mqtt_connect_ok(docker_stack.mqtt.host, docker_stack.mqtt.port, timeout=5)


@needs_engine
def test_a_failed_start_leaves_no_container(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    import alertloop.hil.stack.docker as docker_module

    monkeypatch.setattr(docker_module, "influx_ping_ok", lambda url, timeout=1.0: False)
    the_stack = DockerStack(grafana=False, start_timeout=2.0)
    with pytest.raises(Exception, match="influxd to answer"):
        the_stack.start()
    assert leftover_containers(engine, the_stack.stack_id) == []


@needs_engine
def test_stop_removes_every_container_of_the_stack(engine: Engine) -> None:
    the_stack = DockerStack(grafana=False).start()
    assert len(leftover_containers(engine, the_stack.stack_id)) == 2
    the_stack.stop()
    assert leftover_containers(engine, the_stack.stack_id) == []


@needs_engine
def test_stack_up_cleans_up_on_sigterm(engine: Engine) -> None:
    before = set(leftover_containers(engine))
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "alertloop.hil.cli",
            "stack",
            "up",
            "--backend",
            "docker",
            "--no-grafana",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "DOCKER_HOST": engine.url},
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        assert first.startswith("ALERTLOOP_MQTT_URL=mqtt://127.0.0.1:"), first
        assert len(set(leftover_containers(engine)) - before) == 2
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert set(leftover_containers(engine)) == before


@needs_engine
def test_grafana_runs_where_its_image_can_be_had(engine: Engine) -> None:
    import docker
    import requests

    from alertloop.hil.stack.docker import GRAFANA_IMAGE
    from alertloop.hil.stack.images import available

    client = docker.DockerClient(base_url=engine.url)
    try:
        if not available(client, GRAFANA_IMAGE):
            pytest.skip(
                f"Grafana runs only where its image {GRAFANA_IMAGE} can be pulled "
                "(it has no Debian package to build a local image from)"
            )
    finally:
        client.close()
    with DockerStack(grafana=True) as the_stack:
        assert the_stack.grafana_url is not None
        health = requests.get(f"{the_stack.grafana_url}/api/health", timeout=10)
        assert health.status_code == 200
