"""Grafana notifications (unified and legacy) turned into one decision: publish ``1``, ``0``, or nothing.

Only the alerts that the selector (``alertloop.services.webhook.selector``) matches count; test
notifications are recognised and ignored unless the selector accepts them. A notification in
which nothing counts is ignored, with a reason (``Decision.ignored``).

Unified alerting (Grafana 8+, the only kind from Grafana 11 on) sends ``alerts[]`` whose items
carry ``status`` ``firing`` or ``resolved``: the decision is ``1`` when any counted alert fires and
``0`` when every counted alert is resolved. ``DatasourceNoData`` and ``DatasourceError`` alerts
(Grafana's stand-ins when the query returns nothing or fails) are counted according to the
policy: ``ignore`` (the default: they say nothing about the threshold, the LED keeps its state),
``alerting`` (counted like the rule's own alert, firing -> ``1``, resolved -> ``0``) or ``ok``
(always counted as resolved).

Legacy alerting (Grafana 4-10) sends ``state``: ``alerting`` -> ``1``, ``ok`` -> ``0``;
``no_data``, ``pending``, ``paused`` and ``unknown`` follow the policy (default: no change).

Every other JSON value raises PayloadError, which the app answers with 422; so does a unified
envelope (``receiver``, ``groupKey`` or ``version``) without an ``alerts`` list, which is not
read as a legacy notification just because it carries the deprecated ``state``.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from alertloop.services.webhook.errors import PayloadError
from alertloop.services.webhook.selector import (
    ERROR_ALERT,
    NODATA_ALERT,
    Selector,
    build_selector,
    is_legacy_test,
    is_test_alert,
)

ALERTING = "1"
OK = "0"
UNIFIED_ENVELOPE = ("receiver", "groupKey", "version")
IGNORED_REASONS = ("test", "no_match", "no_alerts", "policy")
LEGACY_STATES = ("alerting", "ok", "no_data", "pending", "paused", "unknown")
LEGACY_CONFIGURABLE = ("no_data", "pending", "paused", "unknown")


class Action(enum.StrEnum):
    """What a notification that does not plainly say alerting or ok does to the LED."""

    IGNORE = "ignore"
    ALERTING = "alerting"
    OK = "ok"


@dataclass(frozen=True)
class Policy:
    """How the special cases are handled; the defaults leave the published state alone."""

    nodata: Action = Action.IGNORE
    error: Action = Action.IGNORE
    legacy: Mapping[str, Action] = field(
        default_factory=lambda: {state: Action.IGNORE for state in LEGACY_CONFIGURABLE}
    )

    def legacy_action(self, state: str) -> Action:
        return self.legacy.get(state, Action.IGNORE)


@dataclass(frozen=True)
class RuleNews:
    """What one notification says about one rule instance."""

    key: str
    firing: bool
    time: datetime | None


@dataclass(frozen=True)
class Decision:
    """What one notification asks for.

    ``value`` is ``"1"``, ``"0"`` or None (leave the state alone). ``ignored`` says why nothing
    counts (one of IGNORED_REASONS) when value is None. ``rules`` holds, per counted rule
    instance, its key (the alert's fingerprint, or its labels; ``legacy:<id>``), whether it
    fires, and the time of the news (``endsAt`` when resolved, else ``startsAt``; None for
    legacy payloads, which carry no times): the guard compares each rule only with newer news
    of the same rule. ``event_time`` is the newest of those times.
    """

    kind: Literal["unified", "legacy"]
    value: str | None
    reason: str
    event_time: datetime | None = None
    ignored: str | None = None
    rules: tuple[RuleNews, ...] = ()
    alerts: int = 0
    firing: int = 0
    rule: str | None = None
    rule_url: str | None = None


def parse_time(text: object) -> datetime | None:
    """An RFC 3339 time as an aware datetime; None for missing, unparsable or Go's zero time."""
    if not isinstance(text, str) or not text:
        return None
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return None
    if when.year <= 1 or when.tzinfo is None:
        return None
    return when


def decide(body: Any, policy: Policy | None = None, selector: Selector | None = None) -> Decision:
    """The decision for a decoded JSON body under ``policy`` and ``selector`` (defaults: the
    provisioned rules, test notifications ignored).

    Raises PayloadError when the body is neither a unified nor a legacy notification, or is a
    unified envelope without an ``alerts`` list.
    """
    policy = policy or Policy()
    selector = selector or build_selector()
    if not isinstance(body, dict):
        raise PayloadError(f"expected a JSON object, got {type(body).__name__}")
    if "alerts" in body:
        return _decide_unified(body, policy, selector)
    present = [k for k in UNIFIED_ENVELOPE if k in body]
    if present:
        raise PayloadError(
            f"a unified notification ({', '.join(present)}) without an 'alerts' list"
        )
    if "state" in body:
        return _decide_legacy(body, policy, selector)
    raise PayloadError("neither a unified notification (alerts[]) nor a legacy one (state)")


def _counted_status(alert: Mapping[str, Any], policy: Policy) -> str | None:
    """The status an alert counts with (firing/resolved), or None when the policy ignores it."""
    status = alert["status"]
    labels = alert.get("labels")
    name = labels.get("alertname") if isinstance(labels, dict) else None
    action = None
    if name == NODATA_ALERT:
        action = policy.nodata
    elif name == ERROR_ALERT:
        action = policy.error
    if action is None or action is Action.ALERTING:
        return status
    if action is Action.OK:
        return "resolved"
    return None


def _ignored(
    kind: Literal["unified", "legacy"], why: str, reason: str, alerts: int = 0
) -> Decision:
    return Decision(kind=kind, value=None, reason=reason, ignored=why, alerts=alerts)


def _rule_key(alert: Mapping[str, Any], labels: Mapping[str, Any]) -> str:
    fingerprint = alert.get("fingerprint")
    if isinstance(fingerprint, str) and fingerprint:
        return fingerprint
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


def _decide_unified(body: dict[str, Any], policy: Policy, selector: Selector) -> Decision:
    alerts = body["alerts"]
    if not isinstance(alerts, list):
        raise PayloadError("'alerts' must be a list")
    matching: list[tuple[dict[str, Any], Mapping[str, Any]]] = []
    tests = 0
    for index, alert in enumerate(alerts):
        if not isinstance(alert, dict):
            raise PayloadError(f"alerts[{index}] must be an object")
        if alert.get("status") not in ("firing", "resolved"):
            raise PayloadError(f"alerts[{index}].status must be 'firing' or 'resolved'")
        labels = alert.get("labels") or {}
        if not isinstance(labels, dict):
            raise PayloadError(f"alerts[{index}].labels must be an object")
        if is_test_alert(labels):
            tests += 1
            if selector.accept_test:
                matching.append((alert, labels))
        elif selector.matches(labels):
            matching.append((alert, labels))
    if not alerts:
        return _ignored("unified", "no_alerts", "no alerts in the notification")
    if tests == len(alerts) and not selector.accept_test:
        return _ignored(
            "unified",
            "test",
            "test notification (alertname=TestAlert, instance=Grafana): recognised and "
            "ignored; --accept-test-notifications publishes them",
            len(alerts),
        )
    if not matching:
        return _ignored(
            "unified",
            "no_match",
            f"no alert matches the selector {selector.describe()}",
            len(alerts),
        )
    rules: list[RuleNews] = []
    names: set[str] = set()
    for alert, labels in matching:
        status = _counted_status(alert, policy)
        if status is None:
            continue
        when = parse_time(alert.get("endsAt")) if status == "resolved" else None
        rules.append(
            RuleNews(
                _rule_key(alert, labels),
                status == "firing",
                when or parse_time(alert.get("startsAt")),
            )
        )
        if isinstance(name := labels.get("alertname"), str):
            names.add(name)
    if not rules:
        return _ignored(
            "unified",
            "policy",
            "only DatasourceNoData/DatasourceError alerts, which the policy ignores",
            len(alerts),
        )
    times = [r.time for r in rules if r.time is not None]
    firing = sum(1 for r in rules if r.firing)
    if firing:
        value, reason = ALERTING, f"{firing} of {len(rules)} matching alerts firing"
    else:
        value, reason = OK, f"all {len(rules)} matching alerts resolved"
    return Decision(
        kind="unified",
        value=value,
        reason=reason,
        event_time=max(times) if times else None,
        alerts=len(alerts),
        firing=firing,
        rule=", ".join(sorted(names)) or None,
        rules=tuple(rules),
    )


def _decide_legacy(body: dict[str, Any], policy: Policy, selector: Selector) -> Decision:
    state = body["state"]
    if state not in LEGACY_STATES:
        raise PayloadError(f"'state' must be one of {', '.join(LEGACY_STATES)}")
    rule_id, name = body.get("ruleId"), body.get("ruleName")
    test = is_legacy_test(body)
    if test and not selector.accept_test:
        return _ignored(
            "legacy",
            "test",
            "legacy test notification (ruleId 0): recognised and ignored; "
            "--accept-test-notifications publishes them",
        )
    if not test and not selector.matches_legacy(rule_id, name):
        return _ignored(
            "legacy",
            "no_match",
            f"legacy rule {name!r} (id {rule_id}) is not one of "
            f"{', '.join(sorted(selector.legacy_rules))}",
        )
    if state == "alerting":
        value: str | None = ALERTING
    elif state == "ok":
        value = OK
    else:
        action = policy.legacy_action(state)
        value = {Action.ALERTING: ALERTING, Action.OK: OK}.get(action)
    if value is None:
        return _ignored("legacy", "policy", f"legacy state {state!r}, which the policy ignores")
    url = body.get("ruleUrl", body.get("rule_url"))
    key = rule_id if isinstance(rule_id, int) and not isinstance(rule_id, bool) else name
    return Decision(
        kind="legacy",
        value=value,
        reason=f"legacy state {state!r}",
        rule=name if isinstance(name, str) else None,
        rule_url=url if isinstance(url, str) else None,
        rules=(RuleNews(f"legacy:{key}", value == ALERTING, None),),
    )
