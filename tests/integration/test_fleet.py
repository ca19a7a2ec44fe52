"""A fleet of simulated devices on the real broker: device tags through the real ingester,
LEDs from the retained alert, wills and reconnection after a cut, the command line."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from typing import Any

from alertloop.hil.capture import MqttCapture
from alertloop.hil.faults.accounting import delivery_report
from alertloop.hil.influx import TestDatabase
from alertloop.services.common.config import MqttSettings
from alertloop.services.common.deadline import wait_until
from alertloop.sim.fleet import Fleet


def test_every_device_is_stored_under_its_own_tag(
    alertloop_fleet_factory: Callable[..., Fleet],
    alertloop_ingester_factory: Callable[..., Any],
    alertloop_influxdb: TestDatabase,
    alertloop_unique_topic: str,
) -> None:
    fleet = alertloop_fleet_factory(
        esp32=30, rate=5.0, qos=1, json_payload=True, record_published=True, wait=False
    )
    alertloop_ingester_factory(topics=[fleet.config.ingester_topic])
    fleet.wait_connected(20)
    fleet.set_knob(42)
    wait_until(lambda: all(d.published >= 10 for d in fleet.esp32s), 20, what="10 publishes each")
    fleet.stop()
    report = wait_until(
        lambda: (r := delivery_report(fleet, alertloop_influxdb.settings)).lost == 0 and r,
        20,
        what="every acknowledged message stored",
        state=lambda: delivery_report(fleet, alertloop_influxdb.settings).line(),
    )
    assert report.published == report.acked == report.stored >= 300
    assert report.extra == 0
    rows = alertloop_influxdb.query(
        f"SELECT last(value) FROM pot WHERE device = '{fleet.esp32s[7].device_id}'"
    )
    assert rows and rows[0]["last"] == 42
    assert fleet.stats().failed == 0


def test_leds_follow_the_retained_alert_and_a_late_fleet_gets_it(
    alertloop_fleet: Fleet,
    alertloop_fleet_factory: Callable[..., Fleet],
    alertloop_mqtt_capture: MqttCapture,
) -> None:
    alert = alertloop_fleet.nodemcus[0].topic
    assert all(d.topic == alert for d in alertloop_fleet.nodemcus)
    alertloop_mqtt_capture.publish(alert, "1", retain=True)
    alertloop_fleet.wait_leds("red", 10)
    alertloop_mqtt_capture.publish(alert, "0", retain=True)
    alertloop_fleet.wait_leds("green", 10)
    late = alertloop_fleet_factory(nodemcu=5, device_template="late-{index}")
    late.wait_leds("green", 10)
    alertloop_mqtt_capture.publish(alert, "garbage", retain=True)
    alertloop_fleet.wait_leds("error", 10)  # the strict rule, as SimNodeMcu


def test_cut_devices_leave_their_will_and_come_back(
    alertloop_fleet_factory: Callable[..., Fleet], alertloop_mqtt_capture: MqttCapture
) -> None:
    fleet = alertloop_fleet_factory(esp32=6, nodemcu=2)
    alertloop_mqtt_capture.subscribe("status/#")
    victims = fleet.esp32s[:3]
    for device in victims:
        alertloop_mqtt_capture.wait_for(device.status_topic, lambda m: m.payload == b"online")
    since = len(alertloop_mqtt_capture.messages)
    fleet.cut(victims)
    for device in victims:
        alertloop_mqtt_capture.wait_for(
            device.status_topic,
            lambda m, d=device: (
                m.payload == b"offline" and alertloop_mqtt_capture.messages.index(m) >= since
            ),
            timeout=10,
        )
    wait_until(lambda: all(d.connects == 2 for d in victims), 10, what="victims to reconnect")
    assert all(d.connects == 1 for d in fleet.esp32s[3:])
    fleet.stop()
    for device in fleet.devices:
        alertloop_mqtt_capture.wait_for(device.status_topic, lambda m: m.payload == b"offline")


def test_the_command_line_runs_a_fleet_for_a_while(
    alertloop_mqtt_broker: MqttSettings,
    alertloop_mqtt_capture: MqttCapture,
    alertloop_unique_topic: str,
) -> None:
    alertloop_mqtt_capture.subscribe(f"{alertloop_unique_topic}/+/pot")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "alertloop.hil.cli",
            "sim",
            "fleet",
            "--mqtt-url",
            alertloop_mqtt_broker.url,
            "--prefix",
            alertloop_unique_topic,
            "--esp32",
            "5",
            "--rate",
            "4",
            "--duration",
            "2",
            "--report",
            "0.5",
            "--signal",
            "const:70",
            "--summary-json",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["devices"] == 5 and summary["failed"] == 0 and summary["published"] >= 20
    message = alertloop_mqtt_capture.wait_for(f"{alertloop_unique_topic}/esp32-0003/pot")
    assert message.payload == b"70"


def test_bad_templates_are_refused_with_the_reason() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "alertloop.hil.cli", "sim", "fleet", "--pot-topic", "x/{nope}/pot"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 2
    assert "pot_topic" in proc.stderr and "nope" in proc.stderr
