"""The Flask app: ``POST /alert`` (basic auth), ``/healthz``, ``/metrics``, ``/openapi.json``.

Every error, from any layer, is answered with the same small JSON body:
``{"error": {"status": 422, "name": "Unprocessable Entity", "message": "..."}}``.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Iterator
from typing import Any

from flask import Flask, Response, current_app, jsonify, request
from flask_httpauth import HTTPBasicAuth
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, Metric
from werkzeug.exceptions import BadRequest, HTTPException, ServiceUnavailable, UnprocessableEntity

from alertloop.services.common.healthz import Health, add_process_metrics
from alertloop.services.webhook.authgate import VERDICT_KEY
from alertloop.services.webhook.config import WebhookConfig
from alertloop.services.webhook.errors import PayloadError, PublishError
from alertloop.services.webhook.openapi import openapi_document
from alertloop.services.webhook.passwords import PasswordVerifier
from alertloop.services.webhook.payloads import Decision, decide
from alertloop.services.webhook.publisher import MqttPublisher, Publisher

log = logging.getLogger(__name__)

EXTENSION = "alertloop_webhook"


class PublishesCollector:
    """``alertloop_webhook_mqtt_publishes_total``: the publisher's count, read at scrape time."""

    def __init__(self, publisher: Publisher) -> None:
        self.publisher = publisher

    def collect(self) -> Iterator[Metric]:
        yield CounterMetricFamily(
            "alertloop_webhook_mqtt_publishes",
            "Retained publishes acknowledged by the broker (concurrent notifications share one)",
            value=float(getattr(self.publisher, "publishes", 0)),
        )


