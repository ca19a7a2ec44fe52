"""Grafana notifications (unified and legacy) turned into one decision: publish ``1``, ``0``, or nothing.

Unified alerting (Grafana 8+, the only kind from Grafana 11 on) sends ``alerts[]`` whose items
carry ``status`` ``firing`` or ``resolved``: the decision is ``1`` when any counted alert fires and
``0`` when every counted alert is resolved. ``DatasourceNoData`` and ``DatasourceError`` alerts
(Grafana's stand-ins when the query returns nothing or fails) are counted according to the
policy: ``ignore`` (the default: they say nothing about the threshold, the LED keeps its state),
``alerting`` (counted like the rule's own alert, firing -> ``1``, resolved -> ``0``) or ``ok``
(always counted as resolved).

Legacy alerting (Grafana 4-10) sends ``state``: ``alerting`` -> ``1``, ``ok`` -> ``0``;
``no_data``, ``pending``, ``paused`` and ``unknown`` follow the policy (default: no change).

Every other JSON value raises PayloadError, which the app answers with 422.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from services.webhook.errors import PayloadError

ALERTING = "1"
OK = "0"
NODATA_ALERT = "DatasourceNoData"
ERROR_ALERT = "DatasourceError"
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
class Decision:
    """What one notification asks for.

    ``value`` is ``"1"``, ``"0"`` or None (leave the state alone). ``event_time`` is the newest
    ``startsAt``/``endsAt`` the notification reports (None for legacy payloads, which carry no
    times); the publisher uses it so that an older notification never undoes a newer state.
    """

    kind: Literal["unified", "legacy"]
    value: str | None
    reason: str
    event_time: datetime | None = None
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


def decide(body: Any, policy: Policy | None = None) -> Decision:
    """The decision for a decoded JSON body.

    Raises PayloadError when the body is neither a unified nor a legacy notification.
    """
    policy = policy or Policy()
    if not isinstance(body, dict):
        raise PayloadError(f"expected a JSON object, got {type(body).__name__}")
    if "alerts" in body:
        return _decide_unified(body, policy)
    if "state" in body:
        return _decide_legacy(body, policy)
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


def _decide_unified(body: dict[str, Any], policy: Policy) -> Decision:
    alerts = body["alerts"]
    if not isinstance(alerts, list):
        raise PayloadError("'alerts' must be a list")
    for index, alert in enumerate(alerts):
        if not isinstance(alert, dict):
            raise PayloadError(f"alerts[{index}] must be an object")
        if alert.get("status") not in ("firing", "resolved"):
            raise PayloadError(f"alerts[{index}].status must be 'firing' or 'resolved'")
    counted = [(a, s) for a in alerts if (s := _counted_status(a, policy)) is not None]
    times = [
        t
        for alert, status in counted
        for t in (
            parse_time(alert.get("startsAt")),
            parse_time(alert.get("endsAt")) if status == "resolved" else None,
        )
        if t is not None
    ]
    firing = sum(1 for _, status in counted if status == "firing")
    if not counted:
        value, reason = None, "no alert counts (empty, or only ignored no-data/error alerts)"
    elif firing:
        value, reason = ALERTING, f"{firing} of {len(counted)} counted alerts firing"
    else:
        value, reason = OK, f"all {len(counted)} counted alerts resolved"
    labels = body.get("commonLabels")
    rule = labels.get("alertname") if isinstance(labels, dict) else None
    return Decision(
        kind="unified",
        value=value,
        reason=reason,
        event_time=max(times) if times else None,
        alerts=len(alerts),
        firing=firing,
        rule=rule if isinstance(rule, str) else None,
    )


def _decide_legacy(body: dict[str, Any], policy: Policy) -> Decision:
    state = body["state"]
    if state not in LEGACY_STATES:
        raise PayloadError(f"'state' must be one of {', '.join(LEGACY_STATES)}")
    if state == "alerting":
        value: str | None = ALERTING
    elif state == "ok":
        value = OK
    else:
        action = policy.legacy_action(state)
        value = {Action.ALERTING: ALERTING, Action.OK: OK}.get(action)
    rule = body.get("ruleName")
    url = body.get("ruleUrl", body.get("rule_url"))
    return Decision(
        kind="legacy",
        value=value,
        reason=f"legacy state {state!r}",
        rule=rule if isinstance(rule, str) else None,
        rule_url=url if isinstance(url, str) else None,
    )
