"""MQTT-to-InfluxDB ingester: ``from alertloop.services.ingester import Ingester, IngesterConfig``."""

from alertloop.services.ingester.config import IngesterConfig
from alertloop.services.ingester.errors import (
    EncodeError,
    IngesterError,
    MqttError,
    PayloadRejected,
    SpoolError,
    SpoolFull,
    WriteFailed,
    WriteRejected,
)
from alertloop.services.ingester.service import Ingester

__all__ = [
    "EncodeError",
    "Ingester",
    "IngesterConfig",
    "IngesterError",
    "MqttError",
    "PayloadRejected",
    "SpoolError",
    "SpoolFull",
    "WriteFailed",
    "WriteRejected",
]
