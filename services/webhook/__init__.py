"""The webhook service: Grafana alert notifications (unified and legacy) to a retained MQTT message."""

from services.webhook.app import create_app
from services.webhook.config import WebhookConfig
from services.webhook.errors import PayloadError, PublishError, WebhookConfigError, WebhookError
from services.webhook.selector import Selector, build_selector
from services.webhook.server import WebhookServer

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
