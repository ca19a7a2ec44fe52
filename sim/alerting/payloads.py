"""Grafana's webhook bodies, built as Grafana builds them: unified (>= 8) and legacy (<= 10).

Unified (grafana/alerting ``receivers/webhook``, ``templates/template_data.go`` and
``default_template.go``): ``receiver``, ``status`` (firing/resolved), ``alerts[]``
(``status``, ``labels`` and ``annotations`` without Grafana's private ``__x__`` ones,
``startsAt``, ``endsAt`` (Go's zero time while firing), ``generatorURL``, ``fingerprint``
(over every label, private ones included), ``silenceURL``, ``dashboardURL``, ``panelURL``,
``values``, ``valueString``, ``orgId``), ``groupLabels``, ``commonLabels``,
``commonAnnotations``, ``externalURL``, ``version`` "1", ``groupKey``, ``truncatedAlerts``,
``orgId``, ``title`` and ``message`` (the default templates), ``state`` (alerting/ok).
Legacy: ``title``, ``ruleId``, ``ruleName``, ``state`` (alerting/ok/no_data), ``evalMatches``,
``orgId``, ``dashboardId``, ``panelId``, ``tags``, ``ruleUrl`` and ``message``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from alertloop.sim.alerting.alerts import (
    PostableAlert,
    format_number,
    is_private,
    render,
)
from alertloop.sim.alerting.dispatcher import Notification
from alertloop.sim.alerting.model import AlertRule, ContactPoint

ZERO_TIME = "0001-01-01T00:00:00Z"
DEFAULT_EXTERNAL_URL = "http://localhost:3000/"

__all__ = [
    "DEFAULT_EXTERNAL_URL",
    "default_message",
    "default_title",
    "format_number",
    "format_time",
    "legacy_payload",
    "render",
    "unified_payload",
]


def format_time(epoch: float) -> str:
    """RFC 3339 in UTC with trimmed fractional seconds, like Go's ``time.Time`` JSON."""
    text = (
        datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f").rstrip("0").rstrip(".")
    )
    return text + "Z"


def _public(items: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in items.items() if not is_private(k)}


def _query(params: list[tuple[str, str]]) -> str:
    """Go's ``url.Values.Encode``: sorted by key (stable for repeated keys), ``+`` for spaces."""
    return urlencode(sorted(params, key=lambda kv: kv[0]))


def _alert_json(alert: PostableAlert, firing: bool, external: str) -> dict[str, Any]:
    """One alert of the body, with the URLs as Grafana 11 writes them."""
    ann = alert.annotations
    org = ann.get("__orgId__", "")
    org_q = [("orgId", org)] if org else []
    dashboard = panel = ""
    if ann.get("__dashboardUid__"):
        dashboard = f"{external}d/{ann['__dashboardUid__']}" + (
            f"?{_query(org_q)}" if org_q else ""
        )
        if ann.get("__panelId__"):
            panel = f"{external}d/{ann['__dashboardUid__']}?" + _query(
                [*org_q, ("viewPanel", ann["__panelId__"])]
            )
    matchers = [
        ("matcher", f"{k}={alert.labels[k]}") for k in sorted(alert.labels) if not is_private(k)
    ]
    silence = f"{external}alerting/silence/new?" + _query(
        [("alertmanager", "grafana"), *matchers, *org_q]
    )
    # no values: Go's nil map, null in the JSON (as in Grafana's DatasourceError bodies)
    values: dict[str, float] | None = json.loads(ann["__values__"]) if "__values__" in ann else None
    return {
        "status": "firing" if firing else "resolved",
        "labels": _public(alert.labels),
        "annotations": _public(ann),
        "startsAt": format_time(alert.starts_at),
        "endsAt": ZERO_TIME if firing else format_time(alert.ends_at),
        "generatorURL": alert.generator_url + (f"?orgId={org}" if org else ""),
        "fingerprint": alert.fingerprint,
        "silenceURL": silence,
        "dashboardURL": dashboard,
        "panelURL": panel,
        "values": values,
        "valueString": ann.get("__value_string__", ""),
    }


def _values_list(alert: Mapping[str, Any]) -> str:
    values = alert["values"] or {}
    if not values:
        return "[no value]"
    return ", ".join(f"{k}={format_number(values[k])}" for k in sorted(values))


def _alert_list(alerts: Sequence[Mapping[str, Any]]) -> str:
    out = []
    for alert in alerts:
        out.append(f"\nValue: {_values_list(alert)}\nLabels:\n")
        out += [f" - {k} = {v}\n" for k, v in sorted(alert["labels"].items())]
        out.append("Annotations:\n")
        out += [f" - {k} = {v}\n" for k, v in sorted(alert["annotations"].items())]
        for name, key in (
            ("Source", "generatorURL"),
            ("Silence", "silenceURL"),
            ("Dashboard", "dashboardURL"),
            ("Panel", "panelURL"),
        ):
            if alert[key]:
                out.append(f"{name}: {alert[key]}\n")
    return "".join(out)


