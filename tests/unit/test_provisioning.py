"""The provisioning files against Grafana's constraints, and the loader's clear errors."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import yaml

from alertloop.sim.alerting.errors import ProvisioningError
from alertloop.sim.alerting.provisioning import (
    BASE_INTERVAL,
    EXPR_UIDS,
    default_provisioning_dir,
    interpolate_env,
    load_contact_point,
    load_policy,
    load_rule,
    load_rules,
    parse_duration,
)

PROV = default_provisioning_dir()


def _yaml(relative: str) -> dict:
    return yaml.safe_load((PROV / relative).read_text())


@pytest.fixture(scope="module")
def datasource() -> dict:
    doc = _yaml("datasources/influxdb.yaml")
    assert doc["apiVersion"] == 1
    (source,) = doc["datasources"]
    return source


@pytest.fixture(scope="module")
def rules_doc() -> dict:
    return _yaml("alerting/rules.yaml")


def _all_rules(rules_doc: dict) -> list[dict]:
    return [rule for group in rules_doc["groups"] for rule in group["rules"]]


def test_datasource_is_influxql_with_a_fixed_uid_and_env_url_and_database(datasource: dict) -> None:
    assert datasource["type"] == "influxdb"
    assert datasource["uid"] == "alertloop-influxdb"
    assert datasource["url"] == "$ALERTLOOP_INFLUX_URL"
    assert datasource["jsonData"]["dbName"] == "$ALERTLOOP_INFLUX_DB"
    assert datasource["database"] == "$ALERTLOOP_INFLUX_DB"
    assert datasource["jsonData"].get("version", "InfluxQL") == "InfluxQL"


def test_rule_groups_have_an_interval_that_is_a_multiple_of_grafanas_base(rules_doc: dict) -> None:
    assert rules_doc["apiVersion"] == 1
    for group in rules_doc["groups"]:
        seconds = parse_duration(group["interval"])
        assert seconds >= BASE_INTERVAL and seconds % BASE_INTERVAL == 0, group["interval"]
        assert group["folder"] and group["name"]


def test_every_datasource_query_has_an_integer_relative_range_from_greater_than_to(
    rules_doc: dict, datasource: dict
) -> None:
    for rule in _all_rules(rules_doc):
        for item in rule["data"]:
            if item["datasourceUid"] in EXPR_UIDS:
                continue
            span = item["relativeTimeRange"]
            assert type(span["from"]) is int and type(span["to"]) is int, span
            assert span["from"] > span["to"], span
            assert item["datasourceUid"] == datasource["uid"]
            query = item["model"]["query"]
            assert "$timeFilter" in query and "$__timeFilter" not in query


def test_expressions_use_expr_and_the_condition_has_exactly_one_threshold(rules_doc: dict) -> None:
    for rule in _all_rules(rules_doc):
        by_ref = {item["refId"]: item for item in rule["data"]}
        assert rule["uid"] and rule["title"] and rule["condition"] in by_ref
        for item in rule["data"]:
            if "type" in item["model"]:  # server-side expression
                assert item["datasourceUid"] == "__expr__"
                assert item["model"]["datasource"]["uid"] == "__expr__"
        condition = by_ref[rule["condition"]]["model"]
        assert condition["type"] == "threshold"
        assert len(condition["conditions"]) == 1
        assert rule["noDataState"] in ("NoData", "Alerting", "OK")
        assert rule["execErrState"] in ("Error", "Alerting", "OK")
        parse_duration(rule["for"])


def test_the_rule_is_the_mean_of_the_last_10_s_above_50() -> None:
    rule = load_rule(PROV)
    assert rule.reduce.reducer == "mean"
    assert (rule.threshold.type, rule.threshold_value) == ("gt", 50.0)
    assert rule.window == 10.0
    assert rule.interval == 10.0
    assert rule.for_seconds == 0.0
    assert re.search(r'FROM "pot"', rule.query.query)


def test_contact_point_is_a_webhook_with_basic_auth_from_the_environment() -> None:
    doc = _yaml("alerting/contact-points.yaml")
    (point,) = doc["contactPoints"]
    (receiver,) = point["receivers"]
    assert receiver["type"] == "webhook" and receiver["uid"]
    settings = receiver["settings"]
    assert settings["url"] == "$ALERTLOOP_WEBHOOK_URL"
    assert settings["username"] == "$ALERTLOOP_WEBHOOK_USER"
    assert settings["password"] == "$ALERTLOOP_WEBHOOK_PASSWORD"
    assert "authorization_credentials" not in settings  # cannot be combined with basic auth
    assert receiver.get("disableResolveMessage") is False  # the LED must go green again


def test_policy_sends_at_once_with_non_zero_group_and_repeat_intervals() -> None:
    doc = _yaml("alerting/policies.yaml")
    (policy,) = doc["policies"]
    assert parse_duration(policy["group_wait"]) == 0
    assert parse_duration(policy["group_interval"]) > 0
    assert parse_duration(policy["repeat_interval"]) > 0
    assert "matchers" not in policy and "object_matchers" not in policy
    # Only the loop's alerts (the rule's label loop=alertloop) go to the webhook; the rest of
    # the organisation keeps Grafana's own default contact point.
    assert policy["receiver"] == "grafana-default-email"
    (route,) = policy["routes"]
    names = {p["name"] for p in _yaml("alerting/contact-points.yaml")["contactPoints"]}
    assert route["receiver"] in names
    rule_labels = _yaml("alerting/rules.yaml")["groups"][0]["rules"][0]["labels"]
    for name, op, value in route["object_matchers"]:
        assert op == "=" and rule_labels[name] == value


def test_dashboard_shows_the_seed_query_the_mean_the_threshold_and_the_alert_state(
    datasource: dict,
) -> None:
    provider = _yaml("dashboards/dashboards.yaml")["providers"][0]
    assert provider["type"] == "file" and provider["options"]["path"]
    dashboard = json.loads((PROV / "dashboards" / "alertloop.json").read_text())
    assert dashboard["uid"] == load_rule(PROV).dashboard_uid
    queries = [t["query"] for p in dashboard["panels"] for t in p.get("targets", [])]
    assert (
        'SELECT last("value") FROM "pot" WHERE $timeFilter GROUP BY time(1s) fill(previous)'
        in queries
    )
    assert any("mean(" in q for q in queries)
    assert not any("$__timeFilter" in q for q in queries)
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            assert target["datasource"]["uid"] == datasource["uid"]
    steps = dashboard["panels"][0]["fieldConfig"]["defaults"]["thresholds"]["steps"]
    assert {"color": "red", "value": 50} in steps
    assert any(p["type"] == "alertlist" for p in dashboard["panels"])


def test_contact_point_is_interpolated_from_the_given_environment() -> None:
    env = {
        "ALERTLOOP_WEBHOOK_URL": "http://127.0.0.1:9/alert",
        "ALERTLOOP_WEBHOOK_USER": "grafana",
        "ALERTLOOP_WEBHOOK_PASSWORD": "s3cret",
    }
    point = load_contact_point(PROV, env=env)
    assert (point.url, point.username, point.password) == (
        "http://127.0.0.1:9/alert",
        "grafana",
        "s3cret",
    )
    assert point.http_method == "POST"


def test_missing_webhook_url_names_the_variable() -> None:
    with pytest.raises(ProvisioningError, match="ALERTLOOP_WEBHOOK_URL"):
        load_contact_point(PROV, env={})


def test_policy_values_are_loaded() -> None:
    policy = load_policy(PROV)
    assert policy.group_wait == 0 and policy.group_interval > 0 and policy.receiver


@pytest.mark.parametrize(
    ("text", "env", "expected"),
    [
        ("$A", {"A": "x"}, "x"),
        ("${A}/alert", {"A": "http://h"}, "http://h/alert"),
        ("$$A", {"A": "x"}, "$A"),
        ("pre-$MISSING-post", {}, "pre--post"),
    ],
    ids=["plain", "braces", "escaped", "missing"],
)
def test_interpolate_env(text: str, env: dict, expected: str) -> None:
    assert interpolate_env(text, env) == expected


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("10s", 10), ("1m30s", 90), ("500ms", 0.5), ("0s", 0), ("1h", 3600), (5, 5)],
    ids=["s", "m+s", "ms", "zero", "h", "int"],
)
def test_parse_duration(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["10", "ten", "10x", "s10"], ids=["bare", "word", "unit", "order"])
def test_parse_duration_refuses_garbage(text: str) -> None:
    with pytest.raises(ProvisioningError):
        parse_duration(text)


# -- broken copies of the files give clear errors ----------------------------------------


@pytest.fixture
def broken(tmp_path: Path) -> Path:
    shutil.copytree(PROV, tmp_path / "prov")
    return tmp_path / "prov"


def _edit_rule(prov: Path, change) -> None:  # type: ignore[no-untyped-def]
    path = prov / "alerting" / "rules.yaml"
    doc = yaml.safe_load(path.read_text())
    change(doc["groups"][0]["rules"][0], doc["groups"][0])
    path.write_text(yaml.safe_dump(doc))


def _data(rule: dict, ref: str) -> dict:
    return next(item for item in rule["data"] if item["refId"] == ref)


BROKEN_RULES = {
    "float-range": (
        lambda r, g: _data(r, "A")["relativeTimeRange"].update({"from": 10.5}),
        "integer seconds",
    ),
    "empty-range": (lambda r, g: _data(r, "A").pop("relativeTimeRange"), "integer seconds"),
    "from-not-greater": (
        lambda r, g: _data(r, "A")["relativeTimeRange"].update({"from": 0}),
        "from > to",
    ),
    "grafana-macro": (
        lambda r, g: _data(r, "A")["model"].update(
            {"query": 'SELECT "value" FROM "pot" WHERE $__timeFilter'}
        ),
        r"\$timeFilter",
    ),
    "two-conditions": (
        lambda r, g: _data(r, "C")["model"]["conditions"].append(
            {"evaluator": {"type": "lt", "params": [1]}}
        ),
        "exactly one condition",
    ),
    "bad-reducer": (
        lambda r, g: _data(r, "B")["model"].update({"reducer": "p99"}),
        "reducer 'p99'",
    ),
    "bad-condition": (lambda r, g: r.update({"condition": "Z"}), "condition 'Z'"),
    "no-uid": (lambda r, g: r.pop("uid"), "'uid' is required"),
    "bad-nodata": (lambda r, g: r.update({"noDataState": "Maybe"}), "noDataState"),
    "bad-interval": (lambda r, g: g.update({"interval": "often"}), "not a duration"),
    "math-condition": (
        lambda r, g: _data(r, "C")["model"].update({"type": "math"}),
        "threshold expression",
    ),
}


@pytest.mark.parametrize("case", sorted(BROKEN_RULES), ids=sorted(BROKEN_RULES))
def test_broken_rule_files_give_clear_errors(broken: Path, case: str) -> None:
    change, message = BROKEN_RULES[case]
    _edit_rule(broken, change)
    with pytest.raises(ProvisioningError, match=message):
        load_rule(broken)


def test_zero_group_interval_is_refused(broken: Path) -> None:
    path = broken / "alerting" / "policies.yaml"
    path.write_text(path.read_text().replace("group_interval: 1s", "group_interval: 0s"))
    with pytest.raises(ProvisioningError, match="cannot be zero"):
        load_policy(broken)


def test_missing_directory_and_bad_yaml_are_named(tmp_path: Path) -> None:
    with pytest.raises(ProvisioningError, match="does not exist"):
        load_rule(tmp_path / "nowhere")
    (tmp_path / "alerting").mkdir()
    (tmp_path / "alerting" / "rules.yaml").write_text("groups: [unclosed\n")
    with pytest.raises(ProvisioningError, match="rules.yaml"):
        load_rule(tmp_path)


def test_no_rule_at_all_says_so(tmp_path: Path) -> None:
    (tmp_path / "alerting").mkdir()
    with pytest.raises(ProvisioningError, match="exactly one rule"):
        load_rule(tmp_path)


def test_a_second_rule_beside_the_loops_lacks_its_label() -> None:
    rules = load_rules(PROV)
    assert [r.title for r in rules] == ["PotMeanHigh", "PotActive"]
    loop, other = rules
    assert loop.labels == {"loop": "alertloop"} and "loop" not in other.labels
    assert other.threshold_value < 50  # fires whenever the knob is up at all
    assert load_rule(PROV) == loop  # several rules: the loop's is found by its uid
    assert load_rule(PROV, "alertloop-pot-active") == other
