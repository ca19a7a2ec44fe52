"""``python -m alertloop.services.webhook`` and ``alertloop hash-password`` as real processes."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from typing import Any

import requests

from alertloop.services.common.deadline import wait_until
from alertloop.services.webhook.examples import legacy


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _hash(password: str) -> str:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "alertloop.hil.cli",
            "hash-password",
            "--method",
            "pbkdf2:sha256:20000",
        ],
        input=password + "\n",
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return done.stdout.strip()


def test_hash_password_prints_a_usable_hash() -> None:
    from werkzeug.security import check_password_hash

    hashed = _hash("s3cret pass")
    assert hashed.startswith("pbkdf2:sha256:20000$")
    assert check_password_hash(hashed, "s3cret pass")
    empty = subprocess.run(
        [sys.executable, "-m", "alertloop.hil.cli", "hash-password"],
        input="\n",
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert empty.returncode == 2 and "empty" in empty.stderr


def test_service_runs_from_env_and_stops_on_sigterm(
    alertloop_stack: Any,
    alertloop_unique_topic: str,
    alertloop_read_retained: Any,
    alertloop_mqtt_capture: Any,
) -> None:
    port = _free_port()
    topic = f"{alertloop_unique_topic}/alert"
    env = {
        **os.environ,
        **alertloop_stack.env(),
        "ALERTLOOP_WEBHOOK_USERS": f"grafana:{_hash('pw')}",
        "ALERTLOOP_WEBHOOK_TOPIC": topic,
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "alertloop.services.webhook", "--bind", f"127.0.0.1:{port}"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
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

        wait_until(healthy, 20, what="the webhook process to serve /healthz")
        response = requests.post(
            f"{url}/alert", json=legacy("alerting"), auth=("grafana", "pw"), timeout=10
        )
        assert response.status_code == 200, response.text
        assert alertloop_read_retained(topic).payload == b"1"
        assert requests.post(f"{url}/alert", json=legacy("ok"), timeout=10).status_code == 401
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
        alertloop_mqtt_capture.publish(topic, b"", retain=True)
    assert proc.returncode == 0, err
    assert '"webhook listening"' in err and "stopping on signal" in err
    no_users = subprocess.run(
        [sys.executable, "-m", "alertloop.hil.cli", "webhook", "--bind", "127.0.0.1:0"],
        env={k: v for k, v in env.items() if k != "ALERTLOOP_WEBHOOK_USERS"},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert no_users.returncode == 2 and "no users" in no_users.stderr
