"""The webhook on the real broker: each payload kind ends in the right retained message."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alertloop.services.webhook.examples import (
    LEGACY_DOC_EXAMPLE,
    at,
    legacy,
    unified,
    unified_alert,
)
from alertloop.services.webhook.payloads import Action, Policy


def post(hook: Any, body: Any, **kwargs: Any) -> requests.Response:
    kwargs.setdefault("auth", hook.auth)
    return requests.post(hook.alert_url, json=body, timeout=10, **kwargs)


CASES = [
    ("unified-firing", unified(unified_alert("firing")), b"1"),
    ("unified-resolved", unified(unified_alert("resolved", ends=at(60))), b"0"),
    (
        "unified-several-mixed",
        unified(
            unified_alert("resolved", ends=at(9), device="a"),
            unified_alert("firing", device="b"),
            unified_alert("resolved", ends=at(9), device="c"),
        ),
        b"1",
    ),
    (
        "unified-several-resolved",
        unified(*(unified_alert("resolved", ends=at(9), device=d) for d in "abcd")),
        b"0",
    ),
    (
        "unified-extra-fields",
        unified(unified_alert("firing"), enrichments={"k": [1]}, futureField=True),
        b"1",
    ),
    (
        "unified-minimal",
        {
            "alerts": [
                {"status": "resolved", "labels": {"alertname": "PotMeanHigh", "loop": "alertloop"}}
            ]
        },
        b"0",
    ),
    ("legacy-doc", LEGACY_DOC_EXAMPLE, b"1"),
    ("legacy-ok", legacy("ok"), b"0"),
    ("legacy-v4-snake-case", legacy("alerting", snake_case=True), b"1"),
    ("legacy-minimal", {"state": "ok"}, b"0"),
]


@pytest.mark.parametrize(("body", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_payload_kind_ends_in_retained_state(
    alertloop_read_retained: Any, alertloop_webhook: Any, body: Any, expected: bytes
) -> None:
    opposite = b"0" if expected == b"1" else b"1"
    first = post(alertloop_webhook, legacy("alerting" if opposite == b"1" else "ok"))
    assert first.status_code == 200, first.text
    assert alertloop_read_retained(alertloop_webhook.topic).payload == opposite
    response = post(alertloop_webhook, body)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "published"
    assert response.json()["value"] == expected.decode()
    assert alertloop_read_retained(alertloop_webhook.topic).payload == expected


@pytest.mark.parametrize(
    "body",
    [
        legacy("no_data"),
        legacy("pending"),
        legacy("paused"),
        legacy("unknown"),
        unified(unified_alert("firing", name="DatasourceNoData")),
        unified(unified_alert("firing", name="DatasourceError")),
    ],
    ids=["no_data", "pending", "paused", "unknown", "DatasourceNoData", "DatasourceError"],
)
def test_default_no_change_states_keep_the_retained_state(
    alertloop_read_retained: Any, alertloop_webhook: Any, body: Any
) -> None:
    assert post(alertloop_webhook, legacy("alerting")).status_code == 200
    response = post(alertloop_webhook, body)
    assert response.status_code == 200
    assert response.json()["status"] == "ignored"
    assert alertloop_read_retained(alertloop_webhook.topic).payload == b"1"


def test_configured_actions_publish(
    alertloop_read_retained: Any, alertloop_webhook_factory: Any
) -> None:
    hook = alertloop_webhook_factory(
        policy=Policy(nodata=Action.ALERTING, legacy={"no_data": Action.OK})
    )
    assert post(hook, unified(unified_alert("firing", name="DatasourceNoData"))).status_code == 200
    assert alertloop_read_retained(hook.topic).payload == b"1"
    assert post(hook, legacy("no_data")).status_code == 200
    assert alertloop_read_retained(hook.topic).payload == b"0"


@pytest.mark.parametrize("qos", [0, 1, 2], ids=["qos0", "qos1", "qos2"])
def test_configured_qos_and_topic(
    alertloop_read_retained: Any,
    alertloop_webhook_factory: Any,
    alertloop_unique_topic: str,
    qos: int,
) -> None:
    hook = alertloop_webhook_factory(qos=qos, topic=f"{alertloop_unique_topic}/leds/alert")
    assert post(hook, legacy("alerting")).status_code == 200
    message = alertloop_read_retained(hook.topic, qos=2)
    assert (message.payload, message.retain, message.qos) == (b"1", True, qos)


def test_repeated_notifications_are_harmless(
    alertloop_read_retained: Any, alertloop_webhook: Any
) -> None:
    for _ in range(3):
        assert (
            post(alertloop_webhook, unified(unified_alert("firing"))).json()["status"]
            == "published"
        )
    assert alertloop_read_retained(alertloop_webhook.topic).payload == b"1"


def test_older_notification_does_not_undo_newer_state(
    alertloop_read_retained: Any, alertloop_webhook: Any
) -> None:
    newer = unified(unified_alert("firing", starts=at(100)))
    older = unified(unified_alert("resolved", starts=at(0), ends=at(50)))
    assert post(alertloop_webhook, newer).json()["status"] == "published"
    response = post(alertloop_webhook, older)
    assert response.status_code == 200
    assert response.json()["status"] == "stale"
    assert alertloop_read_retained(alertloop_webhook.topic).payload == b"1"
    later = unified(unified_alert("resolved", starts=at(100), ends=at(160)))
    assert post(alertloop_webhook, later).json()["status"] == "published"
    assert alertloop_read_retained(alertloop_webhook.topic).payload == b"0"


def test_errors_over_real_http(alertloop_webhook: Any) -> None:
    def check(response: requests.Response, status: int) -> None:
        assert response.status_code == status, response.text
        assert response.json()["error"]["status"] == status

    unauthorized = post(alertloop_webhook, LEGACY_DOC_EXAMPLE, auth=None)
    check(unauthorized, 401)
    assert unauthorized.headers["WWW-Authenticate"].startswith("Basic")
    check(
        post(alertloop_webhook, LEGACY_DOC_EXAMPLE, auth=(alertloop_webhook.username, "wrong")), 401
    )
    check(
        requests.post(
            alertloop_webhook.alert_url, data=b"{nope", auth=alertloop_webhook.auth, timeout=10
        ),
        400,
    )
    check(post(alertloop_webhook, {"neither": "shape"}), 422)
    big = (
        b'{"state": "ok", "pad": "' + b"x" * (alertloop_webhook.config.max_body_bytes + 10) + b'"}'
    )
    check(
        requests.post(
            alertloop_webhook.alert_url, data=big, auth=alertloop_webhook.auth, timeout=10
        ),
        413,
    )
    chunked = requests.post(
        alertloop_webhook.alert_url, data=iter([big]), auth=alertloop_webhook.auth, timeout=10
    )
    check(chunked, 413)
    check(requests.get(alertloop_webhook.alert_url, timeout=10), 405)
    health = requests.get(f"{alertloop_webhook.url}/healthz", timeout=10).json()
    assert health["status"] == "ok" and health["checks"]["mqtt_connected"] is True
    metrics = requests.get(f"{alertloop_webhook.url}/metrics", timeout=10).text
    assert (
        'alertloop_webhook_notifications_total{kind="invalid",outcome="unprocessable"} 1.0'
        in metrics
    )


json_bodies = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda c: (
        st.lists(c, max_size=3)
        | st.dictionaries(
            st.sampled_from(["alerts", "state", "status", "labels", "startsAt"]), c, max_size=4
        )
    ),
    max_leaves=15,
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=st.one_of(json_bodies.map(json.dumps).map(str.encode), st.binary(max_size=100)))
def test_fuzzed_bodies_over_http_never_500(alertloop_webhook: Any, body: bytes) -> None:
    response = requests.post(
        alertloop_webhook.alert_url, data=body, auth=alertloop_webhook.auth, timeout=10
    )
    assert response.status_code in (200, 400, 422), response.text
    assert response.headers["Content-Type"] == "application/json"
