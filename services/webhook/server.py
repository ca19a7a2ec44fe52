"""The webhook service: publisher, Flask app and HTTP front together: ``WebhookServer(cfg).start()``."""

from __future__ import annotations

import logging
from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from alertloop.services.common.lifecycle import Lifecycle
from alertloop.services.webhook.app import EXTENSION, create_app
from alertloop.services.webhook.authgate import BasicAuthGate
from alertloop.services.webhook.config import WebhookConfig
from alertloop.services.webhook.errors import WebhookError
from alertloop.services.webhook.httpfront import HttpFront, HttpLimits
from alertloop.services.webhook.publisher import MqttPublisher

log = logging.getLogger(__name__)


def http_limits(cfg: WebhookConfig) -> HttpLimits:
    """The HTTP front's limits from the configuration."""
    return HttpLimits(
        max_body=cfg.max_body_bytes,
        max_connections=cfg.max_connections,
        max_connections_per_client=cfg.max_connections_per_client,
        header_timeout=cfg.header_timeout,
        body_timeout=cfg.body_timeout,
        idle_timeout=cfg.idle_timeout,
        threads=cfg.threads,
    )


class FrontCollector:
    """The HTTP front's connection figures in the app's ``/metrics``."""

    def __init__(self, front: HttpFront) -> None:
        self.front = front

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            "alertloop_webhook_http_connections",
            "HTTP connections open",
            value=self.front.connections,
        )
        for name, text, value in (
            (
                "refused",
                "Connections closed at once because every one was busy",
                self.front.refused,
            ),
            (
                "replaced",
                "Idle or unauthenticated connections closed at a cap for a new one",
                self.front.replaced,
            ),
            (
                "timeouts",
                "Requests cut off by the header or body deadline (408)",
                self.front.timeouts,
            ),
        ):
            yield CounterMetricFamily(f"alertloop_webhook_http_{name}", text, value=value)


class WebhookServer(Lifecycle):
    """The webhook service: MQTT publisher + Flask app + HTTP front, with start/stop.

    ``start()`` raises WebhookConfigError for an unusable configuration and WebhookError when
    the address cannot be bound. The broker may be down at start: requests get 503 until it is up.
    """

    def __init__(self, cfg: WebhookConfig, publisher: MqttPublisher | None = None) -> None:
        self.config = cfg
        self._own_publisher = publisher is None
        self.publisher = publisher
        self._http: HttpFront | None = None

    @property
    def url(self) -> str:
        """The base URL, e.g. ``http://127.0.0.1:43817`` (POST ``{url}/alert``)."""
        if self._http is None:
            raise WebhookError("the webhook server is not started")
        return self._http.url

    @property
    def connections(self) -> int:
        """HTTP connections open now (0 when not started)."""
        return self._http.connections if self._http is not None else 0

    @property
    def running(self) -> bool:
        return self._http is not None

    def start(self) -> WebhookServer:
        if self._http is not None:
            return self
        cfg = self.config.validate()
        try:
            if self.publisher is None:
                self.publisher = MqttPublisher(
                    cfg.mqtt,
                    cfg.topic,
                    qos=cfg.qos,
                    timeout=cfg.publish_timeout,
                    client_id=cfg.client_id,
                )
            self.publisher.start()
            app = create_app(cfg, self.publisher)
            gate = BasicAuthGate(app.extensions[EXTENSION]["verifier"]) if cfg.users else None
            http = HttpFront(app, cfg.host, cfg.port, http_limits(cfg), gate)
            app.extensions[EXTENSION]["metrics"].registry.register(FrontCollector(http))
            http.start()
        except BaseException:
            self.stop()
            raise
        self._http = http
        log.info(
            "webhook listening",
            extra={
                "url": http.url,
                "topic": cfg.topic,
                "qos": cfg.qos,
                "broker": cfg.mqtt.safe_url,
            },
        )
        return self

    def wait_connected(self, timeout: float = 10.0) -> None:
        """Wait for the MQTT connection; raises TimeoutExpired (with the last event) if it fails."""
        if self.publisher is None:
            raise WebhookError("the webhook server is not started")
        self.publisher.wait_connected(timeout)

    def stop(self) -> None:
        http, self._http = self._http, None
        if http is not None:
            http.stop()
        if self._own_publisher and self.publisher is not None:
            self.publisher.stop()
            self.publisher = None
