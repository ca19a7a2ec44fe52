"""The broker password kept off the command line and out of every output of a real webhook."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import requests

from alertloop.services.common.deadline import wait_until
from alertloop.services.webhook.examples import legacy
from alertloop.services.webhook.passwords import hash_password

BROKER_PASSWORD = "Br0ker-s3cret-pw"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_password_file_reaches_the_broker_and_appears_nowhere(
    alertloop_native_stack_factory: Any, tmp_path: Path, alertloop_unique_topic: str
) -> None:
    broker = alertloop_native_stack_factory(mqtt_users={"webhook": BROKER_PASSWORD}).mqtt
    password_file = tmp_path / "mqtt-password"
    password_file.write_text(BROKER_PASSWORD + "\n")
    password_file.chmod(0o600)
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALERTLOOP_")}
    env["ALERTLOOP_WEBHOOK_USERS"] = f"grafana:{hash_password('pw', 'pbkdf2:sha256:2000')}"
    argv = [
        sys.executable,
        "-m",
        "alertloop.services.webhook",
        "--bind",
        f"127.0.0.1:{port}",
        "--mqtt-url",
        f"mqtt://webhook@127.0.0.1:{broker.port}",
        "--mqtt-password-file",
        str(password_file),
        "--topic",
        f"{alertloop_unique_topic}/alert",
        "--log-level",
        "DEBUG",
    ]
    proc = subprocess.Popen(
        argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    url = f"http://127.0.0.1:{port}"
    try:

        def healthy() -> bool:
            if proc.poll() is not None:
                raise AssertionError(f"the webhook exited: {proc.communicate()[1]}")
            try:
                return requests.get(f"{url}/healthz", timeout=2).status_code == 200
            except requests.ConnectionError:
                return False

        wait_until(healthy, 20, what="the webhook to connect to the password-protected broker")
        answer = requests.post(
            f"{url}/alert", json=legacy("alerting"), auth=("grafana", "pw"), timeout=10
        )
        assert answer.status_code == 200, answer.text
        cmdline = Path(f"/proc/{proc.pid}/cmdline").read_bytes()
        assert BROKER_PASSWORD.encode() not in cmdline  # what `ps` shows
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert '"webhook listening"' in err
    assert BROKER_PASSWORD not in out + err


def test_password_in_the_url_is_redacted_in_logs_and_errors(
    alertloop_native_stack_factory: Any,
) -> None:
    broker = alertloop_native_stack_factory(mqtt_users={"webhook": BROKER_PASSWORD}).mqtt
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALERTLOOP_")}
    env["ALERTLOOP_WEBHOOK_USERS"] = f"grafana:{hash_password('pw', 'pbkdf2:sha256:2000')}"
    # The environment variable, not a flag: still nothing printed. A wrong port in the URL
    # makes the configuration error that once printed the whole URL.
    env["ALERTLOOP_MQTT_URL"] = f"mqtt://webhook:{BROKER_PASSWORD}@127.0.0.1:{broker.port}x"
    done = subprocess.run(
        [sys.executable, "-m", "alertloop.services.webhook", "--bind", "127.0.0.1:0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2
    assert "webhook:***@127.0.0.1" in done.stderr
    assert BROKER_PASSWORD not in done.stdout + done.stderr
