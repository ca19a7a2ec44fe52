"""The shared MQTT 5 session against the real mosquitto, on plain, TLS and client-certificate
listeners (a test CA made with openssl): handshake, TLS checks, acknowledgements, session
present after reconnects and restarts, session expiry, and a broker that stops answering."""

from __future__ import annotations

import time
from dataclasses import replace

import mqtt5
import pytest

from alertloop.hil.mqtt5_clients import collect, connect, publish_many, subscribe
from alertloop.hil.stack.tls import ConformanceMosquitto
from alertloop.services.common.config import MqttTls
from alertloop.services.common.deadline import wait_until
from alertloop.services.common.mqtt import new_client_id
from alertloop.services.common.mqtt5_errors import MqttConnectionLost, MqttTimeout, MqttTlsError
from tests.integration.mqtt_conformance.frozen_broker import assert_a_freeze_is_noticed

LISTENERS = ["plain", "tls", "mtls"]


def settings_of(broker: ConformanceMosquitto, listener: str):  # type: ignore[no-untyped-def]
    return getattr(broker, listener)


@pytest.mark.parametrize("listener", LISTENERS, ids=LISTENERS)
@pytest.mark.parametrize("qos", [0, 1, 2], ids=["qos0", "qos1", "qos2"])
def test_publish_is_acknowledged_and_delivered(
    alertloop_conformance_mosquitto: ConformanceMosquitto, listener: str, qos: int
) -> None:
    settings = settings_of(alertloop_conformance_mosquitto, listener)
    reader, accepted = connect(settings, keepalive=10)
    assert not accepted.session_present and accepted.keepalive == 10
    subscribe(reader, "conf/#", qos=2)
    writer, _ = connect(settings)
    try:
        writer.publish_wait("conf/x", b"42", qos, timeout=5.0, retain=False)
        (message,) = collect(reader, 1)
        assert (message.topic, message.payload, int(message.qos)) == ("conf/x", b"42", qos)
    finally:
        writer.close()
        reader.close()


def test_untrusted_ca_is_refused_with_a_hint(
    alertloop_conformance_mosquitto: ConformanceMosquitto,
) -> None:
    assert alertloop_conformance_mosquitto.certs is not None
    other = MqttTls(ca_file=str(alertloop_conformance_mosquitto.certs.other_ca))
    settings = replace(alertloop_conformance_mosquitto.tls, tls_options=other)
    with pytest.raises(MqttTlsError, match="mqtt-ca-file"):
        connect(settings)
    # the system CAs do not know the test CA either
    with pytest.raises(MqttTlsError):
        connect(replace(alertloop_conformance_mosquitto.tls, tls_options=MqttTls()))


def test_server_name_is_checked_and_can_be_set(
    alertloop_conformance_mosquitto: ConformanceMosquitto,
) -> None:
    tls = alertloop_conformance_mosquitto.tls
    wrong = replace(tls, tls_options=replace(tls.tls_options, server_name="broker.example"))
    with pytest.raises(MqttTlsError, match="server-name"):
        connect(wrong)
    named = replace(tls, tls_options=replace(tls.tls_options, server_name="localhost"))
    session, _ = connect(named)
    session.close()


def test_insecure_switch_skips_every_check(
    alertloop_conformance_mosquitto: ConformanceMosquitto,
) -> None:
    assert alertloop_conformance_mosquitto.certs is not None
    options = MqttTls(
        ca_file=str(alertloop_conformance_mosquitto.certs.other_ca),
        server_name="wrong",
        insecure=True,
    )
    session, _ = connect(replace(alertloop_conformance_mosquitto.tls, tls_options=options))
    session.publish_wait("conf/insecure", b"1", 1, timeout=5.0)
    session.close()


def test_client_certificate_is_required_by_the_mtls_listener(
    alertloop_conformance_mosquitto: ConformanceMosquitto,
) -> None:
    without = replace(
        alertloop_conformance_mosquitto.mtls,
        tls_options=alertloop_conformance_mosquitto.tls.tls_options,
    )
    # TLS 1.3 reports the missing certificate after the handshake: on the CONNECT or its answer
    with pytest.raises((MqttTlsError, MqttConnectionLost, OSError)):
        connect(without)


def test_tls_to_a_plain_listener_fails_clearly(
    alertloop_conformance_mosquitto: ConformanceMosquitto,
) -> None:
    plain_port = replace(
        alertloop_conformance_mosquitto.tls, port=alertloop_conformance_mosquitto.ports["plain"]
    )
    with pytest.raises((MqttTlsError, MqttTimeout, OSError)):
        connect(plain_port, timeout=2.0)


