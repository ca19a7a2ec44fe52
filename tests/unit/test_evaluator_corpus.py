"""The evaluator's bodies against real Grafana bodies (tests/conformance/grafana): same keys,
same JSON types, for firing, resolved, mixed, DatasourceError and legacy notifications."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

import pytest

from alertloop.sim.alerting import load_rule
from alertloop.sim.alerting.alerts import postable_alert
from alertloop.sim.alerting.dispatcher import Notification
from alertloop.sim.alerting.model import ContactPoint
from alertloop.sim.alerting.payloads import legacy_payload, unified_payload
from alertloop.sim.alerting.state import Outcome, StateMachine
from tests.conformance.grafana import corpus

RULE = load_rule()
CONTACT = ContactPoint(name="alertloop-webhook", uid="w", url="http://127.0.0.1:9/alert")
OPTIONAL_ALERT_KEYS = {"imageURL", "orgId"}  # omitempty in Grafana's ExtendedAlert


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    return type(value).__name__


def _entries(names: Iterable[str]) -> list[Any]:
    by_name = {e.name: e for e in corpus.load_corpus()}
    return [by_name[n] for n in names]


def _bodies() -> dict[str, dict[str, Any]]:
    machine = StateMachine(RULE, 10.0)

    def step(now: float, outcome: Outcome, value: float | None, error: str | None = None):  # type: ignore[no-untyped-def]
        values = {} if value is None else {"B": value, "C": 1.0 if value > 50 else 0.0}
        text = ", ".join(f"[ var='{k}' labels={{}} value={v:g} ]" for k, v in values.items())
        return postable_alert(
            machine.step(now, outcome, values, text, error), RULE, "http://localhost:3000/"
        )

    firing = step(1000.0, Outcome.FIRING, 63.5)
    resolved = step(1010.0, Outcome.NOT_FIRING, 20.0)
    error = postable_alert(
        StateMachine(RULE, 10.0).step(1000.0, Outcome.ERROR, {}, "", "query failed"),
        RULE,
        "http://localhost:3000/",
    )
    other = dataclasses.replace(firing, labels={**firing.labels, "alertname": "Other"})
    group = {"alertname": "PotMeanHigh", "grafana_folder": "alertloop"}
    err_group = {"alertname": "DatasourceError", "grafana_folder": "alertloop"}

    def body(alerts: tuple, labels: dict[str, str]) -> dict[str, Any]:
        return unified_payload(
            Notification("alertloop-webhook", "{}:{}", labels, alerts, 1020.0), CONTACT
        )

    return {
        "firing": body(((firing, True),), group),
        "resolved": body(((resolved, False),), group),
        "mixed": body(((other, True), (resolved, False)), {"grafana_folder": "alertloop"}),
        "error": body(((error, True),), err_group),
    }


# (case, corpus body, exact): Grafana 10 and 11 bodies have the keys the evaluator writes;
# Grafana 9.0 bodies lack ``values`` (added in 9.1), so they are checked as a subset.
UNIFIED_CASES = [
    ("firing", "unified-g11-other-rule-firing", True),
    ("firing", "unified-g9-firing", False),
    ("resolved", "unified-g9-resolved", False),
    ("mixed", "unified-g9-mixed", False),
    ("error", "unified-datasource-error", True),
]


@pytest.mark.parametrize(
    ("case", "name", "exact"), UNIFIED_CASES, ids=[f"{c}-{n}" for c, n, _ in UNIFIED_CASES]
)
def test_unified_bodies_have_grafanas_keys_and_types(case: str, name: str, exact: bool) -> None:
    mine = _bodies()[case]
    (entry,) = _entries([name])
    real = entry.body
    assert set(mine) == set(real)
    for key in real:
        assert _kind(mine[key]) == _kind(real[key]), key
    assert (mine["status"], mine["state"]) == (real["status"], real["state"])
    assert [a["status"] for a in mine["alerts"]] == [a["status"] for a in real["alerts"]][
        : len(mine["alerts"])
    ] or case == "mixed"
    real_keys = set(real["alerts"][0])
    for alert in mine["alerts"]:
        if exact:
            assert set(alert) == real_keys - OPTIONAL_ALERT_KEYS
        else:
            assert real_keys - OPTIONAL_ALERT_KEYS <= set(alert)
        for key in real_keys & set(alert):
            if key == "values" and None in (alert[key], real["alerts"][0][key]):
                continue  # null when there are no values: both occur in Grafana's bodies
            assert _kind(alert[key]) == _kind(real["alerts"][0][key]), f"alerts.{key}"


def test_the_datasource_error_body_has_the_labels_grafana_gives_it() -> None:
    (entry,) = _entries(["unified-datasource-error"])
    mine = _bodies()["error"]["alerts"][0]
    real = entry.body["alerts"][0]
    wanted = {"alertname", "rulename", "grafana_folder", "datasource_uid", "ref_id"}
    assert wanted <= set(real["labels"]) and wanted <= set(mine["labels"])
    assert set(mine["annotations"]) == set(RULE.annotations)  # no Error annotation either
    assert "Error" not in real["annotations"]
    assert mine["values"] is None and real["values"] is None
    assert mine["valueString"] == real["valueString"] == ""


@pytest.mark.parametrize(
    ("state", "name"),
    [("alerting", "legacy-alerting"), ("ok", "legacy-ok"), ("no_data", "legacy-no-data")],
    ids=["alerting", "ok", "no-data"],
)
def test_legacy_bodies_have_grafanas_keys_and_types(state: str, name: str) -> None:
    (entry,) = _entries([name])
    real = entry.body
    mine = legacy_payload(RULE, state, 61.0)
    missing = set(real) - set(mine) - {"imageUrl"}
    assert not missing, f"{name}: {missing}"
    assert set(mine) <= set(real) | {"message"}, name
    for key in set(mine) & set(real):
        assert _kind(mine[key]) == _kind(real[key]), f"{name}: {key}"
