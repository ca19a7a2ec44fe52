"""Fixtures for MQTT: ``alertloop_mqtt_capture`` and ``alertloop_unique_topic``."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import pytest

from alertloop.hil.boards.factory import is_port
from alertloop.hil.capture import MqttCapture
from alertloop.hil.stack import Stack

__all__ = ["alertloop_mqtt_capture", "alertloop_unique_topic"]


@pytest.fixture
def alertloop_unique_topic(request: pytest.FixtureRequest) -> str:
    """A topic prefix unique to this test, built from its name (no wildcards, no spaces);
    empty when the test's boards are flashed boards on ports, which use the sketches' own
    ``/pot`` and ``/alert``."""
    for name in ("alertloop_esp32_backend", "alertloop_nodemcu_backend"):
        if name in request.fixturenames and is_port(str(request.getfixturevalue(name))):
            return ""
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", request.node.name)[:60]
    return f"t/{name}-{uuid.uuid4().hex[:6]}"


@pytest.fixture
def alertloop_mqtt_capture(alertloop_stack: Stack) -> Iterator[MqttCapture]:
    """A connected recorder on the shared broker; clears retained messages it saw at teardown."""
    capture = MqttCapture(alertloop_stack.mqtt).start()
    try:
        yield capture
    finally:
        capture.close(clear_retained=True)
