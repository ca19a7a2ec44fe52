"""The webhook's MQTT 5 session: the shared session module with the webhook's rules.

``alertloop.services.common.mqtt5_connect`` opens the connection (TLS options, CONNECT/CONNACK, reason
codes) and ``alertloop.services.common.mqtt5_session`` moves the packets; this module adds what only the
webhook needs and converts errors to the webhook's own types at the boundary:

- every connection is a clean start with no stored session (session expiry 0), so the broker
  holds nothing of ours after a disconnect, and a CONNACK that claims a session is refused;
- the broker must be able to retain messages at the publish QoS;
- at most one publish is in flight, and it is never resent: a publish whose acknowledgement
  did not come is failed back to its request (the publisher answers 503 and replaces the
  session), never sent again on a new connection.

It has no thread and does not reconnect: the publisher drives it under its I/O lock. A publish
costs one ``sendall`` and one or two ``recv`` calls.
"""

from __future__ import annotations

import mqtt5

from alertloop.services.common.config import MqttSettings
from alertloop.services.common.errors import ConfigError
from alertloop.services.common.mqtt5_connect import ConnectOptions, open_session
from alertloop.services.common.mqtt5_errors import MqttSessionError, MqttTimeout
from alertloop.services.common.mqtt5_session import Mqtt5Session
from alertloop.services.webhook.errors import SessionError, SessionTimeout

__all__ = ["MqttSession"]


def _converted(exc: MqttSessionError | ConfigError) -> SessionError:
    kind = SessionTimeout if isinstance(exc, MqttTimeout) else SessionError
    return kind(str(exc))


class MqttSession:
    """One connected MQTT 5 session (clean start, no stored session); use ``open``."""

    def __init__(self, session: Mqtt5Session) -> None:
        self._session = session
        self.broker = session.broker

    @classmethod
    def open(
        cls,
        settings: MqttSettings,
        client_id: str,
        *,
        keepalive: int = 30,
        timeout: float = 5.0,
        qos: int = 1,
    ) -> MqttSession:
        """Connect, log in and wait for the CONNACK.

        Raises OSError (network) or SessionError (refused by the broker with its reason code,
        TLS failure, or it cannot retain messages at ``qos``); SessionTimeout when no CONNACK
        comes within ``timeout``.
        """
        options = ConnectOptions(client_id, clean_start=True, keepalive=keepalive, timeout=timeout)
        try:
            session, accepted = open_session(settings, options)
        except (MqttSessionError, ConfigError) as exc:
            raise _converted(exc) from exc
        if not accepted.retain_available or accepted.max_qos < qos:
            session.close()
            raise SessionError(
                f"{settings.safe_url} cannot retain messages at QoS {qos} "
                f"(retain {accepted.retain_available}, max QoS {accepted.max_qos})"
            )
        return cls(session)

    @property
    def keepalive(self) -> int:
        return self._session.keepalive

    @property
    def pongs(self) -> int:
        """PINGRESPs received."""
        return self._session.pongs

    @property
    def closed(self) -> bool:
        return self._session.closed

    def publish(self, topic: str, payload: bytes, qos: int, timeout: float) -> None:
        """Publish retained at ``qos`` and wait for the broker's acknowledgement (QoS 1: PUBACK,
        QoS 2: PUBREC, PUBREL, PUBCOMP; QoS 0: sent).

        Raises SessionTimeout (no acknowledgement within ``timeout``), SessionError (refused
        by the broker with a failure reason code, or the connection is lost) or OSError.
        """
        try:
            self._session.publish_wait(topic, payload, qos, timeout, retain=True)
        except MqttSessionError as exc:
            raise _converted(exc) from exc

    def service(self) -> None:
        """Read what arrived without waiting and send a PINGREQ when one is due.

        Raises SessionError when the broker closed the connection, sent DISCONNECT or did not
        answer a PINGREQ within the keepalive; OSError on a broken socket.
        """
        session = self._session
        try:
            while (packet := session.poll()) is not None:
                session.handle(packet)  # PINGRESP, DISCONNECT; a stray ack is of no interest
            session.keepalive_tick()
        except MqttSessionError as exc:
            raise _converted(exc) from exc

    def close(self) -> None:
        """Send DISCONNECT if possible and close the socket; never raises."""
        self._session.close(int(mqtt5.DisconnectReasonCode.NORMAL_DISCONNECTION), linger=0.2)
