"""Grafana notifications (documented examples and variations) to decisions."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from alertloop.services.webhook.errors import PayloadError
from alertloop.services.webhook.examples import (
    LEGACY_DOC_EXAMPLE,
    LEGACY_V4_EXAMPLE,
    UNIFIED_DOC_EXAMPLE,
    at,
    legacy,
    unified,
    unified_alert,
)
from alertloop.services.webhook.payloads import Action, Policy, decide, parse_time
from alertloop.services.webhook.selector import Selector, build_selector


def test_unified_doc_example_names_another_rule() -> None:
    decision = decide(UNIFIED_DOC_EXAMPLE)
    assert (decision.kind, decision.value, decision.ignored) == ("unified", None, "no_match")
    selector = build_selector(["alertname=High memory usage"])
    decision = decide(UNIFIED_DOC_EXAMPLE, selector=selector)
    assert (decision.kind, decision.value, decision.alerts, decision.firing) == (
        "unified",
        "1",
        1,
        1,
    )
    assert decision.event_time == parse_time("2021-10-12T09:51:03.157076+02:00")


def test_legacy_doc_example_is_alerting() -> None:
    decision = decide(LEGACY_DOC_EXAMPLE)
    assert (decision.kind, decision.value, decision.event_time) == ("legacy", "1", None)
    assert decision.rule == "Panel Title alert"
    assert decision.rule_url == LEGACY_DOC_EXAMPLE["ruleUrl"]


def test_legacy_v4_snake_case_url() -> None:
    decision = decide(legacy("ok", snake_case=True))
    assert decision.value == "0"
    assert decision.rule_url == LEGACY_V4_EXAMPLE["rule_url"]


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        (["firing"], "1"),
        (["resolved"], "0"),
        (["firing", "resolved"], "1"),
        (["resolved", "resolved", "resolved"], "0"),
        (["resolved", "resolved", "firing"], "1"),
    ],
    ids=["one-firing", "one-resolved", "mixed", "all-resolved", "last-firing"],
)
def test_unified_several_alerts(statuses: list[str], expected: str) -> None:
    alerts = [
        unified_alert(s, device=f"d{i}", ends=at(60) if s == "resolved" else None)
        for i, s in enumerate(statuses)
    ]
    assert decide(unified(*alerts)).value == expected


def test_unified_decides_by_alerts_not_by_top_level_status() -> None:
    body = unified(unified_alert("resolved", ends=at(5)), status="firing", state="alerting")
    assert decide(body).value == "0"


def test_unified_extra_fields_and_missing_optional_fields() -> None:
    body: dict[str, Any] = {"alerts": [{"status": "firing"}], "futureField": {"x": [1, 2]}}
    decision = decide(body)  # no labels: not the loop's alert
    assert decision.ignored == "no_match"
    decision = decide(body, selector=Selector(({},)))  # an empty label set matches anything
    assert (decision.value, decision.event_time, decision.rule) == ("1", None, None)
    body = unified(unified_alert("resolved", ends=at(30)), enrichments={"a": 1}, appVersion="12.0")
    del body["title"], body["state"], body["message"], body["orgId"]
    assert decide(body).value == "0"


def test_unified_event_time_is_newest_transition() -> None:
    body = unified(
        unified_alert("firing", starts=at(10), device="a"),
        unified_alert("resolved", starts=at(0), ends=at(20), device="b"),
    )
    assert decide(body).event_time == at(20)


def test_unified_empty_alerts_changes_nothing() -> None:
    assert decide({"status": "resolved", "alerts": []}).value is None


@pytest.mark.parametrize("name", ["DatasourceNoData", "DatasourceError"], ids=["nodata", "error"])
@pytest.mark.parametrize(
    ("action", "firing_value", "resolved_value"),
    [(Action.IGNORE, None, None), (Action.ALERTING, "1", "0"), (Action.OK, "0", "0")],
    ids=["ignore", "alerting", "ok"],
)
def test_datasource_alerts_follow_policy(
    name: str, action: Action, firing_value: str | None, resolved_value: str | None
) -> None:
    policy = Policy(nodata=action) if name == "DatasourceNoData" else Policy(error=action)
    assert decide(unified(unified_alert("firing", name=name)), policy).value == firing_value
    resolved = unified(unified_alert("resolved", name=name, ends=at(9)))
    assert decide(resolved, policy).value == resolved_value


def test_ignored_nodata_does_not_hide_a_real_firing_alert() -> None:
    body = unified(
        unified_alert("firing", name="DatasourceNoData"), unified_alert("resolved", ends=at(3))
    )
    assert decide(body).value == "0"
    body = unified(
        unified_alert("resolved", name="DatasourceNoData", ends=at(3)), unified_alert("firing")
    )
    assert decide(body).value == "1"


@pytest.mark.parametrize("state", ["no_data", "pending", "paused", "unknown"])
def test_legacy_other_states_default_to_no_change(state: str) -> None:
    assert decide(legacy(state)).value is None


@pytest.mark.parametrize(
    ("action", "value"), [(Action.ALERTING, "1"), (Action.OK, "0"), (Action.IGNORE, None)]
)
def test_legacy_other_states_configurable(action: Action, value: str | None) -> None:
    policy = Policy(legacy={"no_data": action})
    assert decide(legacy("no_data"), policy).value == value
    assert decide(legacy("paused"), policy).value is None


@pytest.mark.parametrize(
    "body",
    [
        [],
        "alerting",
        42,
        None,
        {},
        {"title": "x"},
        {"state": "firing"},
        {"state": None},
        {"state": ["alerting"]},
        {"alerts": "firing"},
        {"alerts": [1]},
        {"alerts": [{}]},
        {"alerts": [{"status": "pending"}]},
        {"alerts": [{"status": "firing"}, {"status": "FIRING"}]},
    ],
    ids=repr,
)
def test_neither_shape_raises_payload_error(body: Any) -> None:
    with pytest.raises(PayloadError):
        decide(body)


@pytest.mark.parametrize(
    ("text", "valid"),
    [
        ("2021-10-12T09:51:03.157076+02:00", True),
        ("2024-05-01T12:00:00.123456789Z", True),
        ("0001-01-01T00:00:00Z", False),
        ("2024-05-01T12:00:00", False),
        ("yesterday", False),
        (None, False),
        (17, False),
    ],
    ids=["micro", "nano", "zero", "naive", "text", "none", "int"],
)
def test_parse_time(text: object, valid: bool) -> None:
    assert (parse_time(text) is not None) is valid


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


def _mutations() -> st.SearchStrategy[Any]:
    keys = st.sampled_from(
        ["alerts", "state", "status", "labels", "startsAt", "endsAt", "alertname"]
    )
    bases = st.sampled_from(
        [UNIFIED_DOC_EXAMPLE, LEGACY_DOC_EXAMPLE, unified(unified_alert("firing"))]
    )

    def mutate(base: dict[str, Any], key: str, value: Any, deep: bool) -> dict[str, Any]:
        body = copy.deepcopy(base)
        target = body["alerts"][0] if deep and body.get("alerts") else body
        target[key] = value
        return body

    return st.builds(mutate, bases, keys, json_values, st.booleans())


@given(st.one_of(json_values, _mutations()))
def test_decide_only_ever_raises_payload_error(body: Any) -> None:
    try:
        decision = decide(body)
    except PayloadError:
        return
    assert decision.value in ("1", "0", None)


@pytest.mark.parametrize(
    "body",
    [
        {"receiver": "alertloop-webhook", "status": "firing", "state": "alerting"},
        {"groupKey": "{}:{}", "state": "ok"},
        {"version": "1", "state": "alerting", "title": "[FIRING:1] PotMeanHigh"},
    ],
    ids=["receiver", "groupKey", "version"],
)
def test_unified_envelope_without_alerts_is_refused(body: dict[str, Any]) -> None:
    with pytest.raises(PayloadError, match="without an 'alerts' list"):
        decide(body)


def test_alerts_with_bad_labels_are_refused_null_labels_are_not() -> None:
    with pytest.raises(PayloadError, match="labels"):
        decide({"alerts": [{"status": "firing", "labels": ["alertname"]}]})
    assert decide({"alerts": [{"status": "firing", "labels": None}]}).ignored == "no_match"


TEST_ALERT = {"alertname": "TestAlert", "instance": "Grafana"}


def test_unified_test_notification_is_ignored_unless_accepted() -> None:
    body = unified(unified_alert("firing", **{"instance": "Grafana"}))
    body["alerts"][0]["labels"] = dict(TEST_ALERT)
    decision = decide(body)
    assert (decision.value, decision.ignored) == (None, "test")
    assert "recognised and ignored" in decision.reason
    accepted = decide(body, selector=build_selector(accept_test=True))
    assert (accepted.value, accepted.ignored) == ("1", None)


def test_a_test_alert_beside_the_loops_alert_does_not_count() -> None:
    test = unified_alert("firing")
    test["labels"] = dict(TEST_ALERT)
    body = unified(test, unified_alert("resolved", ends=at(60)))
    assert decide(body).value == "0"


def test_other_rules_never_count_whatever_their_status() -> None:
    other = unified_alert("firing", name="Memory (copy)")
    body = unified(other, unified_alert("resolved", ends=at(60)))
    decision = decide(body)
    assert (decision.value, decision.firing, decision.rule) == ("0", 0, "PotMeanHigh")
    decision = decide(unified(other))
    assert (decision.value, decision.ignored) == (None, "no_match")
    assert "alertname=PotMeanHigh" in decision.reason


def test_empty_alerts_and_ignored_special_alerts_have_their_reasons() -> None:
    assert decide(unified()).ignored == "no_alerts"
    nodata = unified(unified_alert("firing", name="DatasourceNoData"))
    assert decide(nodata).ignored == "policy"
    assert decide(nodata, Policy(nodata=Action.ALERTING)).value == "1"


def test_legacy_test_notification_and_rule_narrowing() -> None:
    test = legacy("alerting", ruleId=0, title="[Alerting] Test notification")
    assert decide(test).ignored == "test"
    assert decide(test, selector=build_selector(accept_test=True)).value == "1"
    narrowed = build_selector(legacy_rules=["7"])
    assert decide(legacy("alerting", ruleId=7), selector=narrowed).value == "1"
    other = decide(legacy("alerting", ruleId=8), selector=narrowed)
    assert (other.value, other.ignored) == (None, "no_match")
    # A test notification is a test, not another rule, whatever --legacy-rule says.
    assert decide(test, selector=narrowed).ignored == "test"


def test_legacy_decisions_name_their_rule_as_news_without_time() -> None:
    decision = decide(legacy("ok", ruleId=4))
    assert [(n.key, n.firing, n.time) for n in decision.rules] == [("legacy:4", False, None)]


@given(st.one_of(json_values, _mutations()), st.booleans())
def test_decide_with_any_selector_only_ever_raises_payload_error(
    body: Any, accept_test: bool
) -> None:
    selector = Selector(({},), frozenset({"1"}), accept_test)
    try:
        decision = decide(body, selector=selector)
    except PayloadError:
        return
    assert (decision.value is None) == (decision.ignored is not None)
