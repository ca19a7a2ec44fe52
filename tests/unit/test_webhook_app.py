"""The Flask app with a fake publisher: auth, every error class, health, metrics, OpenAPI, fuzzing."""

from __future__ import annotations

import base64
import json
import logging
import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alertloop.services.common.config import MqttSettings
from alertloop.services.common.healthz import version
from alertloop.services.webhook import WebhookConfig, WebhookConfigError, create_app
from alertloop.services.webhook.errors import PublishError
from alertloop.services.webhook.examples import (
    LEGACY_DOC_EXAMPLE,
    UNIFIED_DOC_EXAMPLE,
    legacy,
    unified,
    unified_alert,
)
from alertloop.services.webhook.passwords import hash_password
from alertloop.services.webhook.payloads import Decision
from alertloop.services.webhook.publisher import PublishResult

USER, PASSWORD = "grafana", "correct horse"
HASH = hash_password(PASSWORD, "pbkdf2:sha256:1000")


class FakePublisher:
    """Records decisions; can be told to fail or to be disconnected."""

    topic = "/alert"

    def __init__(self) -> None:
        self.decisions: list[Decision] = []
        self.connected = True
        self.restoring: str | None = None
        self.publishes = 0
        self.error: Exception | None = None

    def publish(self, decision: Decision) -> PublishResult:
        if self.error is not None:
            raise self.error
        self.decisions.append(decision)
        if decision.value is None:
            return PublishResult("unchanged", None, self.topic)
        return PublishResult("published", decision.value, self.topic, 0.001)


def _config(**overrides: Any) -> WebhookConfig:
    fields: dict[str, Any] = {
        "mqtt": MqttSettings("127.0.0.1", 1),
        "users": {USER: HASH},
        "max_body_bytes": 4096,
    }
    fields.update(overrides)
    return WebhookConfig(**fields)


def _auth(user: str = USER, password: str = PASSWORD) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


@pytest.fixture
def publisher() -> FakePublisher:
    return FakePublisher()


@pytest.fixture
def app(publisher: FakePublisher) -> Flask:
    return create_app(_config(), publisher)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def _error_of(response: Any, status: int) -> str:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    error = response.get_json()["error"]
    assert error["status"] == status and error["name"] and error["message"]
    return str(error["message"])


@pytest.mark.parametrize(
    ("body", "value", "kind"),
    [
        (unified(unified_alert("firing")), "1", "unified"),
        (LEGACY_DOC_EXAMPLE, "1", "legacy"),
        (legacy("ok"), "0", "legacy"),
        (unified(unified_alert("resolved")), "0", "unified"),
    ],
    ids=["unified-firing", "legacy-doc", "legacy-ok", "unified-resolved"],
)
def test_notification_published(
    client: FlaskClient, publisher: FakePublisher, body: dict[str, Any], value: str, kind: str
) -> None:
    response = client.post("/alert", json=body, headers=_auth())
    assert response.status_code == 200
    assert response.get_json() == {
        "status": "published",
        "kind": kind,
        "value": value,
        "topic": "/alert",
        "reason": publisher.decisions[-1].reason,
    }
    assert publisher.decisions[-1].value == value


def test_no_change_answers_200_ignored(client: FlaskClient, publisher: FakePublisher) -> None:
    response = client.post("/alert", json=legacy("paused"), headers=_auth())
    assert response.status_code == 200
    assert response.get_json()["status"] == "ignored"
    assert response.get_json()["ignored"] == "policy"
    assert publisher.decisions == []


@pytest.mark.parametrize(
    "headers",
    [
        {},
        _auth(password="wrong"),
        _auth(user="nobody"),
        {"Authorization": "Bearer abc"},
        {"Authorization": "Basic !!!"},
    ],
    ids=["missing", "wrong-password", "unknown-user", "bearer", "garbage"],
)
def test_auth_failures(
    client: FlaskClient, publisher: FakePublisher, headers: dict[str, str]
) -> None:
    response = client.post("/alert", json=LEGACY_DOC_EXAMPLE, headers=headers)
    _error_of(response, 401)
    assert response.headers["WWW-Authenticate"].startswith("Basic realm=")
    assert publisher.decisions == []


