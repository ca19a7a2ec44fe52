"""MQTT-to-InfluxDB ingester: ``from services.ingester import Ingester, IngesterConfig``."""

from services.ingester.config import IngesterConfig
from services.ingester.errors import (
    EncodeError,
    IngesterError,
    MqttError,
    PayloadRejected,
    SpoolError,
    SpoolFull,
    WriteFailed,
    WriteRejected,
)
from services.ingester.service import Ingester

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
