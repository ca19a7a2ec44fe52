"""Which alerts count: the selector read from the provisioning files, --match, tests, legacy rules."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from alertloop.services.webhook.errors import WebhookConfigError
from alertloop.services.webhook.selector import (
    Selector,
    build_selector,
    default_provisioning_dir,
    is_legacy_test,
    is_test_alert,
    parse_matchers,
)

LOOP = {"alertname": "PotMeanHigh", "grafana_folder": "alertloop", "loop": "alertloop"}


@pytest.fixture
def prov(tmp_path: Path) -> Path:
    """A copy of the shipped provisioning files to edit."""
    target = tmp_path / "provisioning"
    shutil.copytree(default_provisioning_dir(), target)
    return target


def _edit(path: Path, change: object) -> None:
    doc = yaml.safe_load(path.read_text())
    change(doc)  # type: ignore[operator]
    path.write_text(yaml.safe_dump(doc))


def test_default_is_the_provisioned_rule_routed_to_the_webhook() -> None:
    selector = build_selector()
    assert selector.label_sets == ({"alertname": "PotMeanHigh", "loop": "alertloop"},)
    assert "provisioned rules" in selector.describe()
    assert selector.matches(LOOP)
    assert selector.matches({**LOOP, "device": "d1", "grafana_folder": "elsewhere"})
    assert not selector.matches({**LOOP, "alertname": "Memory (copy)"})
    assert not selector.matches({"alertname": "PotMeanHigh"})  # the rule's label is missing


def test_renaming_the_rule_in_the_files_renames_the_selector(prov: Path) -> None:
    def rename(doc: dict) -> None:
        rule = doc["groups"][0]["rules"][0]
        rule["title"] = "KnobHigh"
        rule["labels"]["site"] = "lab"

    _edit(prov / "alerting" / "rules.yaml", rename)
    selector = build_selector(provisioning_dir=prov)
    assert selector.label_sets == ({"alertname": "KnobHigh", "loop": "alertloop", "site": "lab"},)


def test_a_second_rule_without_the_loop_label_does_not_count(prov: Path) -> None:
    def add(doc: dict) -> None:
        second = dict(doc["groups"][0]["rules"][0], uid="other", title="Memory (copy)")
        second["labels"] = {"team": "ops"}
        doc["groups"][0]["rules"].append(second)

    _edit(prov / "alerting" / "rules.yaml", add)
    selector = build_selector(provisioning_dir=prov)
    assert selector.label_sets == ({"alertname": "PotMeanHigh", "loop": "alertloop"},)
    assert not selector.matches({"alertname": "Memory (copy)", "team": "ops"})


def test_a_root_policy_to_the_webhook_selects_every_rule(prov: Path) -> None:
    def root(doc: dict) -> None:
        doc["policies"][0]["receiver"] = "alertloop-webhook"
        del doc["policies"][0]["routes"]

    _edit(prov / "alerting" / "policies.yaml", root)
    _edit(
        prov / "alerting" / "rules.yaml",
        lambda doc: doc["groups"][0]["rules"].append(
            dict(doc["groups"][0]["rules"][0], uid="b", title="Second", labels={})
        ),
    )
    rules = yaml.safe_load((prov / "alerting" / "rules.yaml").read_text())["groups"][0]["rules"]
    sets = build_selector(provisioning_dir=prov).label_sets
    assert {"alertname": "Second"} in sets and len(sets) == len(rules)


@pytest.mark.parametrize(
    ("matcher", "selected"),
    [
        (["loop", "=", "alertloop"], True),
        (["loop", "!=", "alertloop"], False),
        (["loop", "=~", "alert.*"], True),
        (["loop", "!~", "alert.*"], False),
        (["alertname", "=", "PotMeanHigh"], True),
        (["grafana_folder", "=", "other"], False),
    ],
    ids=["eq", "ne", "regex", "not-regex", "alertname", "folder"],
)
def test_policy_matchers(prov: Path, matcher: list[str], selected: bool) -> None:
    def change(doc: dict) -> None:
        doc["policies"][0]["routes"][0]["object_matchers"] = [matcher]

    _edit(prov / "alerting" / "policies.yaml", change)
    try:
        selector = build_selector(provisioning_dir=prov)
    except WebhookConfigError as exc:  # the matcher routes no provisioned rule at all
        assert not selected
        assert "routes no provisioned rule" in str(exc)
    else:
        assert selector.matches(LOOP) is selected


def test_no_route_to_the_webhook_is_refused_and_says_how_to_fix_it(prov: Path) -> None:
    (prov / "alerting" / "policies.yaml").unlink()
    with pytest.raises(WebhookConfigError, match="--match"):
        build_selector(provisioning_dir=prov)
    assert build_selector(["loop=alertloop"], provisioning_dir=prov).matches(LOOP)


def test_missing_directory_and_bad_yaml(tmp_path: Path, prov: Path) -> None:
    with pytest.raises(WebhookConfigError, match="does not exist"):
        build_selector(provisioning_dir=tmp_path / "nope")
    (prov / "alerting" / "rules.yaml").write_text("groups: [unclosed\n")
    with pytest.raises(WebhookConfigError, match="cannot read"):
        build_selector(provisioning_dir=prov)


def test_rule_labels_expand_environment_variables(
    prov: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALERTLOOP_SITE", "lab")

    def label(doc: dict) -> None:
        doc["groups"][0]["rules"][0]["labels"]["site"] = "$ALERTLOOP_SITE"

    _edit(prov / "alerting" / "rules.yaml", label)
    assert build_selector(provisioning_dir=prov).label_sets[0]["site"] == "lab"


def test_match_replaces_the_default() -> None:
    selector = build_selector(["alertname=Memory (copy)", " debug = true "])
    assert selector.label_sets == ({"alertname": "Memory (copy)", "debug": "true"},)
    assert selector.matches({"alertname": "Memory (copy)", "debug": "true", "x": "y"})
    assert not selector.matches(LOOP)
    with pytest.raises(WebhookConfigError, match="LABEL=VALUE"):
        parse_matchers(["no-equals-sign"])


def test_nodata_and_error_alerts_match_by_rulename() -> None:
    selector = build_selector()
    for name in ("DatasourceNoData", "DatasourceError"):
        assert selector.matches({"alertname": name, "rulename": "PotMeanHigh", "loop": "alertloop"})
        assert not selector.matches({"alertname": name, "rulename": "Other", "loop": "alertloop"})
    assert build_selector(["alertname=DatasourceError"]).matches(
        {"alertname": "DatasourceError", "rulename": "Other"}
    )


def test_test_notifications_are_recognised() -> None:
    assert is_test_alert({"alertname": "TestAlert", "instance": "Grafana"})
    assert is_test_alert({"alertname": "TestAlert", "instance": "Grafana", "grafana_folder": "F"})
    assert not is_test_alert({"alertname": "TestAlert", "instance": "db1"})
    assert is_legacy_test({"ruleId": 0, "state": "alerting"})
    assert is_legacy_test({"ruleName": "x", "title": "[OK] Test notification"})
    assert not is_legacy_test({"ruleId": 4, "title": "[Alerting] pot"})
    assert not is_legacy_test({"ruleId": False, "title": "x"})


def test_legacy_rules_by_name_or_id() -> None:
    everything = Selector(({},))
    assert everything.matches_legacy(4, "pot") and everything.matches_legacy(None, None)
    narrowed = build_selector(legacy_rules=["4", "Pot high "])
    assert narrowed.matches_legacy(4, "other") and narrowed.matches_legacy(9, "Pot high")
    assert not narrowed.matches_legacy(5, "pot") and not narrowed.matches_legacy(True, None)