def test_oversized_body_413(client: FlaskClient) -> None:
    body = json.dumps(legacy("ok", message="x" * 5000))
    _error_of(
        client.post("/alert", data=body, headers=_auth(), content_type="application/json"), 413
    )


@pytest.mark.parametrize(
    "data",
    [b"", b"{", b"state=alerting", b"\xff\xfe\xfa", b"[" * 100000],
    ids=["empty", "truncated", "form", "binary", "deep"],
)
def test_not_json_400(client: FlaskClient, data: bytes) -> None:
    app_client = client.application.test_client()
    response = app_client.post(
        "/alert", data=data[:4000], headers=_auth(), content_type="application/json"
    )
    _error_of(response, 400)


@pytest.mark.parametrize(
    "body",
    [[], {"hello": "world"}, {"state": "firing"}, {"alerts": [{"status": "x"}]}],
    ids=["list", "other", "bad-state", "bad-status"],
)
def test_neither_shape_422(client: FlaskClient, body: Any) -> None:
    _error_of(client.post("/alert", json=body, headers=_auth()), 422)


def test_publish_failure_503(client: FlaskClient, publisher: FakePublisher) -> None:
    publisher.error = PublishError("no acknowledgement")
    response = client.post("/alert", json=LEGACY_DOC_EXAMPLE, headers=_auth())
    assert "no acknowledgement" in _error_of(response, 503)
    assert response.headers["Retry-After"] == "5"


def test_unexpected_error_500_without_details(
    client: FlaskClient, publisher: FakePublisher
) -> None:
    publisher.error = RuntimeError("secret internals")
    response = client.post("/alert", json=LEGACY_DOC_EXAMPLE, headers=_auth())
    assert "secret" not in _error_of(response, 500)


def test_other_http_errors_share_the_shape(client: FlaskClient) -> None:
    _error_of(client.get("/alert"), 405)
    _error_of(client.get("/nowhere"), 404)


def test_healthz(client: FlaskClient, publisher: FakePublisher) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {
        "status": "ok",
        "service": "webhook",
        "version": version(),
        "problems": {},
        "checks": {"mqtt_connected": True, "topic": "/alert", "publishes": 0},
    }
    publisher.connected = False
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "failing" and body["checks"]["mqtt_connected"] is False
    assert set(body["problems"]) == {"mqtt_disconnected"}


def test_healthz_names_the_broker_without_its_password(publisher: FakePublisher) -> None:
    settings = MqttSettings("127.0.0.1", 1, username="hook", password="s3cret-pw")
    client = create_app(_config(mqtt=settings), publisher).test_client()
    publisher.connected = False
    text = client.get("/healthz").get_data(as_text=True)
    assert "127.0.0.1" in text and "s3cret-pw" not in text


def test_healthz_while_restoring(client: FlaskClient, publisher: FakePublisher) -> None:
    publisher.connected = False
    publisher.restoring = "1"
    response = client.get("/healthz")
    assert response.status_code == 503
    assert "'1'" in response.get_json()["problems"]["mqtt_restoring"]


def test_metrics_publishes_counter_and_process_metrics(
    client: FlaskClient, publisher: FakePublisher
) -> None:
    publisher.publishes = 3
    text = client.get("/metrics").get_data(as_text=True)
    assert re.search(r"^# TYPE alertloop_webhook_mqtt_publishes(_total)? counter$", text, re.M)
    assert "alertloop_webhook_mqtt_publishes_total 3.0" in text
    for name in (
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "process_open_fds",
        "process_start_time_seconds",
        "python_info",
    ):
        assert f"\n{name}" in text, name


