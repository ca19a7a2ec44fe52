"""Grafana's webhook bodies as the evaluator builds them, from a flushed alert group."""

from __future__ import annotations

import dataclasses

import pytest

from alertloop.sim.alerting import load_rule
from alertloop.sim.alerting.alerts import fingerprint, format_number, postable_alert
from alertloop.sim.alerting.dispatcher import Notification
from alertloop.sim.alerting.model import ContactPoint
from alertloop.sim.alerting.payloads import (
    default_title,
    format_time,
    legacy_payload,
    render,
    unified_payload,
)
from alertloop.sim.alerting.state import Outcome, StateMachine

RULE = load_rule()
CONTACT = ContactPoint(name="alertloop-webhook", uid="w", url="http://127.0.0.1:9/alert")
GROUP = {"alertname": "PotMeanHigh", "grafana_folder": "alertloop"}
KEY = '{}/{loop="alertloop"}:{alertname="PotMeanHigh", grafana_folder="alertloop"}'

UNIFIED_KEYS = {
    "receiver", "status", "orgId", "alerts", "groupLabels", "commonLabels", "commonAnnotations",
    "externalURL", "version", "groupKey", "truncatedAlerts", "title", "state", "message",
}  # fmt: skip
ALERT_KEYS = {
    "status", "labels", "annotations", "startsAt", "endsAt", "generatorURL", "fingerprint",
    "silenceURL", "dashboardURL", "panelURL", "values", "valueString",
}  # fmt: skip


def _alert(outcomes: list[tuple[float, Outcome, float | None]], rule=RULE):  # type: ignore[no-untyped-def]
    machine = StateMachine(rule, 10.0)
    transition = None
    for now, outcome, value in outcomes:
        values = {} if value is None else {"B": value, "C": 1.0 if value > 50 else 0.0}
        text = ", ".join(
            f"[ var='{k}' labels={{}} value={format_number(v)} ]" for k, v in values.items()
        )
        transition = machine.step(
            now, outcome, values, text, "boom" if outcome is Outcome.ERROR else None
        )
    assert transition is not None
    return postable_alert(transition, rule, "http://localhost:3000/")


def _body(*alerts_firing, group=GROUP, contact=CONTACT, at: float = 1000.0):  # type: ignore[no-untyped-def]
    note = Notification("alertloop-webhook", KEY, dict(group), tuple(alerts_firing), at)
    return unified_payload(note, contact)


def test_unified_firing_body_has_every_field_grafana_11_sends() -> None:
    alert = _alert([(1_700_000_000.25, Outcome.FIRING, 55.5)])
    body = _body((alert, True))
    assert set(body) == UNIFIED_KEYS
    one = body["alerts"][0]
    assert set(one) == ALERT_KEYS
    assert body["version"] == "1" and body["receiver"] == "alertloop-webhook"
    assert (body["status"], body["state"], body["orgId"]) == ("firing", "alerting", 1)
    assert body["title"] == "[FIRING:1] PotMeanHigh alertloop (alertloop)"
    assert body["groupKey"] == KEY
    assert one["labels"] == {
        "alertname": "PotMeanHigh",
        "grafana_folder": "alertloop",
        "loop": "alertloop",
    }
    assert not any(k.startswith("__") for k in [*one["labels"], *one["annotations"]])
    assert one["startsAt"] == "2023-11-14T22:13:20.25Z" and one["endsAt"] == "0001-01-01T00:00:00Z"
    assert one["values"] == {"B": 55.5, "C": 1.0}
    assert one["valueString"] == "[ var='B' labels={} value=55.5 ], [ var='C' labels={} value=1 ]"
    assert "55.5" in one["annotations"]["summary"]
    assert one["fingerprint"] == fingerprint({**one["labels"], "__alert_rule_uid__": RULE.uid})
    assert one["generatorURL"] == f"http://localhost:3000/alerting/grafana/{RULE.uid}/view?orgId=1"
    assert one["dashboardURL"] == "http://localhost:3000/d/alertloop?orgId=1"
    assert one["panelURL"] == "http://localhost:3000/d/alertloop?orgId=1&viewPanel=1"
    assert one["silenceURL"] == (
        "http://localhost:3000/alerting/silence/new?alertmanager=grafana"
        "&matcher=alertname%3DPotMeanHigh&matcher=grafana_folder%3Dalertloop"
        "&matcher=loop%3Dalertloop&orgId=1"
    )


def test_message_is_grafanas_default_template() -> None:
    alert = _alert([(100.0, Outcome.FIRING, 63.5)])
    one = _body((alert, True))["alerts"][0]
    summary = one["annotations"]["summary"]
    description = one["annotations"]["description"]
    assert _body((alert, True))["message"] == (
        "**Firing**\n\nValue: B=63.5, C=1\nLabels:\n - alertname = PotMeanHigh\n"
        " - grafana_folder = alertloop\n - loop = alertloop\nAnnotations:\n"
        f" - description = {description}\n - summary = {summary}\n"
        f"Source: {one['generatorURL']}\nSilence: {one['silenceURL']}\n"
        f"Dashboard: {one['dashboardURL']}\nPanel: {one['panelURL']}\n"
    )


