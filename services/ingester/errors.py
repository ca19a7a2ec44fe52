"""The ingester's error types; every one derives from ``IngesterError``."""

from __future__ import annotations

from alertloop.services.common.errors import AlertloopError


class IngesterError(AlertloopError):
    """Root of every error the ingester raises on purpose."""


class PayloadRejected(IngesterError):
    """A payload cannot become a point; ``reason`` is a short machine-readable word."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class EncodeError(IngesterError):
    """A name or tag value cannot be written as InfluxDB 1.x line protocol."""


class SpoolError(IngesterError):
    """The on-disk spool cannot be opened, written or read."""


class SpoolFull(SpoolError):
    """The spool holds its size bound; the caller must wait before appending more."""


class WriteError(IngesterError):
    """A write to InfluxDB did not succeed."""


class WriteFailed(WriteError):
    """A write that may succeed later: connection error, timeout or 5xx answer."""


class WriteRejected(WriteError):
    """InfluxDB refused the data itself (4xx: parse error, type conflict); retrying will not help."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status
        self.message = message


class MqttError(IngesterError):
    """The broker refused the connection or subscription, or sent something unusable."""


class LockHeld(IngesterError):
    """Another process holds the lock on a spool directory or a client id.

    ``holder`` is what that process wrote into the lock file (``pid``, ``client_id``, ``host``,
    ``spool``), empty when it could not be read.
    """

    def __init__(self, message: str, holder: dict[str, object]) -> None:
        super().__init__(message)
        self.holder = holder