class Metrics:
    """The app's Prometheus metrics, in a registry of its own (several apps may share a
    process), with the process metrics."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        add_process_metrics(self.registry)
        self.notifications = Counter(
            "alertloop_webhook_notifications",
            "Notifications received, by payload kind and outcome",
            ["kind", "outcome"],
            registry=self.registry,
        )
        self.publish_seconds = Histogram(
            "alertloop_webhook_publish_seconds",
            "Time from publishing the state to the broker's acknowledgement",
            buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5, 1.0, 5.0),
            registry=self.registry,
        )
        self.ignored = Counter(
            "alertloop_webhook_ignored_notifications",
            "Notifications answered 200 without publishing, by payload kind and reason "
            "(test, no_match, no_alerts, policy)",
            ["kind", "reason"],
            registry=self.registry,
        )
        self._children: dict[tuple[str, str], Any] = {}

    def count(self, kind: str, outcome: str) -> None:
        """Count one notification (label children resolved once)."""
        child = self._children.get((kind, outcome))
        if child is None:
            child = self._children[(kind, outcome)] = self.notifications.labels(kind, outcome)
        child.inc()


class SyncBasicAuth(HTTPBasicAuth):
    """Flask-HTTPAuth basic auth without its per-call coroutine checks (every callback here is
    synchronous), which cost three ``inspect`` calls a request."""

    def ensure_sync(self, f: Any) -> Any:
        return f


def error_response(status: int, name: str, message: str) -> Response:
    response = jsonify({"error": {"status": status, "name": name, "message": message}})
    response.status_code = status
    return response


def _handle_http_exception(exc: HTTPException) -> Response:
    response = error_response(exc.code or 500, exc.name, exc.description or exc.name)
    for key, value in exc.get_headers():
        if key.lower() != "content-type":
            response.headers[key] = value
    return response


def _handle_unexpected(exc: Exception) -> Response:
    log.exception("unhandled error in request", extra={"path": request.path})
    return error_response(500, "Internal Server Error", "unexpected error; see the service log")


def create_app(config: WebhookConfig, publisher: Publisher | None = None) -> Flask:
    """A Flask app for ``config``; a publisher for the configured broker is made and started
    when none is given. Raises WebhookConfigError when the configuration is unusable.
    """
    config.validate()
    verifier = PasswordVerifier(config.users, plaintext=config.insecure_plaintext_users)
    if config.insecure_plaintext_users:
        log.warning(
            "INSECURE TEST MODE: plain-text passwords accepted%s; never use this in production",
            "" if config.users else " and NO USERS configured, so /alert needs no credentials",
        )
    if publisher is None:
        publisher = MqttPublisher(
            config.mqtt,
            config.topic,
            qos=config.qos,
            timeout=config.publish_timeout,
            client_id=config.client_id,
        ).start()
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = config.max_body_bytes
    app.json.sort_keys = False  # type: ignore[attr-defined]
    metrics = Metrics()
    metrics.registry.register(PublishesCollector(publisher))
    app.extensions[EXTENSION] = {
        "config": config,
        "publisher": publisher,
        "metrics": metrics,
        "verifier": verifier,
    }
    auth = SyncBasicAuth(realm="alertloop webhook")

    @auth.verify_password
    def verify_password(username: str, password: str) -> str | bool:
        if not config.users:
            return "anonymous"
        # The HTTP front checked these credentials before reading the body (authgate.py).
        checked = request.environ.get(VERDICT_KEY)
        if checked is not None and checked[:2] == (username or "", password or ""):
            ok = checked.ok
        else:
            ok = verifier.verify(username or "", password or "")
        if ok:
            return username
        metrics.count("unknown", "unauthorized")
        return False

    @auth.error_handler
    def auth_error(status: int) -> Response:
        names = {401: "Unauthorized", 403: "Forbidden"}
        return error_response(status, names.get(status, "Error"), "valid credentials required")

    app.register_error_handler(HTTPException, _handle_http_exception)
    app.register_error_handler(Exception, _handle_unexpected)

    @app.post("/alert")
    @auth.login_required
    def alert() -> tuple[Response, int] | Response:
        return _alert(config, publisher, metrics, auth.current_user())

    @app.get("/healthz")
    def healthz() -> tuple[Response, int]:
        health = webhook_health(config, publisher)
        return jsonify(health.to_dict()), health.http_status

    @app.get("/metrics")
    def metrics_view() -> Response:
        return Response(generate_latest(metrics.registry), content_type=CONTENT_TYPE_LATEST)

    @app.get("/openapi.json")
    def openapi() -> Response:
        return jsonify(openapi_document(current_app.config["MAX_CONTENT_LENGTH"]))

    return app


def webhook_health(config: WebhookConfig, publisher: Publisher) -> Health:
    """Failing (503) while the publisher does not accept publishes: not connected to the
    broker, or still putting back the confirmed state after an unconfirmed publish."""
    up = publisher.connected
    restoring = getattr(publisher, "restoring", None)
    problems: dict[str, str] = {}
    if not up and restoring is not None:
        problems["mqtt_restoring"] = (
            f"putting back the confirmed state {restoring!r} after an unconfirmed publish"
        )
    elif not up:
        problems["mqtt_disconnected"] = f"not connected to the broker at {config.mqtt.safe_url}"
    checks: dict[str, object] = {
        "mqtt_connected": up,
        "topic": publisher.topic,
        "publishes": int(getattr(publisher, "publishes", 0)),
    }
    return Health("webhook", problems, checks)


def _alert(config: WebhookConfig, publisher: Publisher, metrics: Metrics, user: Any) -> Response:
    raw = request.get_data(cache=False)
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        metrics.count("invalid", "bad_request")
        raise BadRequest(f"body is not JSON: {exc}") from None
    try:
        decision = decide(body, config.policy, config.selector)
    except PayloadError as exc:
        metrics.count("invalid", "unprocessable")
        raise UnprocessableEntity(str(exc)) from None
    if decision.ignored is not None:
        return _ignored(decision, publisher.topic, metrics, user)
    try:
        result = publisher.publish(decision)
    except PublishError as exc:
        metrics.count(decision.kind, "unavailable")
        log.warning("publish failed", extra={"kind": decision.kind, "error": str(exc)})
        error = ServiceUnavailable(str(exc))
        error.retry_after = 5  # type: ignore[assignment]
        raise error from None
    metrics.count(decision.kind, result.outcome)
    if result.outcome in ("published", "superseded"):
        metrics.publish_seconds.observe(result.seconds)
    # Published states are logged once per change by the publisher; the rest is rarer news.
    level = logging.DEBUG if result.outcome in ("published", "superseded") else logging.INFO
    if log.isEnabledFor(level):
        log.log(
            level,
            "notification",
            extra={
                "user": user,
                "kind": decision.kind,
                "outcome": result.outcome,
                "value": decision.value,
                "reason": decision.reason,
                "rule": decision.rule,
                "alerts": decision.alerts,
            },
        )
    body = _result_body(
        result.outcome, decision.kind, decision.value, result.topic, decision.reason
    )
    return Response(body, mimetype="application/json")


def _ignored(decision: Decision, topic: str, metrics: Metrics, user: Any) -> Response:
    """A notification in which nothing counts: 200, nothing published, counted by reason."""
    reason = decision.ignored or "no_match"
    metrics.count(decision.kind, "ignored")
    metrics.ignored.labels(decision.kind, reason).inc()
    log.info(
        "notification ignored",
        extra={"user": user, "kind": decision.kind, "ignored": reason, "reason": decision.reason},
    )
    fields = {
        "status": "ignored",
        "kind": decision.kind,
        "value": None,
        "topic": topic,
        "reason": decision.reason,
        "ignored": reason,
    }
    return Response(json.dumps(fields), mimetype="application/json")


@functools.lru_cache(maxsize=256)
def _result_body(outcome: str, kind: str, value: str | None, topic: str, reason: str) -> bytes:
    """The 200 answer; the same few answers repeat, so they are encoded once."""
    fields = {"status": outcome, "kind": kind, "value": value, "topic": topic, "reason": reason}
    return json.dumps(fields).encode()
