"""Grafana's webhook bodies, built as Grafana builds them: unified (>= 8) and legacy (<= 10).

Unified: ``receiver``, ``status`` (firing/resolved), ``orgId``, ``alerts[]`` (``status``,
``labels`` with ``alertname`` and ``grafana_folder``, ``annotations``, ``startsAt``, ``endsAt``,
``values``, ``valueString``, ``fingerprint``, URLs), ``groupLabels``, ``commonLabels``,
``commonAnnotations``, ``externalURL``, ``version`` "1", ``groupKey``, ``truncatedAlerts``,
``title``, ``state`` (alerting/ok only) and ``message``.
Legacy: ``title``, ``ruleId``, ``ruleName``, ``state`` (alerting/ok/no_data), ``evalMatches``,
``orgId``, ``dashboardId``, ``panelId``, ``tags``, ``ruleUrl`` and ``message``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from sim.alerting.provisioning import AlertRule, ContactPoint, NotificationPolicy

ZERO_TIME = "0001-01-01T00:00:00Z"
DEFAULT_EXTERNAL_URL = "http://localhost:3000/"
NO_DATA_ALERT = "DatasourceNoData"
ERROR_ALERT = "DatasourceError"

_FNV_OFFSET = 14695981039346656037
_FNV_PRIME = 1099511628211
_TEMPLATE = re.compile(r"\{\{\s*(.*?)\s*\}\}")


def format_time(epoch: float) -> str:
    """RFC 3339 in UTC with trimmed fractional seconds, like Go's ``time.Time`` JSON."""
    text = (
        datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f").rstrip("0").rstrip(".")
    )
    return text + "Z"


def format_number(value: float) -> str:
    """A float as Go's ``%v`` prints it (``55``, ``52.5``)."""
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def fingerprint(labels: Mapping[str, str]) -> str:
    """Prometheus' label-set fingerprint (FNV-1a 64 over sorted name/value pairs), in hex."""
    digest = _FNV_OFFSET
    for name in sorted(labels):
        for chunk in (name.encode(), b"\xff", labels[name].encode(), b"\xff"):
            for byte in chunk:
                digest = ((digest ^ byte) * _FNV_PRIME) & 0xFFFFFFFFFFFFFFFF
    return f"{digest:016x}"


def label_string(labels: Mapping[str, str]) -> str:
    """``{a="1", b="2"}`` as Alertmanager prints a label set."""
    return "{" + ", ".join(f'{k}="{labels[k]}"' for k in sorted(labels)) + "}"


def render(template: str, values: Mapping[str, float], labels: Mapping[str, str]) -> str:
    """Expand ``{{ $values.B.Value }}``, ``{{ $values.B }}``, ``{{ $value }}`` and ``{{ $labels.x }}``."""

    def replace(match: re.Match[str]) -> str:
        expr = match.group(1)
        parts = expr.split(".")
        if parts[0] == "$values" and len(parts) >= 2 and parts[1] in values:
            return format_number(values[parts[1]])
        if expr == "$value":
            return ", ".join(f"[ var='{k}' value={format_number(v)} ]" for k, v in values.items())
        if parts[0] == "$labels" and len(parts) == 2:
            return labels.get(parts[1], "")
        return match.group(0)

    return _TEMPLATE.sub(replace, template)


@dataclass(frozen=True)
class AlertInstance:
    """One alert as the notifier sends it: firing (``ends_at`` None) or resolved."""

    name: str
    labels: dict[str, str]
    annotations: dict[str, str]
    starts_at: float
    ends_at: float | None = None
    values: dict[str, float] = field(default_factory=dict)

    @property
    def status(self) -> str:
        return "firing" if self.ends_at is None else "resolved"


def make_instance(
    rule: AlertRule,
    values: Mapping[str, float],
    starts_at: float,
    ends_at: float | None = None,
    name: str | None = None,
) -> AlertInstance:
    """The alert for ``rule`` (or its DatasourceNoData/DatasourceError alert when ``name`` says so)."""
    labels = {"alertname": name or rule.title, "grafana_folder": rule.folder, **rule.labels}
    if name in (NO_DATA_ALERT, ERROR_ALERT):
        labels.update(
            {
                "rulename": rule.title,
                "datasource_uid": rule.query.datasource_uid,
                "ref_id": rule.query.ref_id,
            }
        )
    annotations = {k: render(v, values, labels) for k, v in rule.annotations.items()}
    return AlertInstance(labels["alertname"], labels, annotations, starts_at, ends_at, dict(values))


