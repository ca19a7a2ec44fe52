"""Serving the app with waitress on a background thread: ``WebhookServer(cfg).start()``."""

from __future__ import annotations

import logging
import threading
from typing import Any

from flask import Flask
from waitress.channel import HTTPChannel
from waitress.server import create_server

from services.common.lifecycle import Lifecycle
from services.webhook.app import create_app
from services.webhook.config import WebhookConfig
from services.webhook.errors import WebhookError
from services.webhook.publisher import MqttPublisher

log = logging.getLogger(__name__)


def waitress_options(threads: int) -> dict[str, Any]:
    """The waitress settings of the service (the benchmark serves its baseline with the same)."""
    return {
        "threads": threads,
        "connection_limit": 200,
        "backlog": 1024,
        "channel_timeout": 60,
        "asyncore_use_poll": True,
        "clear_untrusted_proxy_headers": True,
        "expose_tracebacks": False,
        "ident": "alertloop-webhook",
    }


class WsgiThread:
    """A WSGI app served by waitress on a daemon thread; port 0 picks a free port."""

    def __init__(self, app: Flask, host: str, port: int, **options: Any) -> None:
        self._server: Any = create_server(app, host=host, port=port, **options)
        self.host = host
        self.port = int(self._server.effective_port)
        self._thread = threading.Thread(target=self._server.run, name="webhook-http", daemon=True)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Close the listening socket and every connection, then the worker threads."""
        if self._thread.is_alive():
            # Closing from the loop's own thread wakes it at once and avoids racing it.
            self._server.trigger.pull_trigger(self._close_all)
            self._thread.join(timeout)
        if self._server._map:
            self._close_all()
            if self._thread.ident is not None:
                self._thread.join(timeout)
        self._server.task_dispatcher.shutdown(timeout=timeout)

    def _close_all(self) -> None:
        for dispatcher in list(self._server._map.values()):
            if isinstance(dispatcher, HTTPChannel):
                dispatcher.handle_close()
            else:
                dispatcher.close()


class WebhookServer(Lifecycle):
    """The webhook service: MQTT publisher + Flask app + waitress, with start/stop.

    ``start()`` raises WebhookConfigError for an unusable configuration and WebhookError when
    the address cannot be bound. The broker may be down at start: requests get 503 until it is up.
    """

    def __init__(self, cfg: WebhookConfig, publisher: MqttPublisher | None = None) -> None:
        self.config = cfg
        self._own_publisher = publisher is None
        self.publisher = publisher
        self._http: WsgiThread | None = None

    @property
    def url(self) -> str:
        """The base URL, e.g. ``http://127.0.0.1:43817`` (POST ``{url}/alert``)."""
        if self._http is None:
            raise WebhookError("the webhook server is not started")
        return self._http.url

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
            try:
                http = WsgiThread(app, cfg.host, cfg.port, **waitress_options(cfg.threads))
            except OSError as exc:
                raise WebhookError(f"cannot listen on {cfg.bind}: {exc.strerror or exc}") from exc
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