def default_message(alerts: Sequence[Mapping[str, Any]]) -> str:
    """Grafana's ``default.message`` template for the body's alerts."""
    firing = [a for a in alerts if a["status"] == "firing"]
    resolved = [a for a in alerts if a["status"] == "resolved"]
    text = ""
    if firing:
        text += "**Firing**\n" + _alert_list(firing)
        if resolved:
            text += "\n\n"
    if resolved:
        text += "**Resolved**\n" + _alert_list(resolved)
    return text


def default_title(
    status: str, firing: int, resolved: int, group: Mapping[str, str], common: Mapping[str, str]
) -> str:
    """Grafana's ``default.title`` (``__subject``): note the space before the common labels."""
    head = status.upper()
    if status == "firing":
        head += f":{firing}" + (f", RESOLVED:{resolved}" if resolved else "")
    title = f"[{head}] " + " ".join(group[k] for k in sorted(group)) + " "
    if len(common) > len(group):
        rest = {k: v for k, v in common.items() if k not in group}
        title += "(" + " ".join(rest[k] for k in sorted(rest)) + ")"
    return title


def _common(dicts: Sequence[Mapping[str, str]]) -> dict[str, str]:
    if not dicts:
        return {}
    first = dicts[0]
    return {k: v for k, v in first.items() if all(d.get(k) == v for d in dicts[1:])}


def unified_payload(
    notification: Notification,
    contact: ContactPoint,
    org_id: int = 1,
    external_url: str = DEFAULT_EXTERNAL_URL,
) -> dict[str, Any]:
    """The body Grafana's webhook contact point POSTs for one flush of an alert group."""
    external = external_url if external_url.endswith("/") else external_url + "/"
    # disableResolveMessage: resolved alerts are left out (Alertmanager's send_resolved)
    pairs = [(a, f) for a, f in notification.alerts if f or not contact.disable_resolve_message]
    truncated = 0
    if contact.max_alerts > 0 and len(pairs) > contact.max_alerts:
        truncated = len(pairs) - contact.max_alerts
        pairs = pairs[: contact.max_alerts]
    body_alerts = [_alert_json(a, f, external) for a, f in pairs]
    firing = sum(1 for _, f in pairs if f)
    status = "firing" if firing else "resolved"
    common_labels = _public(_common([a.labels for a, _ in pairs]))
    group = dict(notification.group_labels)
    return {
        "receiver": notification.receiver,
        "status": status,
        "alerts": body_alerts,
        "groupLabels": group,
        "commonLabels": common_labels,
        "commonAnnotations": _public(_common([a.annotations for a, _ in pairs])),
        "externalURL": external,
        "version": "1",
        "groupKey": notification.group_key,
        "truncatedAlerts": truncated,
        "orgId": org_id,
        "title": default_title(status, firing, len(pairs) - firing, group, common_labels),
        "state": "alerting" if firing else "ok",
        "message": default_message(body_alerts),
    }


LEGACY_STATES = {"alerting": "Alerting", "ok": "OK", "no_data": "No Data"}


def legacy_payload(
    rule: AlertRule,
    state: str,
    value: float | None,
    external_url: str = DEFAULT_EXTERNAL_URL,
    rule_id: int = 1,
    metric: str = "pot.value",
) -> dict[str, Any]:
    """The body legacy Grafana alerting (4.x-10.x) POSTs; ``state`` is alerting, ok or no_data.

    ``evalMatches`` holds the value only while alerting, as in Grafana.
    Raises ValueError for another state.
    """
    if state not in LEGACY_STATES:
        raise ValueError(f"legacy state must be one of {sorted(LEGACY_STATES)}, not {state!r}")
    external = external_url if external_url.endswith("/") else external_url + "/"
    values = {rule.reduce.ref_id: value} if value is not None else {}
    body: dict[str, Any] = {
        "title": f"[{LEGACY_STATES[state]}] {rule.title}",
        "ruleId": rule_id,
        "ruleName": rule.title,
        "state": state,
        "evalMatches": (
            [{"value": value, "metric": metric, "tags": {}}]
            if state == "alerting" and value is not None
            else []
        ),
        "orgId": rule.org_id,
        "dashboardId": 1,
        "panelId": rule.panel_id or 1,
        "tags": dict(rule.labels),
        "ruleUrl": f"{external}d/{rule.dashboard_uid or ''}?orgId={rule.org_id}",
    }
    summary = rule.annotations.get("summary")
    if summary:
        body["message"] = render(summary, values, {"alertname": rule.title, **rule.labels})  # type: ignore[arg-type]
    return body
