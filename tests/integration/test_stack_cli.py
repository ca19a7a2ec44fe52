"""``alertloop stack up``: prints reachable URLs and cleans up on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading

from alertloop.hil.stack.probes import influx_ping_ok, mqtt_connect_ok
from alertloop.services.common.config import InfluxSettings, MqttSettings


def _read_vars(proc: subprocess.Popen[str], timeout: float = 30) -> dict[str, str]:
    found: dict[str, str] = {}
    done = threading.Event()

    def reader() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            key, _, value = line.strip().partition("=")
            found[key] = value
            if "ALERTLOOP_INFLUX_DB" in found:
                break
        done.set()

    threading.Thread(target=reader, daemon=True).start()
    done.wait(timeout)
    return found


def test_stack_up_prints_reachable_urls_and_stops_on_sigterm() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "alertloop.hil.cli", "stack", "up", "--backend", "native"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        env = _read_vars(proc)
        mqtt = MqttSettings.from_url(env["ALERTLOOP_MQTT_URL"])
        influx = InfluxSettings.from_url(env["ALERTLOOP_INFLUX_URL"])
        assert env["ALERTLOOP_INFLUX_DB"] == "iot"
        assert mqtt_connect_ok(mqtt.host, mqtt.port)
        assert influx_ping_ok(influx.url)
        mosquitto_pub = subprocess.run(
            [
                "mosquitto_pub",
                "-h",
                mqtt.host,
                "-p",
                str(mqtt.port),
                "-t",
                "probe",
                "-m",
                "1",
                "-q",
                "1",
            ],
            capture_output=True,
            timeout=10,
        )
        assert mosquitto_pub.returncode == 0, mosquitto_pub.stderr
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
    try:
        mqtt_connect_ok(mqtt.host, mqtt.port, timeout=0.5)
        still_up = True
    except OSError:
        still_up = False
    assert not still_up, "broker still running after SIGTERM"
    assert not influx_ping_ok(influx.url, timeout=0.5), "influxd still running after SIGTERM"


def test_stack_up_with_unknown_backend_is_a_usage_error() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "alertloop.hil.cli", "stack", "up", "--backend", "nope"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "--backend: expected one of auto, native, docker, external, got 'nope'" in result.stderr


def test_external_backend_without_urls_says_what_is_missing() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALERTLOOP_")}
    result = subprocess.run(
        [sys.executable, "-m", "alertloop.hil.cli", "stack", "up", "--backend", "external"],
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
    )
    assert result.returncode == 2 and "needs --mqtt-url and --influx-url" in result.stderr
