"""Opening an MQTT 5 session: TCP, TLS, CONNECT and the CONNACK with its reason code.

``open_session(settings, ConnectOptions(...))`` returns a connected
:class:`~alertloop.services.common.mqtt5_session.Mqtt5Session` whose ``accepted`` says what the broker
granted (session present, keepalive, Receive Maximum, maximum QoS, retain). A refusal becomes
:class:`MqttRefused` (:class:`MqttAuthError` for credentials) naming the reason code; a TLS
failure :class:`MqttTlsError` with a hint; no CONNACK in time :class:`MqttTimeout`.

Session present (MQTT 5 section 3.2.2.1.1): with ``clean_start`` the broker must answer 0, and
a 1 is a protocol error that closes the connection. Without ``clean_start`` the caller decides
what its in-flight messages become (``alertloop.services.common.mqtt5_outbox``).
"""

from __future__ import annotations

import socket
import ssl
import time
from dataclasses import dataclass

import mqtt5

from alertloop.services.common.config import MqttSettings
from alertloop.services.common.mqtt5_errors import (
    FAILURE,
    MqttProtocolError,
    MqttTimeout,
    MqttTlsError,
    refused,
)
from alertloop.services.common.mqtt5_session import Mqtt5Session
from alertloop.services.common.mqtt_tls import client_context, server_name

__all__ = ["Accepted", "ConnectOptions", "open_session"]


@dataclass(frozen=True)
class ConnectOptions:
    """What the CONNECT asks for."""

    client_id: str
    clean_start: bool = True
    keepalive: int = 30
    session_expiry: int = 0  # seconds the broker keeps the session after a disconnect
    receive_maximum: int = 65535  # QoS 1/2 messages the broker may send unacknowledged
    timeout: float = 10.0  # for the TCP connect, the TLS handshake and the CONNACK


@dataclass(frozen=True)
class Accepted:
    """What the broker granted in its CONNACK."""

    session_present: bool
    keepalive: int
    receive_maximum: int  # QoS 1/2 publishes the client may have in flight
    max_qos: int
    retain_available: bool
    assigned_client_id: str | None


def open_session(settings: MqttSettings, options: ConnectOptions) -> tuple[Mqtt5Session, Accepted]:
    """Connect, log in and read the CONNACK.

    Raises OSError (network), ConfigError (unreadable TLS files), MqttTlsError, MqttRefused
    (MqttAuthError), MqttTimeout, MqttProtocolError.
    """
    deadline = time.monotonic() + options.timeout
    sock = socket.create_connection((settings.host, settings.port), timeout=options.timeout)
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if settings.tls:
            sock = _wrap_tls(sock, settings)
        session = Mqtt5Session(sock, settings.safe_url, options.keepalive)
        password = settings.password
        session.send(
            mqtt5.ConnectPacket(
                options.client_id,
                username=settings.username or None,
                password=password.encode() if password is not None else None,
                clean_start=options.clean_start,
                keep_alive=options.keepalive,
                session_expiry_interval=options.session_expiry,
                receive_max=options.receive_maximum,
            ).write()
        )
        try:
            ack = session.receive(deadline)
        except MqttTimeout:
            raise MqttTimeout(
                f"no CONNACK from {settings.safe_url} within {options.timeout:.1f} s; "
                "is it an MQTT 5 broker?"
            ) from None
        accepted = _check_connack(ack, settings, options)
        session.keepalive = accepted.keepalive
        session.session_present = accepted.session_present
    except BaseException:
        sock.close()
        raise
    return session, accepted


def _wrap_tls(sock: socket.socket, settings: MqttSettings) -> ssl.SSLSocket:
    name = server_name(settings)
    try:
        return client_context(settings).wrap_socket(sock, server_hostname=name)
    except ssl.SSLCertVerificationError as exc:
        hint = "is --mqtt-ca-file the CA that signed the broker's certificate?"
        if exc.verify_code == 62 or "hostname" in str(exc.verify_message or exc).lower():
            hint = f"the certificate does not name {name!r}; --mqtt-server-name sets the name"
        raise MqttTlsError(
            f"TLS with {settings.safe_url}: {(exc.verify_message or str(exc)).rstrip('.')}; {hint}"
        ) from exc
    except ssl.SSLError as exc:
        raise MqttTlsError(f"TLS with {settings.safe_url} failed: {exc}") from exc


def _check_connack(ack: mqtt5.Packet, settings: MqttSettings, options: ConnectOptions) -> Accepted:
    if not isinstance(ack, mqtt5.ConnAckPacket):
        raise MqttProtocolError(f"{settings.safe_url} answered CONNECT with {ack!r}")
    if int(ack.reason_code) >= FAILURE:
        raise refused(f"{settings.safe_url} refused the connection", ack.reason_code)
    if options.clean_start and ack.session_present:
        raise MqttProtocolError(
            f"{settings.safe_url} claims a stored session after a clean start (MQTT 5 3.2.2.1.1)"
        )
    keepalive = ack.server_keep_alive if ack.server_keep_alive is not None else options.keepalive
    return Accepted(
        session_present=bool(ack.session_present),
        keepalive=int(keepalive),
        receive_maximum=int(ack.receive_max),
        max_qos=int(ack.max_qos),
        retain_available=bool(ack.retain_available),
        assigned_client_id=ack.assigned_client_id,
    )