def test_metrics_count_kinds_and_outcomes(client: FlaskClient, publisher: FakePublisher) -> None:
    client.post("/alert", json=unified(unified_alert("firing")), headers=_auth())
    client.post("/alert", json=UNIFIED_DOC_EXAMPLE, headers=_auth())  # another rule
    client.post("/alert", json=legacy("paused"), headers=_auth())
    client.post("/alert", json={"x": 1}, headers=_auth())
    client.post("/alert", json={"x": 1}, headers=_auth(password="no"))
    publisher.error = PublishError("down")
    client.post("/alert", json=legacy("ok"), headers=_auth())
    text = client.get("/metrics").get_data(as_text=True)
    for line in (
        'alertloop_webhook_notifications_total{kind="unified",outcome="published"} 1.0',
        'alertloop_webhook_notifications_total{kind="legacy",outcome="ignored"} 1.0',
        'alertloop_webhook_notifications_total{kind="unified",outcome="ignored"} 1.0',
        'alertloop_webhook_ignored_notifications_total{kind="unified",reason="no_match"} 1.0',
        'alertloop_webhook_ignored_notifications_total{kind="legacy",reason="policy"} 1.0',
        'alertloop_webhook_notifications_total{kind="invalid",outcome="unprocessable"} 1.0',
        'alertloop_webhook_notifications_total{kind="unknown",outcome="unauthorized"} 1.0',
        'alertloop_webhook_notifications_total{kind="legacy",outcome="unavailable"} 1.0',
        "alertloop_webhook_publish_seconds_count 1.0",
    ):
        assert line in text


def test_openapi_describes_every_answer(client: FlaskClient) -> None:
    doc = client.get("/openapi.json").get_json()
    assert doc["openapi"].startswith("3.")
    responses = doc["paths"]["/alert"]["post"]["responses"]
    assert set(responses) == {"200", "400", "401", "413", "422", "503"}
    assert "4096" in doc["paths"]["/alert"]["post"]["requestBody"]["description"]
    assert {"/healthz", "/metrics"} <= set(doc["paths"])


def test_refuses_without_users(publisher: FakePublisher) -> None:
    with pytest.raises(WebhookConfigError, match="no users"):
        create_app(_config(users={}), publisher)


def test_refuses_plaintext_outside_test_mode(publisher: FakePublisher) -> None:
    with pytest.raises(WebhookConfigError, match="not a password hash"):
        create_app(_config(users={"u": "plain"}), publisher)


def test_test_mode_is_loud_and_accepts_plaintext(
    publisher: FakePublisher, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        client = create_app(
            _config(users={"u": "plain"}, insecure_plaintext_users=True), publisher
        ).test_client()
    assert any("INSECURE TEST MODE" in r.getMessage() for r in caplog.records)
    assert client.post("/alert", json=legacy("ok"), headers=_auth("u", "plain")).status_code == 200
    assert client.post("/alert", json=legacy("ok"), headers=_auth("u", "x")).status_code == 401


def test_test_mode_without_users_needs_no_credentials(publisher: FakePublisher) -> None:
    client = create_app(_config(users={}, insecure_plaintext_users=True), publisher).test_client()
    assert client.post("/alert", json=legacy("ok")).status_code == 200


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda c: (
        st.lists(c, max_size=4)
        | st.dictionaries(
            st.sampled_from(["alerts", "state", "status", "labels", "startsAt", "endsAt", "x"])
            | st.text(max_size=5),
            c,
            max_size=5,
        )
    ),
    max_leaves=25,
)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=st.one_of(json_values.map(json.dumps), st.binary(max_size=200).map(bytes)))
def test_fuzzed_bodies_never_500(client: FlaskClient, body: str | bytes) -> None:
    response = client.post("/alert", data=body, headers=_auth(), content_type="application/json")
    assert response.status_code in (200, 400, 413, 422), response.get_data(as_text=True)
    assert response.is_json