@pytest.mark.parametrize("listener", ["plain", "tls"], ids=["plain", "tls"])
def test_session_present_follows_clean_start_and_expiry(
    alertloop_conformance_mosquitto: ConformanceMosquitto, listener: str
) -> None:
    settings, client_id = (
        settings_of(alertloop_conformance_mosquitto, listener),
        new_client_id("present"),
    )
    first, accepted = connect(settings, client_id, clean_start=False, session_expiry=60)
    assert not accepted.session_present  # nothing stored yet
    first.close()
    again, accepted = connect(settings, client_id, clean_start=False, session_expiry=60)
    assert accepted.session_present  # the broker kept it
    again.close()
    fresh, accepted = connect(settings, client_id, clean_start=True)
    assert not accepted.session_present  # a clean start discards it
    fresh.close()


def test_session_expires_after_its_interval(
    alertloop_conformance_mosquitto: ConformanceMosquitto,
) -> None:
    settings, client_id = alertloop_conformance_mosquitto.plain, new_client_id("expiring")
    session, _ = connect(settings, client_id, clean_start=False, session_expiry=1)
    subscribe(session, "conf/expiry")
    session.close()
    wait_until(
        lambda: f"Expiring client {client_id}" in alertloop_conformance_mosquitto.log_tail(200),
        15,
        what="mosquitto to expire the session",
        state=lambda: alertloop_conformance_mosquitto.log_tail(5),
    )
    session, accepted = connect(settings, client_id, clean_start=False, session_expiry=60)
    assert not accepted.session_present
    session.close()


@pytest.mark.parametrize("forget", [False, True], ids=["persisted", "forgotten"])
def test_session_present_after_a_broker_restart(
    alertloop_conformance_mosquitto: ConformanceMosquitto, forget: bool
) -> None:
    settings, client_id = alertloop_conformance_mosquitto.tls, new_client_id("restart")
    session, _ = connect(settings, client_id, clean_start=False, session_expiry=600)
    subscribe(session, "conf/restart")
    session.close()
    publish_many(settings, "conf/restart", [b"while-away"])  # queued for the stored session
    alertloop_conformance_mosquitto.restart(forget=forget)
    session, accepted = connect(settings, client_id, clean_start=False, session_expiry=600)
    try:
        assert accepted.session_present is not forget
        if not forget:
            (message,) = collect(session, 1)
            assert message.payload == b"while-away"
    finally:
        session.close()


@pytest.mark.parametrize("listener", ["plain", "tls"], ids=["plain", "tls"])
def test_a_broker_that_stops_answering_is_noticed_within_one_and_a_half_keepalives(
    alertloop_conformance_mosquitto: ConformanceMosquitto, listener: str
) -> None:
    assert_a_freeze_is_noticed(
        settings_of(alertloop_conformance_mosquitto, listener), alertloop_conformance_mosquitto
    )
    # once it runs again, a new session works
    session, _ = connect(settings_of(alertloop_conformance_mosquitto, listener))
    session.publish_wait("conf/after", b"1", 1, timeout=5.0)
    session.close()


def test_keepalive_pings_are_answered(
    alertloop_conformance_mosquitto: ConformanceMosquitto,
) -> None:
    session, _ = connect(alertloop_conformance_mosquitto.tls, keepalive=1)
    try:

        def pinged() -> bool:
            session.keepalive_tick()
            while (packet := session.poll()) is not None:
                session.handle(packet)
            return session.pongs >= 2

        wait_until(pinged, 10, what="two PINGREQs answered", interval=0.05)
    finally:
        session.close()


def test_disconnect_from_the_broker_carries_its_reason(
    alertloop_conformance_mosquitto: ConformanceMosquitto,
) -> None:
    client_id = new_client_id("taken")
    first, _ = connect(alertloop_conformance_mosquitto.plain, client_id)
    second, _ = connect(alertloop_conformance_mosquitto.plain, client_id)  # takes the session over
    try:
        with pytest.raises(MqttConnectionLost) as info:
            first.receive(time.monotonic() + 5)
            first.handle(first.receive(time.monotonic() + 5))
        assert info.value.reason_code in (None, int(mqtt5.DisconnectReasonCode.SESSION_TAKEN_OVER))
    finally:
        first.abort()
        second.close()