def _alert_json(alert: AlertInstance, rule: AlertRule, external: str) -> dict[str, Any]:
    matchers = "&".join(f"matcher={quote(f'{k}={v}')}" for k, v in sorted(alert.labels.items()))
    dashboard = (
        f"{external}d/{rule.dashboard_uid}?orgId={rule.org_id}" if rule.dashboard_uid else ""
    )
    panel = (
        f"{dashboard}&viewPanel={rule.panel_id}" if dashboard and rule.panel_id is not None else ""
    )
    return {
        "status": alert.status,
        "labels": dict(alert.labels),
        "annotations": dict(alert.annotations),
        "startsAt": format_time(alert.starts_at),
        "endsAt": ZERO_TIME if alert.ends_at is None else format_time(alert.ends_at),
        "generatorURL": f"{external}alerting/grafana/{rule.uid}/view?orgId={rule.org_id}",
        "fingerprint": fingerprint(alert.labels),
        "silenceURL": f"{external}alerting/silence/new?alertmanager=grafana&{matchers}",
        "dashboardURL": dashboard,
        "panelURL": panel,
        "values": dict(alert.values),
        "valueString": ", ".join(
            f"[ var='{k}' labels={{}} value={format_number(v)} ]" for k, v in alert.values.items()
        ),
    }


def _message(alerts: Sequence[dict[str, Any]]) -> str:
    blocks = []
    for status in ("firing", "resolved"):
        chosen = [a for a in alerts if a["status"] == status]
        if not chosen:
            continue
        lines = [f"**{status.capitalize()}**", ""]
        for alert in chosen:
            lines.append(
                "Value: " + ", ".join(f"{k}={format_number(v)}" for k, v in alert["values"].items())
            )
            lines.append("Labels:")
            lines += [f" - {k} = {v}" for k, v in sorted(alert["labels"].items())]
            lines.append("Annotations:")
            lines += [f" - {k} = {v}" for k, v in sorted(alert["annotations"].items())]
            lines.append(f"Source: {alert['generatorURL']}")
            lines.append(f"Silence: {alert['silenceURL']}")
            if alert["dashboardURL"]:
                lines.append(f"Dashboard: {alert['dashboardURL']}")
            lines.append("")
        blocks.append("\n".join(lines))
    return "\n".join(blocks)


def _common(dicts: Sequence[Mapping[str, str]]) -> dict[str, str]:
    if not dicts:
        return {}
    first = dicts[0]
    return {k: v for k, v in first.items() if all(d.get(k) == v for d in dicts[1:])}


def unified_payload(
    alerts: Sequence[AlertInstance],
    rule: AlertRule,
    contact: ContactPoint,
    policy: NotificationPolicy,
    external_url: str = DEFAULT_EXTERNAL_URL,
) -> dict[str, Any]:
    """The body Grafana's webhook contact point POSTs for one alert group."""
    external = external_url if external_url.endswith("/") else external_url + "/"
    body_alerts = [_alert_json(a, rule, external) for a in alerts]
    common_labels = _common([a.labels for a in alerts])
    group_labels = {k: common_labels[k] for k in sorted(policy.group_by) if k in common_labels}
    firing = sum(1 for a in alerts if a.status == "firing")
    resolved = len(alerts) - firing
    status = "firing" if firing else "resolved"
    head = (
        f"FIRING:{firing}" + (f", RESOLVED:{resolved}" if resolved else "")
        if firing
        else "RESOLVED"
    )
    rest = {k: v for k, v in common_labels.items() if k not in group_labels}
    title = f"[{head}] " + " ".join(group_labels[k] for k in sorted(group_labels))
    if rest:
        title += " (" + " ".join(rest[k] for k in sorted(rest)) + ")"
    return {
        "receiver": contact.name,
        "status": status,
        "orgId": rule.org_id,
        "alerts": body_alerts,
        "groupLabels": group_labels,
        "commonLabels": common_labels,
        "commonAnnotations": _common([a.annotations for a in alerts]),
        "externalURL": external,
        "version": "1",
        "groupKey": "{}:" + label_string(group_labels),
        "truncatedAlerts": 0,
        "title": title,
        "state": "alerting" if firing else "ok",
        "message": _message(body_alerts),
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
