"""The webhook service: Grafana alert notifications (unified and legacy) to a retained MQTT message."""

from alertloop.services.webhook.app import create_app
from alertloop.services.webhook.config import WebhookConfig
from alertloop.services.webhook.errors import (
    PayloadError,
    PublishError,
    WebhookConfigError,
    WebhookError,
)
from alertloop.services.webhook.selector import Selector, build_selector
from alertloop.services.webhook.server import WebhookServer

__all__ = [
    "PayloadError",
    "PublishError",
    "Selector",
    "WebhookConfig",
    "WebhookConfigError",
    "WebhookError",
    "WebhookServer",
    "build_selector",
    "create_app",
]
