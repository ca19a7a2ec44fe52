"""Read the alert rule, contact point and notification policy from Grafana's provisioning files.

The same files that Grafana loads (``services/grafana/provisioning/alerting/``) are the one
source of truth; this module turns them into validated, frozen data for the evaluator.
Environment variables are interpolated the way Grafana does it (``$VAR`` and ``${VAR}``,
``$$`` for a literal ``$``) in contact points, policies and rule labels, never in rule models
or annotations, so ``$timeFilter`` stays as written.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from sim.alerting.errors import ProvisioningError
from sim.alerting.model import (
    MATCH_OPS,
    AlertRule,
    ContactPoint,
    DataQuery,
    Matcher,
    NotificationPolicy,
    ReduceExpression,
    ThresholdExpression,
)

__all__ = [
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
BASE_INTERVAL = 10.0

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
_ENV = re.compile(r"\$(?:\$|\{(\w+)\}|(\w+))")


def default_provisioning_dir() -> Path:
    """``services/grafana/provisioning`` inside the installed package."""
    import services

    return Path(services.__file__).resolve().parent / "grafana" / "provisioning"


def parse_duration(value: object, what: str = "duration") -> float:
    """Seconds in a Prometheus-style duration (``10s``, ``1m30s``, ``500ms``, ``0s``) or a number.

    Raises ProvisioningError for anything else.
    """
    if isinstance(value, bool):
        raise ProvisioningError(f"{what}: {value!r} is not a duration")
    if isinstance(value, int | float):
        return float(value)
    text = str(value).strip()
    if text in ("0", ""):
        return 0.0
    pos, total = 0, 0.0
    for match in _DURATION.finditer(text):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if pos != len(text) or pos == 0:
        raise ProvisioningError(f"{what}: {value!r} is not a duration such as 10s, 1m or 500ms")
    return total


def interpolate_env(text: str, env: Mapping[str, str]) -> str:
    """Replace ``$VAR`` / ``${VAR}`` with ``env`` values (missing ones become empty); ``$$`` is ``$``."""

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        return env.get(match.group(1) or match.group(2), "")

    return _ENV.sub(replace, text)


def _load_docs(directory: Path) -> list[tuple[Path, dict[str, Any]]]:
    if not directory.is_dir():
        raise ProvisioningError(f"provisioning directory {directory} does not exist")
    docs = []
    for path in sorted(directory.iterdir()):
        if path.suffix not in (".yaml", ".yml", ".json"):
            continue
        try:
            doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise ProvisioningError(f"{path}: cannot read: {exc}") from exc
        if not isinstance(doc, dict):
            raise ProvisioningError(
                f"{path}: expected a mapping at the top, got {type(doc).__name__}"
            )
        docs.append((path, doc))
    return docs


def alerting_dir(directory: str | Path | None) -> Path:
    """The ``alerting`` directory under a provisioning directory (or the directory itself)."""
    base = Path(directory) if directory is not None else default_provisioning_dir()
    return base / "alerting" if (base / "alerting").is_dir() else base


def _need(mapping: Mapping[str, Any], key: str, where: str) -> Any:
    value = mapping.get(key)
    if value is None or value == "":
        raise ProvisioningError(f"{where}: '{key}' is required")
    return value


def _parse_rule(raw: Mapping[str, Any], group: Mapping[str, Any], where: str) -> AlertRule:
    where = f"{where} rule {raw.get('uid') or raw.get('title') or '?'}"
    uid, title, condition = (_need(raw, k, where) for k in ("uid", "title", "condition"))
    by_ref: dict[str, Mapping[str, Any]] = {}
    for item in raw.get("data") or []:
        by_ref[_need(item, "refId", where)] = item
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
    interval = parse_duration(_need(group, "interval", where), f"{where}: interval")
    if interval <= 0:
        raise ProvisioningError(f"{where}: the group interval must be positive")
    labels = {
        str(k): interpolate_env(str(v), os.environ) for k, v in (raw.get("labels") or {}).items()
    }
    return AlertRule(
        uid=str(uid),
        title=str(title),
        folder=str(_need(group, "folder", where)),
        group=str(_need(group, "name", where)),
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
    return ThresholdExpression(ref, str(_need(model, "expression", where)), kind, params[:needed])


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
        ref, str(_need(model, "expression", where)), reducer, mode,
        float(replace) if replace is not None else None,
    )  # fmt: skip


def _parse_query(item: Mapping[str, Any] | None, ref: str, where: str) -> DataQuery:
    model = _model(item, ref, where)
    assert item is not None
    uid = str(_need(item, "datasourceUid", where))
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
    query = str(_need(model, "query", where))
    if "$__timeFilter" in query:
        raise ProvisioningError(f"{where}: {ref}: InfluxQL uses $timeFilter, not $__timeFilter")
    return DataQuery(ref, uid, query, start, end, int(model.get("intervalMs", 1000)))


def load_rules(directory: str | Path | None = None) -> list[AlertRule]:
    """Every alert rule in the provisioning files. Raises ProvisioningError on a bad file."""
    rules = []
    for path, doc in _load_docs(alerting_dir(directory)):
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
    for path, doc in _load_docs(alerting_dir(directory)):
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


_MATCHER_TEXT = re.compile(r'^\s*"?([^"=!~\s]+)"?\s*(=~|!~|!=|=)\s*"?(.*?)"?\s*$')


def _parse_matchers(raw: Mapping[str, Any], where: str) -> tuple[Matcher, ...]:
    """``object_matchers`` ([name, op, value]), ``matchers`` ("name=value") and the older
    ``match``/``match_re`` maps, as Grafana's policy provisioning accepts them."""
    found: list[Matcher] = []
    for item in raw.get("object_matchers") or []:
        if not isinstance(item, list | tuple) or len(item) != 3:
            raise ProvisioningError(
                f"{where}: object_matchers items are [name, op, value]: {item!r}"
            )
        found.append(Matcher(str(item[0]), str(item[1]), str(item[2])))
    for text in raw.get("matchers") or []:
        match = _MATCHER_TEXT.match(str(text))
        if match is None:
            raise ProvisioningError(f"{where}: matcher {text!r} is not name=value, !=, =~ or !~")
        found.append(Matcher(*match.groups()))
    found += [Matcher(str(k), "=", str(v)) for k, v in (raw.get("match") or {}).items()]
    found += [Matcher(str(k), "=~", str(v)) for k, v in (raw.get("match_re") or {}).items()]
    for matcher in found:
        if matcher.op not in MATCH_OPS:
            raise ProvisioningError(
                f"{where}: matcher operator {matcher.op!r} is not one of {MATCH_OPS}"
            )
        if matcher.op in ("=~", "!~"):
            try:
                re.compile(matcher.value)
            except re.error as exc:
                raise ProvisioningError(
                    f"{where}: bad regular expression {matcher.value!r}: {exc}"
                ) from exc
    return tuple(found)


