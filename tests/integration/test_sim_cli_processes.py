"""``alertloop sim esp32|nodemcu`` as processes on the real broker."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading

from alertloop.hil.capture import MqttCapture
from alertloop.services.common.config import MqttSettings
from alertloop.services.common.deadline import wait_until

COMMAND = [sys.executable, "-m", "alertloop.hil.cli", "sim"]


def test_esp32_publishes_count_values_and_exits(
    alertloop_mqtt_broker: MqttSettings,
    alertloop_mqtt_capture: MqttCapture,
    alertloop_unique_topic: str,
) -> None:
    topic = f"{alertloop_unique_topic}/pot"
    alertloop_mqtt_capture.subscribe(topic)
    argv = ["esp32", "--mqtt-url", alertloop_mqtt_broker.url, "--topic", topic, "--period", "0.05"]
    done = subprocess.run(
        [*COMMAND, *argv, "--signal", "const:60", "--count", "3", "--qos", "1"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "Attempting MQTT connection...connected"
    assert lines[1:4] == [f"Publish [{topic}] value:60"] * 3
    assert not any(line.startswith("#AL") for line in lines)  # only with --events
    wait_until(lambda: len(alertloop_mqtt_capture.on(topic)) >= 3, 5, what="3 messages")
    assert {m.payload for m in alertloop_mqtt_capture.on(topic)} == {b"60"}


def test_nodemcu_shows_messages_until_sigterm(
    alertloop_mqtt_broker: MqttSettings,
    alertloop_mqtt_capture: MqttCapture,
    alertloop_unique_topic: str,
) -> None:
    topic = f"{alertloop_unique_topic}/alert"
    env = {**os.environ, "ALERTLOOP_MQTT_URL": alertloop_mqtt_broker.url}
    process = subprocess.Popen(
        [*COMMAND, "nodemcu", "--topic", topic, "--events"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(process.stdout or []), daemon=True)
    reader.start()
    try:
        wait_until(
            lambda: any("state=subscribed" in line for line in lines),
            15,
            what="the board to subscribe",
            state=lambda: lines[-5:],
        )
        alertloop_mqtt_capture.publish(topic, "1", qos=1)
        wait_until(
            lambda: f"Message arrived [{topic}] value:1\n" in lines,
            5,
            what="the message line",
            state=lambda: lines[-5:],
        )
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    reader.join(5)
    assert "#AL led state=red red=1 green=0\n" in lines
    assert lines[0] == "start\n"
