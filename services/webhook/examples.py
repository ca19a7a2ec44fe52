"""Grafana notification bodies: the documented examples and builders for variations of them.

Used by the tests, the benchmark and the docs. Sources: Grafana's webhook notifier docs
(unified, ``alerting/configure-notifications/.../webhook-notifier.md``) and the legacy
notifier docs (``alerting/old-alerting/notifications.md``).
"""

from __future__ import annotations

import copy
import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

ZERO_TIME = "0001-01-01T00:00:00Z"

UNIFIED_DOC_EXAMPLE: dict[str, Any] = {
    "receiver": "My Super Webhook",
    "status": "firing",
    "orgId": 1,
    "alerts": [
        {
            "status": "firing",
            "labels": {"alertname": "High memory usage", "team": "blue", "zone": "us-1"},
            "annotations": {
                "description": "The system has high memory usage",
                "runbook_url": "https://myrunbook.com/runbook/1234",
                "summary": "This alert was triggered for zone us-1",
            },
            "startsAt": "2021-10-12T09:51:03.157076+02:00",
            "endsAt": ZERO_TIME,
            "generatorURL": "https://play.grafana.org/alerting/1afz29v7z/edit",
            "fingerprint": "c6eadffa33fcdf37",
            "silenceURL": "https://play.grafana.org/alerting/silence/new?alertmanager=grafana&matchers=alertname%3DT2%2Cteam%3Dblue%2Czone%3Dus-1",
            "dashboardURL": "",
            "panelURL": "",
            "values": {"B": 44.23943737541908, "C": 1},
        }
    ],
    "groupLabels": {},
    "commonLabels": {"team": "blue"},
    "commonAnnotations": {},
    "externalURL": "https://play.grafana.org/",
    "version": "1",
    "groupKey": "{}:{}",
    "truncatedAlerts": 0,
    "title": "[FIRING:1]  (blue)",
    "state": "alerting",
    "message": "**Firing**\n\nLabels:\n - alertname = T2\n - team = blue\n - zone = us-1\n",
}

LEGACY_DOC_EXAMPLE: dict[str, Any] = {
    "dashboardId": 1,
    "evalMatches": [{"value": 1, "metric": "Count", "tags": {}}],
    "imageUrl": "https://grafana.com/assets/img/blog/mixed_styles.png",
    "message": "Notification Message",
    "orgId": 1,
    "panelId": 2,
    "ruleId": 1,
    "ruleName": "Panel Title alert",
    "ruleUrl": "http://localhost:3000/d/hZ7BuVbWz/test-dashboard?fullscreen&edit&tab=alert&panelId=2&orgId=1",
    "state": "alerting",
    "tags": {"tag name": "tag value"},
    "title": "[Alerting] Panel Title alert",
}

# The Grafana 4.0 notifier: snake_case URLs, no org/dashboard/panel/tags/message.
LEGACY_V4_EXAMPLE: dict[str, Any] = {
    "title": "[Alerting] pot mean",
    "ruleId": 1,
    "ruleName": "pot mean",
    "state": "alerting",
    "evalMatches": [{"value": 63.5, "metric": "pot.mean", "tags": None}],
    "rule_url": "http://localhost:3000/dashboard/db/pot?fullscreen&edit&tab=alert&panelId=1",
    "image_url": "",
}


def iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


def unified_alert(
    status: str,
    *,
    name: str = "PotMeanHigh",
    starts: datetime | None = None,
    ends: datetime | None = None,
    **labels: str,
) -> dict[str, Any]:
    """One ``alerts[]`` item shaped like Grafana's; ``ends`` defaults to Go's zero time."""
    starts = starts or datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    alert = copy.deepcopy(UNIFIED_DOC_EXAMPLE["alerts"][0])
    alert.update(
        status=status,
        labels={"alertname": name, "grafana_folder": "alertloop", "loop": "alertloop", **labels},
        startsAt=iso(starts),
        endsAt=iso(ends) if ends else ZERO_TIME,
        fingerprint=hashlib.sha1(repr((name, sorted(labels.items()))).encode()).hexdigest()[:16],
    )
    if name in ("DatasourceNoData", "DatasourceError"):
        alert["labels"]["rulename"] = "PotMeanHigh"
    return alert


def unified(*alerts: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """A unified body around ``alerts`` with the group status and state Grafana would send."""
    body = copy.deepcopy(UNIFIED_DOC_EXAMPLE)
    firing = any(a.get("status") == "firing" for a in alerts)
    body.update(
        alerts=list(alerts),
        status="firing" if firing else "resolved",
        state="alerting" if firing else "ok",
        title=f"[{'FIRING' if firing else 'RESOLVED'}:{len(alerts)}] PotMeanHigh",
    )
    body.update(extra)
    return body


def legacy(state: str, *, snake_case: bool = False, **extra: Any) -> dict[str, Any]:
    """A legacy body with ``state`` (the 4.0 shape when ``snake_case``)."""
    body = copy.deepcopy(LEGACY_V4_EXAMPLE if snake_case else LEGACY_DOC_EXAMPLE)
    body["state"] = state
    body.update(extra)
    return body


def at(seconds: float) -> datetime:
    """A fixed base time plus ``seconds``, for ordering tests."""
    return datetime(2024, 5, 1, 12, 0, tzinfo=UTC) + timedelta(seconds=seconds)