def _parse_route(
    raw: Mapping[str, Any], parent: NotificationPolicy | None, where: str
) -> NotificationPolicy:
    """One policy node, with what it leaves out inherited from ``parent`` (Grafana's defaults
    at the root: group_wait 30s, group_interval 5m, repeat_interval 4h)."""

    def duration(key: str, inherited: float) -> float:
        return parse_duration(raw[key], f"{where} {key}") if raw.get(key) is not None else inherited

    base = parent or NotificationPolicy(receiver="")
    group_interval = duration("group_interval", base.group_interval)
    repeat = duration("repeat_interval", base.repeat_interval)
    if group_interval <= 0 or repeat <= 0:
        raise ProvisioningError(f"{where}: group_interval and repeat_interval cannot be zero")
    receiver = raw.get("receiver") or base.receiver
    if not receiver:
        raise ProvisioningError(f"{where}: 'receiver' is required")
    group_by = raw.get("group_by")
    node = NotificationPolicy(
        receiver=str(receiver),
        group_by=tuple(str(g) for g in group_by) if group_by else base.group_by,
        group_wait=duration("group_wait", base.group_wait),
        group_interval=group_interval,
        repeat_interval=repeat,
        matchers=_parse_matchers(raw, where) if parent is not None else (),
        continue_matching=bool(raw.get("continue", False)),
    )
    children = tuple(
        _parse_route(child, node, f"{where}.routes[{i}]")
        for i, child in enumerate(raw.get("routes") or [])
    )
    return dataclasses.replace(node, routes=children)


def load_policy(directory: str | Path | None = None) -> NotificationPolicy:
    """The notification policy tree; Grafana's defaults (everything to no receiver) when no
    file defines one. Raises ProvisioningError for a zero group or repeat interval, a missing
    receiver or a bad matcher.
    """
    for path, doc in _load_docs(alerting_dir(directory)):
        for policy in doc.get("policies") or []:
            return _parse_route(policy, None, f"{path}: policy")
    return NotificationPolicy(receiver="")
