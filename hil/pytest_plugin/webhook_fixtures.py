"""Fixtures for the webhook service: ``alertloop_webhook_factory`` and ``alertloop_webhook``."""

from __future__ import annotations

import contextlib
import queue
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

from alertloop.hil.capture import MqttCapture
from alertloop.services.common.config import MqttSettings
from alertloop.services.common.errors import AlertloopError, TimeoutExpired
from alertloop.services.common.mqtt import make_client, new_client_id

if TYPE_CHECKING:  # the service and Flask load when a test starts a webhook, not with pytest
    from alertloop.hil.stack import Stack
    from alertloop.services.webhook import WebhookConfig, WebhookServer

__all__ = ["alertloop_read_retained", "alertloop_webhook", "alertloop_webhook_factory"]

# Production hashes are scrypt (about 100 ms a check); tests use a cheaper but real hash.
TEST_HASH_METHOD = "pbkdf2:sha256:20000"


@dataclass(frozen=True)
class RetainedMessage:
    topic: str
    payload: bytes
    qos: int
    retain: bool


def fetch_retained(
    settings: MqttSettings, topic: str, timeout: float = 5.0, qos: int = 1
) -> RetainedMessage:
    """The message a subscriber connecting now receives first on ``topic`` (the retained one).

    Raises TimeoutExpired when nothing arrives within ``timeout``.
    """
    inbox: queue.Queue[RetainedMessage] = queue.Queue(maxsize=16)
    client = make_client(settings, new_client_id("alertloop-retained"))
    client.on_connect = lambda c, u, f, rc, p: c.subscribe(topic, qos)
    client.on_message = lambda c, u, m: inbox.put_nowait(
        RetainedMessage(m.topic, bytes(m.payload), m.qos, bool(m.retain))
    )
    client.connect(settings.host, settings.port, keepalive=30)
    client.loop_start()
    try:
        return inbox.get(timeout=timeout)
    except queue.Empty:
        raise TimeoutExpired(
            f"no message on {topic!r} within {timeout:.1f} s from {settings.safe_url}",
        ) from None
    finally:
        client.disconnect()
        client.loop_stop()


@dataclass
class RunningWebhook:
    """A started webhook server and the credentials a client (Grafana, a test) uses."""

    server: WebhookServer
    username: str
    password: str

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def alert_url(self) -> str:
        return f"{self.server.url}/alert"

    @property
    def auth(self) -> tuple[str, str]:
        return (self.username, self.password)

    @property
    def config(self) -> WebhookConfig:
        return self.server.config

    @property
    def topic(self) -> str:
        return self.server.config.topic


@pytest.fixture
def alertloop_webhook_factory(
    alertloop_stack: Stack, alertloop_unique_topic: str
) -> Iterator[Callable[..., RunningWebhook]]:
    """``alertloop_webhook_factory(wait_connected=True, **config_overrides)`` -> a started webhook.

    Defaults: the shared broker, topic ``f"{alertloop_unique_topic}/alert"``, a generated user
    with a hashed password, a free port on 127.0.0.1. Every server is stopped, and the retained
    messages it may have left on the shared broker are cleared, at teardown."""
    from alertloop.services.webhook import WebhookConfig, WebhookServer
    from alertloop.services.webhook.passwords import hash_password

    started: list[RunningWebhook] = []

    def factory(wait_connected: bool = True, **overrides: Any) -> RunningWebhook:
        username = f"grafana-{secrets.token_hex(3)}"
        password = secrets.token_urlsafe(16)
        fields: dict[str, Any] = {
            "mqtt": alertloop_stack.mqtt,
            "topic": f"{alertloop_unique_topic}/alert",
            "bind": "127.0.0.1:0",
            "users": {username: hash_password(password, TEST_HASH_METHOD)},
            "threads": 4,
        }
        fields.update(overrides)
        server = WebhookServer(WebhookConfig(**fields)).start()
        running = RunningWebhook(server, username, password)
        started.append(running)
        if wait_connected:
            server.wait_connected(10.0)
        return running

    try:
        yield factory
    finally:
        for running in reversed(started):
            running.server.stop()
        topics = {r.topic for r in started if r.config.mqtt == alertloop_stack.mqtt}
        with (
            contextlib.suppress(AlertloopError, OSError),
            MqttCapture(alertloop_stack.mqtt) as capture,
        ):
            for topic in topics:
                capture.publish(topic, b"", retain=True)


@pytest.fixture
def alertloop_webhook(alertloop_webhook_factory: Callable[..., RunningWebhook]) -> RunningWebhook:
    """A started webhook publishing to ``f"{alertloop_unique_topic}/alert"`` on the shared
    broker."""
    return alertloop_webhook_factory()


@pytest.fixture
def alertloop_read_retained(alertloop_stack: Stack) -> Callable[..., RetainedMessage]:
    """``alertloop_read_retained(topic, settings=None, timeout=5.0, qos=1)``: what a late
    subscriber gets."""

    def read(
        topic: str, settings: MqttSettings | None = None, timeout: float = 5.0, qos: int = 1
    ) -> RetainedMessage:
        return fetch_retained(settings or alertloop_stack.mqtt, topic, timeout, qos)

    return read
