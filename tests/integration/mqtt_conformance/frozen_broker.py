"""A check both brokers' conformance tests share: a frozen broker is noticed by keepalive."""

from __future__ import annotations

import time
from typing import Protocol

import pytest

from alertloop.hil.mqtt5_clients import connect
from alertloop.services.common.config import MqttSettings
from alertloop.services.common.mqtt5_errors import MqttTimeout


class Freezable(Protocol):
    def suspend(self) -> None: ...

    def resume(self) -> None: ...


def assert_a_freeze_is_noticed(
    settings: MqttSettings, broker: Freezable, keepalive: int = 2
) -> None:
    """Connect with ``keepalive``, stop the broker (SIGSTOP) and run a service's loop (tick,
    read) until the session gives up on its PINGREQ: within 1.5 keepalives (+ 0.5 s for
    scheduling on a busy machine). The broker runs again afterwards."""
    session, _ = connect(settings, keepalive=keepalive)
    broker.suspend()
    frozen = time.monotonic()
    try:
        with pytest.raises(MqttTimeout, match="PINGREQ"):
            while time.monotonic() - frozen < 3 * keepalive:
                session.keepalive_tick()
                if session.fill():
                    while (packet := session.next_packet()) is not None:
                        session.handle(packet)
        noticed = time.monotonic() - frozen
        assert noticed <= 1.5 * keepalive + 0.5, noticed
    finally:
        broker.resume()
        session.abort()
