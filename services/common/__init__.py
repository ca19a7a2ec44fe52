"""Pieces shared by every alertloop component: configuration, MQTT client setup, logging, deadlines."""

from alertloop.services.common.config import InfluxSettings, MqttSettings, MqttTls, setting
from alertloop.services.common.deadline import Deadline, wait_until
from alertloop.services.common.errors import AlertloopError, ConfigError, TimeoutExpired

__all__ = [
    "AlertloopError",
    "ConfigError",
    "Deadline",
    "InfluxSettings",
    "MqttSettings",
    "MqttTls",
    "TimeoutExpired",
    "setting",
    "wait_until",
]
