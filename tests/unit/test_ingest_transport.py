"""The MQTT session's decoding and acknowledgement rules, without a broker."""

from __future__ import annotations

import mqtt5
import pytest

from services.common.config import MqttSettings
from services.ingester.convert import Received
from services.ingester.errors import MqttError
from services.ingester.transport import MqttSession


def session(got: list[Received]) -> MqttSession:
    mqtt = MqttSettings.from_url("mqtt://127.0.0.1:1")
    return MqttSession(mqtt, "test", ["t/#"], got.extend)


def publish(pid: int | None, payload: bytes = b"42") -> bytes:
    qos = mqtt5.QoS.AT_LEAST_ONCE if pid else mqtt5.QoS.AT_MOST_ONCE
    return mqtt5.PublishPacket("t/pot", payload, qos=qos, packet_id=pid).write()


def test_packets_split_across_chunks_are_decoded_once_complete() -> None:
    got: list[Received] = []
    mqtt = session(got)
    data = publish(1) + publish(2, b"7") + publish(None, b"0")
    buf = bytearray()  # the stream fed in three uneven pieces
    pieces = [data[:5], data[5:-3], data[-3:]]
    counts = []
    for piece in pieces:
        buf += piece
        mqtt._decode(buf)
        counts.append(len(got))
    assert counts == [0, 2, 3]
    assert not buf
    assert [(m.mid, m.qos, m.payload) for m in got] == [(1, 1, b"42"), (2, 1, b"7"), (0, 0, b"0")]


def test_acknowledgements_for_another_connection_are_dropped() -> None:
    mqtt = session([])
    mqtt._session, mqtt._live = 3, True
    assert mqtt.ack(2, [1, 2]) == 0
    assert mqtt.ack(3, [1, 2]) == 2
    assert mqtt._out == [mqtt5.PubAckPacket(1).write() + mqtt5.PubAckPacket(2).write()]
    mqtt._live = False
    assert mqtt.ack(3, [4]) == 0


def test_refused_subscription_and_broker_disconnect_end_the_connection() -> None:
    mqtt = session([])
    refused = mqtt5.SubAckPacket(1, [mqtt5.SubAckReasonCode.NOT_AUTHORIZED]).write()
    with pytest.raises(MqttError, match="NOT_AUTHORIZED"):
        mqtt._decode(bytearray(refused))
    assert not mqtt.connected
    granted = mqtt5.SubAckPacket(1, [mqtt5.SubAckReasonCode.GRANTED_QOS_AT_LEAST_ONCE]).write()
    mqtt._decode(bytearray(granted))
    assert mqtt.connected
    with pytest.raises(MqttError, match="SERVER_SHUTTING_DOWN"):
        bye = mqtt5.DisconnectPacket(reason_code=mqtt5.DisconnectReasonCode.SERVER_SHUTTING_DOWN)
        mqtt._decode(bytearray(bye.write()))


def test_malformed_packet_raises_mqtt_error() -> None:
    mqtt = session([])
    with pytest.raises(MqttError, match="malformed"):
        mqtt._decode(bytearray(b"\xf0\x00"))
