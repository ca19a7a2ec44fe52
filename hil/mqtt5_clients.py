"""Small MQTT 5 clients for tests and benchmarks on the shared session module: publish many at
QoS 1 within the broker's Receive Maximum, blast QoS 0, subscribe, collect, read a retained message.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import mqtt5

from alertloop.services.common.config import MqttSettings
from alertloop.services.common.mqtt import new_client_id
from alertloop.services.common.mqtt5_connect import Accepted, ConnectOptions, open_session
from alertloop.services.common.mqtt5_outbox import Outbox
from alertloop.services.common.mqtt5_session import Mqtt5Session


def connect(
    settings: MqttSettings, client_id: str | None = None, **options: object
) -> tuple[Mqtt5Session, Accepted]:
    """A session with ``ConnectOptions(client_id, **options)`` (a fresh id by default)."""
    return open_session(settings, ConnectOptions(client_id or new_client_id("conf"), **options))  # type: ignore[arg-type]


def publish_many(
    settings: MqttSettings, topic: str, payloads: Sequence[bytes], timeout: float = 30.0
) -> None:
    """Publish at QoS 1 within the broker's Receive Maximum; return once all are acknowledged.

    Raises MqttTimeout when the broker does not acknowledge them in time.
    """
    session, accepted = connect(settings)
    try:
        box = Outbox(limit=len(payloads) + 1)
        for payload in payloads:
            box.put(topic, payload)
        box.window = accepted.receive_maximum
        deadline = time.monotonic() + timeout
        while len(box):
            if data := box.sendable():
                session.send(b"".join(data))
            packet = session.receive(deadline)
            if isinstance(packet, mqtt5.PubAckPacket):
                box.acked(packet.packet_id)
            else:
                session.handle(packet)
    finally:
        session.close()


def blast_qos0(settings: MqttSettings, topic: str, payloads: Sequence[bytes]) -> None:
    """Publish at QoS 0 as fast as the socket takes them (one write per 10,000)."""
    session, _ = connect(settings)
    try:
        for start in range(0, len(payloads), 10_000):
            session.send(
                b"".join(
                    mqtt5.PublishPacket(topic, p).write() for p in payloads[start : start + 10_000]
                )
            )
    finally:
        session.close()


def subscribe(session: Mqtt5Session, pattern: str, qos: int = 1, timeout: float = 5.0) -> None:
    """Subscribe and wait for the SUBACK. Raises AssertionError when refused."""
    session.send(
        mqtt5.SubscribePacket(1, [mqtt5.TopicFilter(pattern, max_qos=mqtt5.QoS(qos))]).write()
    )
    deadline = time.monotonic() + timeout
    while True:
        packet = session.receive(deadline)
        if isinstance(packet, mqtt5.SubAckPacket):
            assert all(int(c) < 0x80 for c in packet.reason_codes), packet.reason_codes
            return
        session.handle(packet)


def collect(session: Mqtt5Session, count: int, timeout: float = 10.0) -> list[mqtt5.PublishPacket]:
    """The next ``count`` PUBLISH packets (QoS 1 ones acknowledged). Raises MqttTimeout."""
    got: list[mqtt5.PublishPacket] = []
    deadline = time.monotonic() + timeout
    while len(got) < count:
        packet = session.receive(deadline)
        if isinstance(packet, mqtt5.PublishPacket):
            got.append(packet)
            if packet.qos:
                session.send(mqtt5.PubAckPacket(packet.packet_id or 0).write())
        else:
            session.handle(packet)
    return got


def read_retained(settings: MqttSettings, topic: str, timeout: float = 5.0) -> bytes:
    """The retained payload of ``topic``, as a subscriber connecting now gets it."""
    session, _ = connect(settings)
    try:
        subscribe(session, topic)
        (message,) = collect(session, 1, timeout)
        assert message.retain, message
        return message.payload
    finally:
        session.close()
