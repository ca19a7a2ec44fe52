"""The shared MQTT 5 session's rules without a broker: CONNACK reason codes and session present,
acknowledgements with failure codes, timeouts, and the TLS options of the configuration."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import mqtt5
import pytest

from alertloop.services.common.commands import Command
from alertloop.services.common.config import (
    MQTT_OPTIONS,
    MqttSettings,
    MqttTls,
    mqtt_from,
)
from alertloop.services.common.errors import ConfigError
from alertloop.services.common.mqtt5_connect import ConnectOptions, _check_connack
from alertloop.services.common.mqtt5_errors import (
    MqttAuthError,
    MqttProtocolError,
    MqttRefused,
    MqttTimeout,
)
from alertloop.services.common.mqtt5_session import Mqtt5Session
from alertloop.services.common.mqtt_tls import client_context, server_name

BROKER = MqttSettings("127.0.0.1", 1883)
Code = mqtt5.ConnAckReasonCode


def connack(**fields: object) -> mqtt5.ConnAckPacket:
    return mqtt5.read(mqtt5.ConnAckPacket(**fields).write())[0]  # type: ignore[arg-type,return-value]


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        (Code.BAD_USER_NAME_OR_PASSWORD, MqttAuthError),
        (Code.NOT_AUTHORIZED, MqttAuthError),
        (Code.SERVER_UNAVAILABLE, MqttRefused),
        (Code.CLIENT_ID_NOT_VALID, MqttRefused),
    ],
    ids=["bad-password", "not-authorized", "unavailable", "client-id"],
)
def test_refused_connack_names_its_reason_code(code: Code, kind: type[Exception]) -> None:
    with pytest.raises(kind, match=code.name) as info:
        _check_connack(connack(reason_code=code), BROKER, ConnectOptions("c"))
    assert info.value.reason_code == int(code)  # type: ignore[attr-defined]


def test_session_present_after_a_clean_start_is_a_protocol_error() -> None:
    with pytest.raises(MqttProtocolError, match="3.2.2.1.1"):
        _check_connack(connack(session_present=True), BROKER, ConnectOptions("c", clean_start=True))
    resumed = _check_connack(
        connack(session_present=True), BROKER, ConnectOptions("c", clean_start=False)
    )
    assert resumed.session_present


def test_server_keepalive_and_receive_maximum_are_taken() -> None:
    accepted = _check_connack(
        connack(server_keep_alive=7, receive_max=5), BROKER, ConnectOptions("c", keepalive=30)
    )
    assert (accepted.keepalive, accepted.receive_maximum) == (7, 5)
    assert _check_connack(connack(), BROKER, ConnectOptions("c", keepalive=30)).keepalive == 30


def test_a_packet_other_than_connack_is_a_protocol_error() -> None:
    with pytest.raises(MqttProtocolError, match="answered CONNECT"):
        _check_connack(mqtt5.PingRespPacket(), BROKER, ConnectOptions("c"))


@pytest.fixture
def pair() -> Iterator[tuple[Mqtt5Session, socket.socket]]:
    ours, broker = socket.socketpair()
    session = Mqtt5Session(ours, "test-broker", keepalive=30)
    try:
        yield session, broker
    finally:
        session.abort()
        broker.close()


def test_publish_refused_by_reason_code(pair: tuple[Mqtt5Session, socket.socket]) -> None:
    session, broker = pair
    broker.sendall(mqtt5.PubAckPacket(1, reason_code=mqtt5.PubAckReasonCode.NOT_AUTHORIZED).write())
    with pytest.raises(MqttAuthError, match="NOT_AUTHORIZED"):
        session.publish_wait("/alert", b"1", 1, timeout=2.0, retain=True)
    sent = mqtt5.read(broker.recv(100))[0]
    assert isinstance(sent, mqtt5.PublishPacket) and sent.retain and sent.packet_id == 1


def test_publish_without_acknowledgement_times_out(
    pair: tuple[Mqtt5Session, socket.socket],
) -> None:
    session, _ = pair
    started = time.monotonic()
    with pytest.raises(MqttTimeout, match="no acknowledgement"):
        session.publish_wait("/alert", b"1", 1, timeout=0.2)
    assert time.monotonic() - started < 1.0


def test_qos2_publish_completes_the_handshake(pair: tuple[Mqtt5Session, socket.socket]) -> None:
    session, broker = pair
    broker.sendall(mqtt5.PubRecPacket(1).write() + mqtt5.PubCompPacket(1).write())
    session.publish_wait("/alert", b"0", 2, timeout=2.0)
    data = broker.recv(200)
    publish, used = mqtt5.read(data)
    assert isinstance(publish, mqtt5.PublishPacket)
    assert isinstance(mqtt5.read(data[used:])[0], mqtt5.PubRelPacket)


def test_close_sends_disconnect_and_returns_within_its_linger(
    pair: tuple[Mqtt5Session, socket.socket],
) -> None:
    session, broker = pair
    broker.sendall(b"\x30\x05\x00\x01a\x00x")  # unread data: a plain close would send a reset
    session.close()
    assert isinstance(mqtt5.read(broker.recv(100))[0], mqtt5.DisconnectPacket)
    assert session.closed


# -- TLS options ---------------------------------------------------------------------------
def test_tls_options_need_mqtts_and_a_certificate_for_a_key() -> None:
    with pytest.raises(ConfigError, match="mqtts://"):
        MqttSettings.from_url("mqtt://h").with_tls(MqttTls(ca_file="/ca.pem"))
    with pytest.raises(ConfigError, match="certificate"):
        MqttTls(key_file="/k.pem")


def test_tls_flags_then_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    command = Command("alertloop test", "", MQTT_OPTIONS)
    monkeypatch.setenv("ALERTLOOP_MQTT_URL", "mqtts://h")
    monkeypatch.setenv("ALERTLOOP_MQTT_CA_FILE", "/env-ca.pem")
    monkeypatch.setenv("ALERTLOOP_MQTT_SERVER_NAME", "env.example")
    monkeypatch.setenv("ALERTLOOP_MQTT_TLS_INSECURE", "1")
    tls = mqtt_from(command.parse(["--mqtt-server-name", "flag.example"])).tls_options
    assert tls == MqttTls(ca_file="/env-ca.pem", server_name="flag.example", insecure=True)
    monkeypatch.delenv("ALERTLOOP_MQTT_TLS_INSECURE")
    assert not mqtt_from(command.parse([])).tls_options.insecure


def test_context_checks_by_default_and_insecure_turns_checks_off() -> None:
    strict = client_context(MqttSettings.from_url("mqtts://broker"))
    assert strict.check_hostname and strict.verify_mode.name == "CERT_REQUIRED"
    loose = MqttSettings("broker", 8883, tls=True, tls_options=MqttTls(insecure=True))
    context = client_context(loose)
    assert not context.check_hostname and context.verify_mode.name == "CERT_NONE"
    named = MqttSettings("10.0.0.5", 8883, tls=True, tls_options=MqttTls(server_name="b.example"))
    assert server_name(named) == "b.example"


def test_unreadable_ca_file_is_a_config_error(tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings = MqttSettings(
        "b", 8883, tls=True, tls_options=MqttTls(ca_file=str(tmp_path / "missing.pem"))
    )
    with pytest.raises(ConfigError, match="CA file"):
        client_context(settings)
