"""Grafana corpus bodies through the webhook service and the real mosquitto: what the LED sees."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from alertloop.services.webhook.selector import build_selector
from tests.conformance.grafana.corpus import CorpusEntry, load_corpus

CORPUS = {entry.name: entry for entry in load_corpus()}


def post(hook: Any, entry: CorpusEntry) -> requests.Response:
    return requests.post(hook.alert_url, json=entry.body, auth=hook.auth, timeout=10)


def test_other_rules_and_test_notifications_leave_the_state_alone(
    alertloop_read_retained: Any, alertloop_webhook: Any
) -> None:
    """The loop's rule moves the retained state; nothing else from a real Grafana does."""
    assert post(alertloop_webhook, CORPUS["unified-loop-firing"]).json()["status"] == "published"
    assert alertloop_read_retained(alertloop_webhook.topic).payload == b"1"
    for name in (
        "unified-g9-resolved",  # another rule resolved while the loop's still fires
        "unified-g9-mixed",
        "unified-g9-testalert-resolved",
        "unified-datasource-error",
        "legacy-test-ok",
    ):
        response = post(alertloop_webhook, CORPUS[name])
        assert response.status_code == 200, (name, response.text)
        assert response.json()["status"] == "ignored", (name, response.text)
        assert alertloop_read_retained(alertloop_webhook.topic).payload == b"1", name
    assert post(alertloop_webhook, CORPUS["unified-loop-resolved"]).json()["status"] == "published"
    assert alertloop_read_retained(alertloop_webhook.topic).payload == b"0"
    for name in ("unified-g9-testalert-firing", "unified-g11-other-rule-firing"):
        assert post(alertloop_webhook, CORPUS[name]).json()["status"] == "ignored", name
        assert alertloop_read_retained(alertloop_webhook.topic).payload == b"0", name


@pytest.mark.parametrize(
    ("name", "match", "expected"),
    [
        ("unified-g9-firing", ["alertname=Test alert"], b"1"),
        ("unified-g9-mixed", ["alertname=Test alert"], b"0"),
        ("unified-g11-other-rule-firing", ["alertname=Memory (copy)", "debug=true"], b"1"),
    ],
    ids=["g9-firing", "g9-mixed-matching-resolved", "g11-two-labels"],
)
def test_match_selects_a_captured_rule(
    alertloop_read_retained: Any,
    alertloop_webhook_factory: Any,
    name: str,
    match: list[str],
    expected: bytes,
) -> None:
    hook = alertloop_webhook_factory(selector=build_selector(match))
    response = post(hook, CORPUS[name])
    assert response.json()["status"] == "published", response.text
    assert alertloop_read_retained(hook.topic).payload == expected


def test_envelope_without_alerts_is_refused_and_publishes_nothing(
    alertloop_read_retained: Any, alertloop_webhook: Any
) -> None:
    assert post(alertloop_webhook, CORPUS["legacy-alerting"]).json()["value"] == "1"
    response = post(alertloop_webhook, CORPUS["unified-envelope-without-alerts"])
    assert response.status_code == 422
    assert "alerts" in response.json()["error"]["message"]
    assert alertloop_read_retained(alertloop_webhook.topic).payload == b"1"


def _at(entry: CorpusEntry, starts: str, ends: str | None = None) -> dict[str, Any]:
    body = copy.deepcopy(entry.body)
    body["alerts"][0]["startsAt"] = starts
    if ends is not None:
        body["alerts"][0]["endsAt"] = ends
    return body


def test_a_start_in_the_year_9999_does_not_block_later_notifications(
    alertloop_read_retained: Any, alertloop_webhook: Any
) -> None:
    """Times after the webhook's clock count as "now", so one far-future notification cannot block the ones after it."""
    firing, resolved = CORPUS["unified-loop-firing"], CORPUS["unified-loop-resolved"]
    now = datetime.now(UTC)
    far = _at(firing, "9999-12-31T23:59:59Z")
    assert post_body(alertloop_webhook, far).json()["status"] == "published"
    assert alertloop_read_retained(alertloop_webhook.topic).payload == b"1"
    # A resolve Grafana sends a little later, with times of its own clock: applied.
    later = _at(resolved, iso(now - timedelta(seconds=30)), iso(now + timedelta(seconds=2)))
    assert post_body(alertloop_webhook, later).json()["status"] == "published"
    assert alertloop_read_retained(alertloop_webhook.topic).payload == b"0"
    # News older than what was accepted is still stale.
    old = _at(firing, iso(now - timedelta(hours=1)))
    assert post_body(alertloop_webhook, old).json()["status"] == "stale"
    assert alertloop_read_retained(alertloop_webhook.topic).payload == b"0"


def post_body(hook: Any, body: dict[str, Any]) -> requests.Response:
    return requests.post(hook.alert_url, json=body, auth=hook.auth, timeout=10)


def iso(when: datetime) -> str:
    return when.isoformat().replace("+00:00", "Z")
