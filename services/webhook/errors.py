"""The webhook's error types, all under one root that derives from AlertloopError."""

from __future__ import annotations

from alertloop.services.common.errors import AlertloopError, ConfigError


class WebhookError(AlertloopError):
    """Root of every error the webhook service raises on purpose."""


class WebhookConfigError(WebhookError, ConfigError):
    """A flag, variable or users file holds a value the webhook cannot use."""


class PayloadError(WebhookError, ValueError):
    """A JSON body is neither a unified nor a legacy Grafana notification (HTTP 422)."""


class PublishError(WebhookError):
    """The state could not be published and acknowledged by the broker in time (HTTP 503)."""


class PublisherNotStarted(PublishError):
    """``publish`` was called on a publisher that is not started (or already stopped)."""


class SessionError(WebhookError):
    """The MQTT session failed: refused, malformed traffic, or the connection was lost."""


class SessionTimeout(SessionError):
    """The broker did not answer (CONNACK, acknowledgement) in time."""
