"""The ingester transport's decoding, acknowledgement, flow-control and session-present rules,
without a real broker (a socket pair or a fake broker on 127.0.0.1 stands in for it)."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import mqtt5
import pytest

from alertloop.services.common.config import MqttSettings
from alertloop.services.common.mqtt5_errors import (
    MqttConnectionLost,
    MqttProtocolError,
    MqttTimeout,
)
from alertloop.services.common.mqtt5_outbox import Outbox
from alertloop.services.common.mqtt5_session import Mqtt5Session
from alertloop.services.ingester.convert import Received
from alertloop.services.ingester.errors import MqttError
from alertloop.services.ingester.transport import MqttSession


def transport(got: list[Received], **kwargs: object) -> MqttSession:
    mqtt = MqttSettings.from_url("mqtt://127.0.0.1:1")
    return MqttSession(mqtt, "test", ["t/#"], got.extend, **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def pair() -> Iterator[tuple[Mqtt5Session, socket.socket]]:
    """A session on one end of a socket pair; the test plays the broker on the other."""
    ours, broker = socket.socketpair()
    session = Mqtt5Session(ours, "test-broker", keepalive=2)
    try:
        yield session, broker
    finally:
        session.abort()
        broker.close()


def publish(pid: int | None, payload: bytes = b"42") -> bytes:
    qos = mqtt5.QoS.AT_LEAST_ONCE if pid else mqtt5.QoS.AT_MOST_ONCE
    return mqtt5.PublishPacket("t/pot", payload, qos=qos, packet_id=pid).write()


def feed(mqtt: MqttSession, session: Mqtt5Session, data: bytes) -> None:
    session.buffer += data
    mqtt._decode(session)


def test_packets_split_across_chunks_are_decoded_once_complete(pair) -> None:  # type: ignore[no-untyped-def]
    got: list[Received] = []
    mqtt, (session, _) = transport(got), pair
    data = publish(1) + publish(2, b"7") + publish(None, b"0")
    counts = []
    for piece in (data[:5], data[5:-3], data[-3:]):  # the stream fed in three uneven pieces
        feed(mqtt, session, piece)
        counts.append(len(got))
    assert counts == [0, 2, 3]
    assert not session.buffer
    assert [(m.mid, m.qos, m.payload) for m in got] == [(1, 1, b"42"), (2, 1, b"7"), (0, 0, b"0")]


def test_acknowledgements_for_another_connection_are_dropped() -> None:
    mqtt = transport([])
    mqtt._session, mqtt._live = 3, True
    assert mqtt.ack(2, [1, 2]) == 0
    assert mqtt.ack(3, [1, 2]) == 2
    assert mqtt._out == [mqtt5.PubAckPacket(1).write() + mqtt5.PubAckPacket(2).write()]
    mqtt._live = False
    assert mqtt.ack(3, [4]) == 0


def test_refused_subscription_and_broker_disconnect_end_the_connection(pair) -> None:  # type: ignore[no-untyped-def]
    mqtt, (session, _) = transport([]), pair
    refused = mqtt5.SubAckPacket(1, [mqtt5.SubAckReasonCode.NOT_AUTHORIZED]).write()
    with pytest.raises(MqttError, match="NOT_AUTHORIZED"):
        feed(mqtt, session, refused)
    assert not mqtt.connected
    granted = mqtt5.SubAckPacket(1, [mqtt5.SubAckReasonCode.GRANTED_QOS_AT_LEAST_ONCE]).write()
    feed(mqtt, session, granted)
    assert mqtt.connected
    bye = mqtt5.DisconnectPacket(reason_code=mqtt5.DisconnectReasonCode.SESSION_TAKEN_OVER)
    with pytest.raises(MqttConnectionLost, match="SESSION_TAKEN_OVER") as info:
        feed(mqtt, session, bye.write())
    assert info.value.reason_code == 142


def test_malformed_packet_raises(pair) -> None:  # type: ignore[no-untyped-def]
    mqtt, (session, _) = transport([]), pair
    with pytest.raises(MqttProtocolError, match="malformed"):
        feed(mqtt, session, b"\xf0\x00")


def test_reading_pauses_at_the_backlog_limit_and_resumes_below_half() -> None:
    backlog = [0]
    mqtt = transport([], backlog=lambda: backlog[0], backlog_limit=100)
    steps = []
    for depth in (10, 99, 100, 500, 60, 50, 49, 99):
        backlog[0] = depth
        steps.append(mqtt._may_read())
    assert steps == [True, True, False, False, False, False, True, True]
    assert mqtt.pauses == 1
    assert mqtt.paused_seconds > 0


def test_keepalive_pings_when_idle_and_times_out_only_while_reading(pair) -> None:  # type: ignore[no-untyped-def]
    session, broker = pair
    session._last_sent -= 1.5  # idle for more than keepalive/2
    session.keepalive_tick()
    assert broker.recv(100) == mqtt5.PingReqPacket().write()
    assert session._ping_sent is not None
    session._ping_sent -= 3  # unanswered for longer than the keepalive
    assert session.keepalive_tick(reading=False) > 0  # paused: not awaited, clock restarted
    session._ping_sent -= 3
    with pytest.raises(MqttTimeout, match="PINGREQ"):
        session.keepalive_tick(reading=True)


def test_pingresp_ends_the_ping(pair) -> None:  # type: ignore[no-untyped-def]
    session, broker = pair
    session._last_sent -= 1.5
    session.keepalive_tick()
    broker.sendall(mqtt5.PingRespPacket().write())
    assert session.fill()
    assert session.handle(session.next_packet())  # type: ignore[arg-type]
    assert session._ping_sent is None and session.pongs == 1


def test_outbox_resends_as_duplicates_only_when_the_broker_kept_the_session() -> None:
    box = Outbox(first_id=2)
    for n in range(3):
        box.put("dl", b"%d" % n)
    box.window = 2
    sent = [mqtt5.read(p)[0] for p in box.sendable()]
    assert [(p.packet_id, p.payload, p.duplicate) for p in sent] == [
        (2, b"0", False),
        (3, b"1", False),
    ]
    assert box.acked(2) and not box.acked(2)
    # session present 1: the unacknowledged one goes again with DUP and its packet id
    again = [mqtt5.read(p)[0] for p in box.reconnected(True, 10)]
    assert [(p.packet_id, p.payload, p.duplicate) for p in again] == [(3, b"1", True)]
    # session present 0: no duplicates; published again as a new message, in order
    assert box.reconnected(False, 10) == []
    fresh = [mqtt5.read(p)[0] for p in box.sendable()]
    assert [(p.payload, p.duplicate) for p in fresh] == [(b"1", False), (b"2", False)]
    assert fresh[0].packet_id != 3 or fresh[0].duplicate is False
    assert (box.resent, box.republished) == (1, 1)


def test_outbox_drops_the_oldest_beyond_its_limit() -> None:
    box = Outbox(limit=2)
    for n in range(3):
        box.put("dl", b"%d" % n)
    assert box.dropped == 1
    assert [mqtt5.read(p)[0].payload for p in box.sendable()] == [b"1", b"2"]


class FakeBroker:
    """Just enough of a broker on 127.0.0.1 to see what the transport sends after a reconnect:
    it answers CONNECT with the session present flag it is told, grants the subscription and
    never acknowledges a PUBLISH."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(10)
        self.port = self.listener.getsockname()[1]

    def accept(self, session_present: bool) -> tuple[socket.socket, bytearray]:
        conn, _ = self.listener.accept()
        conn.settimeout(10)
        buf = bytearray()
        connect = self.read(conn, buf)
        assert isinstance(connect, mqtt5.ConnectPacket) and not connect.clean_start
        conn.sendall(mqtt5.ConnAckPacket(session_present=session_present).write())
        return conn, buf

    def read(self, conn: socket.socket, buf: bytearray) -> mqtt5.Packet:
        while True:
            try:
                packet, used = mqtt5.read(bytes(buf))
            except IndexError:
                buf += conn.recv(4096)
                continue
            del buf[:used]
            return packet

    def publishes(
        self, conn: socket.socket, buf: bytearray, count: int
    ) -> list[mqtt5.PublishPacket]:
        got: list[mqtt5.PublishPacket] = []
        while len(got) < count:
            packet = self.read(conn, buf)
            if isinstance(packet, mqtt5.SubscribePacket):
                codes = [mqtt5.SubAckReasonCode.GRANTED_QOS_AT_LEAST_ONCE]
                conn.sendall(mqtt5.SubAckPacket(packet.packet_id, codes).write())
            elif isinstance(packet, mqtt5.PublishPacket):
                got.append(packet)
        return got


@pytest.mark.parametrize("present", [True, False], ids=["session-present", "no-session"])
def test_unacknowledged_publishes_after_a_reconnect_follow_session_present(present: bool) -> None:
    broker = FakeBroker()
    settings = MqttSettings("127.0.0.1", broker.port)
    mqtt = MqttSession(settings, "fake", ["t/#"], lambda _: None, reconnect=(0.05, 0.1)).start()
    try:
        conn, buf = broker.accept(session_present=False)
        mqtt.publish("dl", b"letter")
        (first,) = broker.publishes(conn, buf, 1)
        assert not first.duplicate
        conn.close()  # the connection is lost before the PUBACK
        conn, buf = broker.accept(session_present=present)
        (again,) = broker.publishes(conn, buf, 1)
        assert again.payload == b"letter"
        if present:  # the broker has the session: the same packet, marked as a duplicate
            assert again.duplicate and again.packet_id == first.packet_id
        else:  # no session: a new message, never a duplicate of a packet the broker never saw
            assert not again.duplicate and again.packet_id != first.packet_id
        assert mqtt.sessions_lost == int(not present)
        conn.close()
    finally:
        mqtt.stop(timeout=2.0)
        broker.listener.close()
