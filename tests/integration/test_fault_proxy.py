"""The fault proxy between real clients and the real broker: latency, stall, refuse, drop,
heal; fault schedules with server restarts; the command line."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from alertloop.hil.capture import MqttCapture
from alertloop.hil.faults import FaultProxy, FaultProxyError, FaultRunner, FaultSchedule
from alertloop.services.common.config import MqttSettings
from alertloop.services.common.deadline import wait_until
from alertloop.sim.fleet import Fleet


def test_latency_delays_every_message_by_at_least_the_setting(
    alertloop_fault_proxy: FaultProxy,
    alertloop_mqtt_broker: MqttSettings,
    alertloop_unique_topic: str,
) -> None:
    topic = f"{alertloop_unique_topic}/x"
    with MqttCapture(alertloop_fault_proxy.mqtt_settings(alertloop_mqtt_broker)) as through:
        through.subscribe(topic)
        alertloop_fault_proxy.set_latency(0.3, 0.05)
        sent = time.monotonic()
        through.publish(topic, "hello", qos=1)  # waits for the PUBACK: up and back
        acked = time.monotonic() - sent
        message = through.wait_for(topic, timeout=5)
    assert acked >= 2 * 0.25
    assert message.time - sent >= 2 * 0.25  # publish up, delivery down
    assert alertloop_fault_proxy.events[-1].action == "latency"


def test_a_stalled_link_drops_the_fleet_and_heal_brings_it_back(
    alertloop_fault_proxy: FaultProxy,
    alertloop_fleet_factory: Callable[..., Fleet],
    alertloop_mqtt_broker: MqttSettings,
    alertloop_mqtt_capture: MqttCapture,
) -> None:
    fleet = alertloop_fleet_factory(
        mqtt=alertloop_fault_proxy.mqtt_settings(alertloop_mqtt_broker),
        esp32=20,
        keepalive=2,
        connect_timeout=2.0,
    )
    alertloop_mqtt_capture.subscribe("status/#")
    alertloop_fault_proxy.stall()
    # the broker hears nothing for 1.5 keepalives and publishes the wills
    for device in fleet.esp32s:
        alertloop_mqtt_capture.wait_for(
            device.status_topic, lambda m: m.payload == b"offline", timeout=15
        )
    wait_until(lambda: fleet.stats().connected == 0, 15, what="the fleet to notice the stall")
    assert alertloop_fault_proxy.active > 0  # half-open: the proxy still holds connections
    healed = time.monotonic()
    alertloop_fault_proxy.heal()
    fleet.wait_connected(20)
    assert time.monotonic() - healed < 20
    assert fleet.stats().failed == 0


def test_refused_then_healed_connections_recover(
    alertloop_fault_proxy: FaultProxy,
    alertloop_fleet_factory: Callable[..., Fleet],
    alertloop_mqtt_broker: MqttSettings,
) -> None:
    fleet = alertloop_fleet_factory(
        mqtt=alertloop_fault_proxy.mqtt_settings(alertloop_mqtt_broker), esp32=10, nodemcu=5
    )
    alertloop_fault_proxy.refuse()
    assert alertloop_fault_proxy.drop() == 15
    wait_until(
        lambda: sum(d.connect_failures for d in fleet.devices) >= 15,
        15,
        what="refused reconnection attempts",
        state=fleet.stats,
    )
    assert fleet.stats().connected == 0
    alertloop_fault_proxy.heal()
    fleet.wait_connected(15)


def test_a_schedule_plays_proxy_and_server_steps_in_order(
    alertloop_native_stack_factory: Callable[..., Any],
    alertloop_fault_proxy_factory: Callable[..., FaultProxy],
) -> None:
    own = alertloop_native_stack_factory()
    proxy = alertloop_fault_proxy_factory(own.mqtt.host, own.mqtt.port, name="mqtt")
    schedule = FaultSchedule.from_yaml(
        """
        name: short
        steps:
          - {at: 0, proxy: mqtt, do: latency, ms: 50, for: 1}
          - {at: 1.5, server: mqtt, do: restart}
          - {at: 2, proxy: mqtt, do: drop}
        """
    )
    with Fleet(proxy.mqtt_settings(own.mqtt), _small_config()) as fleet:
        fleet.wait_connected(15)
        runner = FaultRunner(schedule, {"mqtt": proxy}, own.servers).start()
        runner.wait(30)
        assert [e.step.action for e in runner.events] == ["latency", "heal", "restart", "drop"]
        assert all(e.error is None for e in runner.events)
        fleet.wait_connected(20)
        assert min(d.connects for d in fleet.devices) >= 2


def _small_config() -> Any:
    from alertloop.sim.fleet import FleetConfig

    return FleetConfig(esp32=5, nodemcu=2, reconnect_interval=0.5, reconnect_jitter=0.2)


def test_only_loopback_upstreams() -> None:
    with pytest.raises(FaultProxyError, match="loopback"):
        FaultProxy("10.1.2.3", 1883)


def test_the_command_line_checks_and_plays_a_schedule(
    tmp_path: Path, alertloop_mqtt_broker: MqttSettings
) -> None:
    path = tmp_path / "faults.yaml"
    path.write_text("steps:\n  - {at: 0.2, proxy: mqtt, do: stall, for: 0.3}\n")
    check = subprocess.run(
        [sys.executable, "-m", "alertloop.hil.cli", "faults", "check", str(path)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert check.returncode == 0 and "proxy mqtt: stall" in check.stdout
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "alertloop.hil.cli",
            "faults",
            "proxy",
            "--upstream",
            f"mqtt={alertloop_mqtt_broker.host}:{alertloop_mqtt_broker.port}",
            "--schedule",
            str(path),
            "--exit-after-schedule",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert run.returncode == 0, run.stderr
    assert "proxy mqtt: 127.0.0.1:" in run.stdout
    assert "stall" in run.stdout and "heal" in run.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text("steps:\n  - {at: 1, proxy: mqtt, do: explode}\n")
    refused = subprocess.run(
        [sys.executable, "-m", "alertloop.hil.cli", "faults", "check", str(bad)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert refused.returncode == 2 and "steps[0].do" in refused.stderr


def test_a_connection_dropped_while_stalled_never_reaches_the_server(
    alertloop_fault_proxy_factory: Callable[..., FaultProxy],
) -> None:
    server = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []

    def serve() -> None:
        with contextlib.suppress(OSError):
            while True:
                conn, _ = server.accept()
                accepted.append(conn)
                conn.sendall(conn.recv(100))

    threading.Thread(target=serve, daemon=True).start()
    try:
        proxy = alertloop_fault_proxy_factory(*server.getsockname())
        proxy.stall()
        stalled = socket.create_connection(proxy.address, timeout=5)
        stalled.sendall(b"lost")
        wait_until(lambda: proxy.active == 1, 5, what="the proxy to accept")
        assert proxy.drop() == 1
        proxy.heal()
        fresh = socket.create_connection(proxy.address, timeout=5)
        fresh.sendall(b"ping")
        assert fresh.recv(100) == b"ping"
        assert len(accepted) == 1  # only the fresh one reached the server
        with pytest.raises(ConnectionResetError):  # drop() resets by default
            stalled.recv(100)
    finally:
        server.close()
        for conn in accepted:
            conn.close()
