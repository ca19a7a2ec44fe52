"""Read the alert rule, contact point and notification policy from Grafana's provisioning files.

The same files that Grafana loads (``services/grafana/provisioning/alerting/``) are the one
source of truth; this module turns them into validated, frozen data for the evaluator.
Environment variables are interpolated the way Grafana does it (``$VAR`` and ``${VAR}``,
``$$`` for a literal ``$``) in contact points, policies and rule labels, never in rule models
or annotations, so ``$timeFilter`` stays as written.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from alertloop.sim.alerting.errors import ProvisioningError
from alertloop.sim.alerting.files import (
    BASE_INTERVAL,
    alerting_dir,
    default_provisioning_dir,
    interpolate_env,
    load_docs,
    need,
    parse_duration,
)
from alertloop.sim.alerting.model import (
    AlertRule,
    ContactPoint,
    DataQuery,
    Matcher,
    NotificationPolicy,
    ReduceExpression,
    ThresholdExpression,
)
from alertloop.sim.alerting.policies import load_policy

__all__ = [
    "BASE_INTERVAL",
    "EXPR_UIDS",
    "LOOP_RULE_UID",
    "AlertRule",
    "ContactPoint",
    "DataQuery",
    "Matcher",
    "NotificationPolicy",
    "ReduceExpression",
    "ThresholdExpression",
    "alerting_dir",
    "default_provisioning_dir",
    "interpolate_env",
    "load_contact_point",
    "load_policy",
    "load_rule",
    "load_rules",
    "loop_rule",
    "parse_duration",
]

EXPR_UIDS = ("__expr__", "-100")
NO_DATA_STATES = ("NoData", "Alerting", "OK", "KeepLast")
EXEC_ERR_STATES = ("Error", "Alerting", "OK", "KeepLast")
REDUCERS = ("sum", "mean", "min", "max", "count", "last", "median")
REDUCE_MODES = ("", "strict", "dropNN", "replaceNN")
THRESHOLD_TYPES = (
    "gt", "lt", "eq", "ne", "gte", "lte",
    "within_range", "outside_range", "within_range_included", "outside_range_included",
)  # fmt: skip


def _parse_rule(raw: Mapping[str, Any], group: Mapping[str, Any], where: str) -> AlertRule:
    where = f"{where} rule {raw.get('uid') or raw.get('title') or '?'}"
    uid, title, condition = (need(raw, k, where) for k in ("uid", "title", "condition"))
    by_ref: dict[str, Mapping[str, Any]] = {}
    for item in raw.get("data") or []:
        by_ref[need(item, "refId", where)] = item
    if condition not in by_ref:
        raise ProvisioningError(f"{where}: condition {condition!r} names no refId in data")
    threshold = _parse_threshold(by_ref[condition], where)
    reduce = _parse_reduce(by_ref.get(threshold.expression), threshold.expression, where)
    query = _parse_query(by_ref.get(reduce.expression), reduce.expression, where)
    no_data = raw.get("noDataState") or "NoData"
    exec_err = raw.get("execErrState") or "Alerting"
    if no_data not in NO_DATA_STATES:
        raise ProvisioningError(f"{where}: noDataState {no_data!r} is not one of {NO_DATA_STATES}")
    if exec_err not in EXEC_ERR_STATES:
        raise ProvisioningError(
            f"{where}: execErrState {exec_err!r} is not one of {EXEC_ERR_STATES}"
        )
    interval = parse_duration(need(group, "interval", where), f"{where}: interval")
    if interval <= 0:
        raise ProvisioningError(f"{where}: the group interval must be positive")
    labels = {
        str(k): interpolate_env(str(v), os.environ) for k, v in (raw.get("labels") or {}).items()
    }
    return AlertRule(
        uid=str(uid),
        title=str(title),
        folder=str(need(group, "folder", where)),
        group=str(need(group, "name", where)),
        interval=interval,
        condition=str(condition),
        query=query,
        reduce=reduce,
        threshold=threshold,
        no_data_state=no_data,
        exec_err_state=exec_err,
        for_seconds=parse_duration(raw.get("for", 0), f"{where}: for"),
        org_id=int(group.get("orgId", 1)),
        labels=labels,
        annotations={str(k): str(v) for k, v in (raw.get("annotations") or {}).items()},
        dashboard_uid=raw.get("dashboardUid"),
        panel_id=raw.get("panelId"),
    )


def _model(item: Mapping[str, Any] | None, ref: str, where: str) -> Mapping[str, Any]:
    if item is None:
        raise ProvisioningError(
            f"{where}: expression refers to refId {ref!r}, which is not in data"
        )
    model = item.get("model")
    if not isinstance(model, dict):
        raise ProvisioningError(f"{where}: refId {ref}: 'model' is required")
    return model


def _parse_threshold(item: Mapping[str, Any], where: str) -> ThresholdExpression:
    ref = item["refId"]
    model = _model(item, ref, where)
    if item.get("datasourceUid") not in EXPR_UIDS or model.get("type") != "threshold":
        raise ProvisioningError(
            f"{where}: the condition {ref} must be a threshold expression (datasourceUid __expr__); "
            "the simulated evaluator supports query -> reduce -> threshold"
        )
    conditions = model.get("conditions") or []
    if len(conditions) != 1:
        raise ProvisioningError(
            f"{where}: threshold {ref} needs exactly one condition, has {len(conditions)}"
        )
    evaluator = conditions[0].get("evaluator") or {}
    kind = evaluator.get("type")
    if kind not in THRESHOLD_TYPES:
        raise ProvisioningError(
            f"{where}: threshold {ref}: type {kind!r} is not one of {THRESHOLD_TYPES}"
        )
    try:
        params = tuple(float(p) for p in evaluator.get("params") or [])
    except (TypeError, ValueError) as exc:
        raise ProvisioningError(f"{where}: threshold {ref}: params must be numbers") from exc
    needed = 2 if "range" in kind else 1
    if len(params) < needed:
        raise ProvisioningError(f"{where}: threshold {ref}: {kind} needs {needed} params")
    return ThresholdExpression(ref, str(need(model, "expression", where)), kind, params[:needed])


def _parse_reduce(item: Mapping[str, Any] | None, ref: str, where: str) -> ReduceExpression:
    model = _model(item, ref, where)
    if model.get("type") != "reduce":
        raise ProvisioningError(
            f"{where}: {ref} must be a reduce expression, is {model.get('type')!r}"
        )
    reducer = model.get("reducer")
    if reducer not in REDUCERS:
        raise ProvisioningError(
            f"{where}: reduce {ref}: reducer {reducer!r} is not one of {REDUCERS}"
        )
    settings = model.get("settings") or {}
    mode = settings.get("mode") or ""
    if mode not in REDUCE_MODES:
        raise ProvisioningError(
            f"{where}: reduce {ref}: mode {mode!r} is not one of {REDUCE_MODES}"
        )
    replace = settings.get("replaceWithValue")
    if mode == "replaceNN" and replace is None:
        raise ProvisioningError(f"{where}: reduce {ref}: replaceNN needs replaceWithValue")
    return ReduceExpression(
        ref, str(need(model, "expression", where)), reducer, mode,
        float(replace) if replace is not None else None,
    )  # fmt: skip


def _parse_query(item: Mapping[str, Any] | None, ref: str, where: str) -> DataQuery:
    model = _model(item, ref, where)
    assert item is not None
    uid = str(need(item, "datasourceUid", where))
    if uid in EXPR_UIDS:
        raise ProvisioningError(f"{where}: {ref} must be a datasource query, not an expression")
    span = item.get("relativeTimeRange") or {}
    start, end = span.get("from"), span.get("to", 0)
    if not isinstance(start, int) or not isinstance(end, int) or isinstance(start, bool):
        raise ProvisioningError(
            f"{where}: {ref}: relativeTimeRange from/to must be integer seconds, got {span!r}"
        )
    if start <= end:
        raise ProvisioningError(f"{where}: {ref}: relativeTimeRange needs from > to, got {span!r}")
    query = str(need(model, "query", where))
    if "$__timeFilter" in query:
        raise ProvisioningError(f"{where}: {ref}: InfluxQL uses $timeFilter, not $__timeFilter")
    return DataQuery(ref, uid, query, start, end, int(model.get("intervalMs", 1000)))


def load_rules(directory: str | Path | None = None) -> list[AlertRule]:
    """Every alert rule in the provisioning files. Raises ProvisioningError on a bad file."""
    rules = []
    for path, doc in load_docs(alerting_dir(directory)):
        for group in doc.get("groups") or []:
            for raw in group.get("rules") or []:
                rules.append(_parse_rule(raw, group, str(path)))
    return rules


LOOP_RULE_UID = "alertloop-pot-mean-high"


def loop_rule(rules: list[AlertRule]) -> AlertRule:
    """The loop's rule among ``rules``: the only one, else the one with uid
    ``alertloop-pot-mean-high``, else the first. Raises ProvisioningError for none."""
    if not rules:
        raise ProvisioningError("no alert rule")
    return next((r for r in rules if r.uid == LOOP_RULE_UID), rules[0])


def load_rule(directory: str | Path | None = None, uid: str | None = None) -> AlertRule:
    """The rule with ``uid``; without one, the loop's rule (the only rule, or the one with
    uid ``alertloop-pot-mean-high``). Raises ProvisioningError if there is none."""
    rules = load_rules(directory)
    if uid is not None:
        found = [r for r in rules if r.uid == uid]
    elif len(rules) > 1:
        found = [r for r in rules if r.uid == LOOP_RULE_UID]
    else:
        found = rules
    if len(found) != 1:
        names = ", ".join(r.uid for r in rules) or "none"
        wanted = f"rule {uid!r}" if uid else f"exactly one rule, or one with uid {LOOP_RULE_UID}"
        raise ProvisioningError(f"{alerting_dir(directory)}: expected {wanted}; found: {names}")
    return found[0]


def load_contact_point(
    directory: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    name: str | None = None,
) -> ContactPoint:
    """The webhook contact point ``name`` (or the first one), env-interpolated from ``env``.

    Raises ProvisioningError if there is none, or its URL is empty after interpolation.
    """
    env = os.environ if env is None else env
    for path, doc in load_docs(alerting_dir(directory)):
        for point in doc.get("contactPoints") or []:
            if name is not None and point.get("name") != name:
                continue
            for receiver in point.get("receivers") or []:
                if receiver.get("type") != "webhook":
                    continue
                settings = {
                    k: interpolate_env(str(v), env)
                    for k, v in (receiver.get("settings") or {}).items()
                }
                url = settings.get("url", "")
                if not url:
                    raise ProvisioningError(
                        f"{path}: contact point {point.get('name')!r} has an empty url; "
                        "set ALERTLOOP_WEBHOOK_URL (for example http://127.0.0.1:5000/alert)"
                    )
                return ContactPoint(
                    name=str(point.get("name")),
                    uid=str(receiver.get("uid", "")),
                    url=url,
                    http_method=settings.get("httpMethod", "POST").upper() or "POST",
                    username=settings.get("username", ""),
                    password=settings.get("password", ""),
                    disable_resolve_message=bool(receiver.get("disableResolveMessage", False)),
                    max_alerts=int(settings.get("maxAlerts") or 0),
                )
    raise ProvisioningError(
        f"{alerting_dir(directory)}: no webhook contact point {name or ''}".strip()
    )
