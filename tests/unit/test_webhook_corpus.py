"""Every body of the Grafana conformance corpus through the real Flask app (fake publisher)."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

import pytest

from alertloop.services.common.config import MqttSettings
from alertloop.services.webhook import WebhookConfig, create_app
from alertloop.services.webhook.passwords import hash_password
from alertloop.services.webhook.payloads import LEGACY_CONFIGURABLE, Action, Decision, Policy
from alertloop.services.webhook.publisher import PublishResult
from alertloop.services.webhook.selector import build_selector
from tests.conformance.grafana.corpus import CorpusEntry, Expectation, load_corpus

CORPUS = load_corpus()
CASES = [(entry, exp) for entry in CORPUS for exp in entry.expect]
USER, PASSWORD = "grafana", "pw"
HASH = hash_password(PASSWORD, "pbkdf2:sha256:1000")
AUTH = {"Authorization": "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()}
IGNORED = {"ignored-test": "test", "ignored-no-match": "no_match", "ignored-policy": "policy"}


class RecordingPublisher:
    topic = "/alert"
    connected = True

    def __init__(self) -> None:
        self.decisions: list[Decision] = []

    def publish(self, decision: Decision) -> PublishResult:
        self.decisions.append(decision)
        return PublishResult("published", decision.value, self.topic, 0.0)


def config_for(settings: Mapping[str, Any]) -> WebhookConfig:
    """The webhook settings an expectation names (see the corpus manifest)."""
    legacy = {state: Action.IGNORE for state in LEGACY_CONFIGURABLE}
    legacy.update({k: Action(v) for k, v in (settings.get("legacy_actions") or {}).items()})
    policy = Policy(
        nodata=Action(settings.get("nodata_action", "ignore")),
        error=Action(settings.get("error_action", "ignore")),
        legacy=legacy,
    )
    match = [f"{k}={v}" for k, v in (settings.get("match") or {}).items()]
    selector = build_selector(
        match, settings.get("legacy_rules") or (), bool(settings.get("accept_test"))
    )
    return WebhookConfig(
        mqtt=MqttSettings("127.0.0.1", 1), users={USER: HASH}, policy=policy, selector=selector
    )


@pytest.mark.parametrize(
    ("entry", "expectation"), CASES, ids=[f"{e.name}[{x.id}]" for e, x in CASES]
)
def test_corpus_body_outcome(entry: CorpusEntry, expectation: Expectation) -> None:
    publisher = RecordingPublisher()
    client = create_app(config_for(expectation.config), publisher).test_client()
    response = client.post("/alert", json=entry.body, headers=AUTH)
    outcome = expectation.outcome
    where = f"{entry.name} ({entry.source_text}) under {expectation.id}: {response.get_json()}"
    if outcome == "422":
        assert response.status_code == 422, where
        assert set(response.get_json()["error"]) == {"status", "name", "message"}
        assert publisher.decisions == []
        return
    assert response.status_code == 200, where
    answer = response.get_json()
    assert answer["kind"] == entry.kind, where
    if outcome in IGNORED:
        assert (answer["status"], answer["ignored"]) == ("ignored", IGNORED[outcome]), where
        assert answer["value"] is None and publisher.decisions == [], where
    else:
        assert answer["status"] == "published", where
        assert [d.value for d in publisher.decisions] == [outcome[-1]], where


def test_corpus_covers_what_the_issue_asks_for() -> None:
    names = {e.name for e in CORPUS}
    outcomes = {x.outcome for _, x in CASES}
    assert outcomes == {
        "publish-1", "publish-0", "ignored-test", "ignored-no-match", "ignored-policy", "422"
    }  # fmt: skip
    assert {e.kind for e in CORPUS} == {"unified", "legacy"}
    for needed in ("testalert", "datasource-error", "datasource-nodata", "mixed", "several"):
        assert any(needed in n for n in names), needed
    for entry in CORPUS:
        assert entry.source["repo"] and len(entry.source["commit"]) == 40, entry.name
        assert entry.default_outcome  # every entry states the default outcome


@pytest.mark.parametrize(
    "entry",
    [e for e in CORPUS if e.kind == "unified" and "alerts" in e.body],
    ids=lambda e: e.name,
)
def test_unified_bodies_have_grafanas_shape(entry: CorpusEntry) -> None:
    """What the webhook (and anything that writes these bodies) can rely on."""
    body = entry.body
    assert body["version"] == "1" and body["status"] in ("firing", "resolved")
    assert {"receiver", "groupKey", "groupLabels", "commonLabels", "externalURL"} <= body.keys()
    firing = any(a["status"] == "firing" for a in body["alerts"])
    assert body["state"] == ("alerting" if firing else "ok") or entry.name.startswith(
        "unified-g9-testalert"  # that capture carries a custom message and stale state
    )
    for alert in body["alerts"]:
        assert "alertname" in alert["labels"]
        assert {"startsAt", "endsAt", "fingerprint", "generatorURL"} <= alert.keys()
        assert (alert["endsAt"] == "0001-01-01T00:00:00Z") == (alert["status"] == "firing")
        if alert["labels"]["alertname"] in ("DatasourceError", "DatasourceNoData"):
            assert {"rulename", "datasource_uid", "ref_id"} <= alert["labels"].keys()


def test_ignored_notifications_are_counted_by_reason() -> None:
    by_name = {e.name: e for e in CORPUS}
    client = create_app(config_for({}), RecordingPublisher()).test_client()
    for name in ("unified-g9-testalert-firing", "legacy-test-alerting", "unified-g9-firing"):
        assert client.post("/alert", json=by_name[name].body, headers=AUTH).status_code == 200
    text = client.get("/metrics").get_data(as_text=True)
    for line in (
        'alertloop_webhook_ignored_notifications_total{kind="unified",reason="test"} 1.0',
        'alertloop_webhook_ignored_notifications_total{kind="legacy",reason="test"} 1.0',
        'alertloop_webhook_ignored_notifications_total{kind="unified",reason="no_match"} 1.0',
    ):
        assert line in text
