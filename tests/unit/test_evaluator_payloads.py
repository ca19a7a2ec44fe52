"""Grafana's webhook bodies as the evaluator builds them (reference section 2 and 1)."""

from __future__ import annotations

import pytest

from sim.alerting import load_policy, load_rule
from sim.alerting.payloads import (
    fingerprint,
    format_time,
    legacy_payload,
    make_instance,
    render,
    unified_payload,
)
from sim.alerting.provisioning import ContactPoint

RULE = load_rule()
POLICY = load_policy()
CONTACT = ContactPoint(name="alertloop-webhook", uid="w", url="http://127.0.0.1:9/alert")

UNIFIED_KEYS = {
    "receiver", "status", "orgId", "alerts", "groupLabels", "commonLabels", "commonAnnotations",
    "externalURL", "version", "groupKey", "truncatedAlerts", "title", "state", "message",
}  # fmt: skip
ALERT_KEYS = {
    "status", "labels", "annotations", "startsAt", "endsAt", "generatorURL", "fingerprint",
    "silenceURL", "dashboardURL", "panelURL", "values", "valueString",
}  # fmt: skip


def test_unified_firing_body_has_every_documented_field() -> None:
    alert = make_instance(RULE, {"B": 55.5, "C": 1.0}, 1_700_000_000.25)
    body = unified_payload([alert], RULE, CONTACT, POLICY)
    assert set(body) == UNIFIED_KEYS
    assert set(body["alerts"][0]) == ALERT_KEYS
    assert body["version"] == "1" and body["receiver"] == "alertloop-webhook"
    assert (body["status"], body["state"]) == ("firing", "alerting")
    assert body["title"] == "[FIRING:1] PotMeanHigh alertloop (alertloop)"
    assert body["groupKey"] == '{}:{alertname="PotMeanHigh", grafana_folder="alertloop"}'
    labels = body["alerts"][0]["labels"]
    assert labels["alertname"] == "PotMeanHigh" and labels["grafana_folder"] == "alertloop"
    assert body["alerts"][0]["startsAt"] == "2023-11-14T22:13:20.25Z"
    assert "55.5" in body["alerts"][0]["annotations"]["summary"]
    assert body["message"].startswith("**Firing**")


def test_unified_resolved_body() -> None:
    alert = make_instance(RULE, {"B": 20.0, "C": 0.0}, 100.0, 130.0)
    body = unified_payload([alert], RULE, CONTACT, POLICY)
    assert (body["status"], body["state"], body["alerts"][0]["status"]) == (
        "resolved",
        "ok",
        "resolved",
    )
    assert body["title"].startswith("[RESOLVED]")
    assert body["alerts"][0]["endsAt"] == "1970-01-01T00:02:10Z"


@pytest.mark.parametrize(
    ("state", "title", "matches"),
    [
        ("alerting", "[Alerting] PotMeanHigh", 1),
        ("ok", "[OK] PotMeanHigh", 0),
        ("no_data", "[No Data] PotMeanHigh", 0),
    ],
    ids=["alerting", "ok", "no-data"],
)
def test_legacy_body(state: str, title: str, matches: int) -> None:
    body = legacy_payload(RULE, state, 61.0)
    assert {"title", "ruleId", "ruleName", "state", "evalMatches"} <= set(body)
    assert (body["state"], body["title"], len(body["evalMatches"])) == (state, title, matches)


def test_legacy_refuses_an_unknown_state() -> None:
    with pytest.raises(ValueError, match="legacy state"):
        legacy_payload(RULE, "pending", 1.0)


def test_fingerprint_is_prometheus_fnv1a() -> None:
    assert fingerprint({}) == "cbf29ce484222325"  # Prometheus' emptyLabelSignature
    one = fingerprint({"a": "1", "b": "2"})
    assert one == fingerprint({"b": "2", "a": "1"}) and len(one) == 16
    assert one != fingerprint({"a": "1", "b": "3"})
    assert fingerprint({"ab": "c"}) != fingerprint({"a": "bc"})


def test_time_and_template_formatting() -> None:
    assert format_time(0) == "1970-01-01T00:00:00Z"
    assert format_time(1.5) == "1970-01-01T00:00:01.5Z"
    values = {"B": 52.0, "C": 1.0}
    assert (
        render("{{ $values.B.Value }} / {{$values.C}} / {{ $labels.x }}", values, {"x": "y"})
        == "52 / 1 / y"
    )
    assert render("{{ .Unknown }}", values, {}) == "{{ .Unknown }}"
