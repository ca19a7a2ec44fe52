"""The errors of the shared MQTT 5 session, and reason codes written for people.

Every failure of the session is an :class:`MqttSessionError` (network errors stay ``OSError``);
each service converts these to its own error types at its boundary.
"""

from __future__ import annotations

from alertloop.services.common.errors import AlertloopError, TimeoutExpired

__all__ = [
    "MqttAuthError",
    "MqttConnectionLost",
    "MqttProtocolError",
    "MqttRefused",
    "MqttSessionError",
    "MqttTimeout",
    "MqttTlsError",
    "reason_text",
]

FAILURE = 0x80  # MQTT 5 reason codes from 0x80 on are failures
_AUTH_CODES = {0x86, 0x87, 0x8A, 0x8C}  # bad user/password, not authorized, banned, bad auth method


class MqttSessionError(AlertloopError):
    """The MQTT session failed: refused, malformed traffic, or the connection was lost."""


class MqttRefused(MqttSessionError):
    """The broker answered with a failure reason code (CONNACK, SUBACK, PUBACK, ...)."""

    def __init__(self, message: str, reason_code: int) -> None:
        super().__init__(message)
        self.reason_code = reason_code


class MqttAuthError(MqttRefused):
    """The broker refused the credentials (bad user name or password, not authorized, banned)."""


class MqttTimeout(MqttSessionError, TimeoutExpired):
    """The broker did not answer in time (CONNACK, an acknowledgement, a PINGRESP)."""


class MqttConnectionLost(MqttSessionError):
    """The broker closed the connection or sent DISCONNECT (``reason_code`` when it said why)."""

    def __init__(self, message: str, reason_code: int | None = None) -> None:
        super().__init__(message)
        self.reason_code = reason_code


class MqttProtocolError(MqttSessionError):
    """The broker sent something the protocol does not allow (malformed, out of order)."""


class MqttTlsError(MqttSessionError):
    """The TLS handshake failed: untrusted or mismatched certificate, or a client key problem."""


def reason_text(code: int) -> str:
    """``NOT_AUTHORIZED (135)`` for a reason code (an ``mqtt5`` enum or a plain int)."""
    name = getattr(code, "name", None)
    return f"{name} ({int(code)})" if name else str(int(code))


def refused(what: str, code: int) -> MqttRefused:
    """The error for a failure reason code: MqttAuthError for the credential codes."""
    kind = MqttAuthError if int(code) in _AUTH_CODES else MqttRefused
    return kind(f"{what}: {reason_text(code)}", int(code))