def test_mixed_message_has_both_sections_and_the_title_counts_them() -> None:
    firing = _alert([(100.0, Outcome.FIRING, 63.5)])
    other = dataclasses.replace(firing, labels={**firing.labels, "alertname": "Other"})
    resolved = _alert([(100.0, Outcome.FIRING, 63.5), (110.0, Outcome.NOT_FIRING, 20.0)])
    body = _body((firing, True), (resolved, False), group={"grafana_folder": "alertloop"})
    assert body["title"] == "[FIRING:1, RESOLVED:1] alertloop (PotMeanHigh alertloop)"
    assert body["message"].startswith("**Firing**\n\nValue: B=63.5")
    assert "\n\n\n**Resolved**\n\nValue: B=20, C=0\n" in body["message"]
    assert _body((other, True), (firing, True), group={"grafana_folder": "alertloop"})[
        "commonLabels"
    ] == {"grafana_folder": "alertloop", "loop": "alertloop"}


def test_title_without_extra_common_labels_ends_with_a_space() -> None:
    assert default_title("firing", 1, 0, GROUP, GROUP) == "[FIRING:1] PotMeanHigh alertloop "
    assert default_title("resolved", 0, 2, GROUP, GROUP) == "[RESOLVED] PotMeanHigh alertloop "


def test_unified_resolved_body() -> None:
    alert = _alert([(100.0, Outcome.FIRING, 63.0), (130.0, Outcome.NOT_FIRING, 20.0)])
    body = _body((alert, False))
    one = body["alerts"][0]
    assert (body["status"], body["state"], one["status"]) == ("resolved", "ok", "resolved")
    assert body["title"] == "[RESOLVED] PotMeanHigh alertloop (alertloop)"
    assert one["endsAt"] == "1970-01-01T00:02:10Z"
    assert one["startsAt"] == "1970-01-01T00:02:10Z"  # Grafana's Normal state starts when resolved


def test_datasource_error_alert_has_the_rules_labels_under_another_name() -> None:
    alert = _alert([(100.0, Outcome.FIRING, 63.0), (110.0, Outcome.ERROR, None)])
    group = {"alertname": "DatasourceError", "grafana_folder": "alertloop"}
    body = _body((alert, True), group=group)
    one = body["alerts"][0]
    assert one["labels"] == {
        "alertname": "DatasourceError", "rulename": "PotMeanHigh", "grafana_folder": "alertloop",
        "loop": "alertloop", "ref_id": "A", "datasource_uid": "alertloop-influxdb",
    }  # fmt: skip
    assert "Error" not in one["annotations"]  # as in captured DatasourceError bodies
    assert one["values"] == {"B": -1, "C": -1}  # Grafana's placeholders after an error
    assert body["title"].startswith("[FIRING:1] DatasourceError alertloop (")


def test_max_alerts_truncates_and_disable_resolve_leaves_resolved_out() -> None:
    firing = _alert([(100.0, Outcome.FIRING, 63.5)])
    other = dataclasses.replace(firing, labels={**firing.labels, "x": "2"})
    resolved = _alert([(100.0, Outcome.FIRING, 63.5), (110.0, Outcome.NOT_FIRING, 20.0)])
    capped = dataclasses.replace(CONTACT, max_alerts=1)
    body = _body((firing, True), (other, True), contact=capped)
    assert (len(body["alerts"]), body["truncatedAlerts"]) == (1, 1)
    quiet = dataclasses.replace(CONTACT, disable_resolve_message=True)
    assert [
        a["status"] for a in _body((firing, True), (resolved, False), contact=quiet)["alerts"]
    ] == ["firing"]


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
    # a Grafana 11 capture (zulip/zulip zerver/webhooks/grafana/fixtures/alert_values_v11.json):
    # its fingerprint is that of the visible labels plus the private rule uid label
    labels = {"alertname": "Memory (copy)", "debug": "true", "grafana_folder": "device"}
    uid = "dd2f0260-3cfc-4c65-a4c4-f3f632c551f4"
    assert fingerprint({**labels, "__alert_rule_uid__": uid}) == "e6349a25f5ef0e9e"
    assert fingerprint({}) == "cbf29ce484222325"  # Prometheus' emptyLabelSignature
    one = fingerprint({"a": "1", "b": "2"})
    assert one == fingerprint({"b": "2", "a": "1"}) and len(one) == 16
    assert one != fingerprint({"a": "1", "b": "3"})
    assert fingerprint({"ab": "c"}) != fingerprint({"a": "bc"})


@pytest.mark.parametrize(
    ("value", "text"),
    [(55.0, "55"), (52.5, "52.5"), (2473545728.0, "2.473545728e+09"), (100000.0, "100000"),
     (1e6, "1e+06"), (0.0001, "0.0001"), (1e-05, "1e-05"), (-1.0, "-1"), (0.0, "0")],
    ids=["int", "half", "big", "1e5", "1e6", "small", "tiny", "negative", "zero"],
)  # fmt: skip
def test_numbers_print_like_go_templates(value: float, text: str) -> None:
    assert format_number(value) == text


def test_time_and_template_formatting() -> None:
    assert format_time(0) == "1970-01-01T00:00:00Z"
    assert format_time(1.5) == "1970-01-01T00:00:01.5Z"
    values = {"B": 52.0, "C": 1.0}
    assert (
        render("{{ $values.B.Value }} / {{$values.C}} / {{ $labels.x }}", values, {"x": "y"})
        == "52 / 1 / y"
    )
    assert render("{{ .Unknown }}", values, {}) == "{{ .Unknown }}"
