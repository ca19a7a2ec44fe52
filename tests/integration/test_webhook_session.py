"""The webhook's MQTT 5 session against the real mosquitto: refusals by reason code, keepalive."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import requests

from alertloop.services.common.config import MqttTls
from alertloop.services.common.deadline import wait_until
from alertloop.services.common.errors import TimeoutExpired
from alertloop.services.common.mqtt import new_client_id
from alertloop.services.webhook.errors import SessionError
from alertloop.services.webhook.examples import legacy
from alertloop.services.webhook.session import MqttSession

ACL = Path(__file__).resolve().parents[2] / "deploy" / "mosquitto" / "acl"
USERS = {"webhook": "webhook-pw", "operator": "operator-pw"}


@pytest.fixture
def acl_broker(alertloop_native_stack_factory: Any) -> Any:
    """A broker with passwords and the production ACL (the webhook may write /alert only)."""
    stack = alertloop_native_stack_factory(mqtt_users=USERS, acl_file=ACL)
    return replace(stack.mqtt, username="webhook", password=USERS["webhook"])


def test_publish_denied_by_the_acl_is_503_not_200(
    acl_broker: Any, alertloop_webhook_factory: Any
) -> None:
    hook = alertloop_webhook_factory(mqtt=acl_broker, topic="/pot")
    response = requests.post(hook.alert_url, json=legacy("alerting"), auth=hook.auth, timeout=10)
    assert response.status_code == 503, response.text
    assert "NOT_AUTHORIZED" in response.json()["error"]["message"]
    # The session is replaced after the refusal, and the service keeps serving.
    hook.server.wait_connected(10.0)


def test_allowed_topic_publishes_with_credentials(
    acl_broker: Any, alertloop_webhook_factory: Any, alertloop_read_retained: Any
) -> None:
    hook = alertloop_webhook_factory(mqtt=acl_broker, topic="/alert")
    response = requests.post(hook.alert_url, json=legacy("alerting"), auth=hook.auth, timeout=10)
    assert response.status_code == 200, response.text
    operator = replace(acl_broker, username="operator", password=USERS["operator"])
    assert alertloop_read_retained("/alert", settings=operator).payload == b"1"


def test_wrong_password_is_reported_and_never_connects(
    acl_broker: Any, alertloop_webhook_factory: Any
) -> None:
    hook = alertloop_webhook_factory(
        mqtt=replace(acl_broker, password="wrong"), wait_connected=False
    )
    with pytest.raises(TimeoutExpired, match="refused the connection"):
        hook.server.wait_connected(2.0)
    assert requests.get(f"{hook.url}/healthz", timeout=5).status_code == 503


def test_session_refused_and_keepalive(acl_broker: Any) -> None:
    with pytest.raises(SessionError, match="NOT_AUTHORIZED|BAD_USER_NAME_OR_PASSWORD"):
        MqttSession.open(replace(acl_broker, password="wrong"), new_client_id("t"))
    session = MqttSession.open(acl_broker, new_client_id("t"), keepalive=1)
    try:

        def pinged() -> bool:
            session.service()
            return session.pongs >= 2

        wait_until(pinged, 10, what="two PINGREQs answered", interval=0.1)
        session.publish("/alert", b"0", 1, timeout=5.0)
    finally:
        session.close()


def test_tls_session_checks_the_broker_and_reports_why(
    alertloop_conformance_mosquitto: Any,
) -> None:
    """Over TLS with the test CA it publishes; with another CA it is refused with a hint, as
    the webhook's own error type."""
    session = MqttSession.open(alertloop_conformance_mosquitto.tls, new_client_id("t"))
    try:
        session.publish("/alert", b"1", 1, timeout=5.0)
    finally:
        session.close()
    other = MqttTls(ca_file=str(alertloop_conformance_mosquitto.certs.other_ca))
    with pytest.raises(SessionError, match="mqtt-ca-file"):
        MqttSession.open(
            replace(alertloop_conformance_mosquitto.tls, tls_options=other), new_client_id("t")
        )
