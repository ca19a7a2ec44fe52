"""The alerts a rule's state sends to the notifier, built as Grafana's ``StateToPostableAlert``.

Labels: the rule's own, then Grafana's ``alertname`` (the title), ``grafana_folder`` and the
private ``__alert_rule_uid__`` (the fingerprints of captured Grafana 9 and 11 notifications are
those of exactly this label set). An instance in NoData or
Error goes out as a separate alert: ``alertname`` becomes ``DatasourceNoData`` or
``DatasourceError`` and ``rulename`` keeps the title (an Error adds ``ref_id`` and
``datasource_uid``). A resolved instance is sent with the labels of the state it left.
Private annotations (``__values__``, ``__value_string__``, ``__orgId__``, ``__dashboardUid__``,
``__panelId__``) carry what the notification templates need; the notifier strips every
``__x__`` label and annotation from the body but computes the fingerprint over all labels.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

from alertloop.sim.alerting.model import AlertRule
from alertloop.sim.alerting.state import AlertState, Transition

NO_DATA_ALERT = "DatasourceNoData"
ERROR_ALERT = "DatasourceError"
RULE_UID_LABEL = "__alert_rule_uid__"
FOLDER_LABEL = "grafana_folder"
STATE_REASON = "grafana_state_reason"

_FNV_OFFSET = 14695981039346656037
_FNV_PRIME = 1099511628211
_TEMPLATE = re.compile(r"\{\{\s*(.*?)\s*\}\}")


def fingerprint(labels: Mapping[str, str]) -> str:
    """Alertmanager's fingerprint of a label set (Prometheus ``LabelSet.Fingerprint``:
    FNV-1a 64 over the sorted names and values, each followed by 0xff), as 16 hex digits."""
    digest = _FNV_OFFSET
    for name in sorted(labels):
        for chunk in (name.encode(), b"\xff", labels[name].encode(), b"\xff"):
            for byte in chunk:
                digest = ((digest ^ byte) * _FNV_PRIME) & 0xFFFFFFFFFFFFFFFF
    return f"{digest:016x}"


def is_private(name: str) -> bool:
    """Grafana's private labels and annotations: ``__name__``-shaped."""
    return name.startswith("__") and name.endswith("__")


def format_number(value: float) -> str:
    """A float as Go's ``%v`` prints it in a template: the shortest digits, in exponent form
    when the exponent is below -4 or at least 6 (``55``, ``52.5``, ``2.473545728e+09``)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "0"
    digits, exponent = _shortest(value)
    sign = "-" if value < 0 else ""
    if exponent < -4 or exponent >= 6:
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{sign}{mantissa}e{'-' if exponent < 0 else '+'}{abs(exponent):02d}"
    if exponent < 0:
        return f"{sign}0.{'0' * (-exponent - 1)}{digits}"
    whole = digits[: exponent + 1].ljust(exponent + 1, "0")
    rest = digits[exponent + 1 :]
    return sign + whole + ("." + rest if rest else "")


def _shortest(value: float) -> tuple[str, int]:
    """The shortest round-trip decimal digits of ``|value|`` and its decimal exponent."""
    mantissa, _, exp = f"{abs(value):.17e}".partition("e")
    for precision in range(1, 18):
        text = f"{abs(value):.{precision - 1}e}"
        if float(text) == abs(value):
            mantissa, _, exp = text.partition("e")
            break
    return mantissa.replace(".", "").rstrip("0") or "0", int(exp)


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


def rule_labels(rule: AlertRule) -> dict[str, str]:
    """The labels of the rule's one instance: its own, with Grafana's taking precedence."""
    return {
        **rule.labels,
        "alertname": rule.title,
        FOLDER_LABEL: rule.folder,
        RULE_UID_LABEL: rule.uid,
    }


@dataclass(frozen=True)
class PostableAlert:
    """One alert as Grafana hands it to its Alertmanager."""

    labels: dict[str, str]
    annotations: dict[str, str]
    starts_at: float
    ends_at: float
    generator_url: str

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.labels)

    @property
    def name(self) -> str:
        return self.labels.get("alertname", "")

    def resolved_at(self, now: float) -> bool:
        """Resolved once ``ends_at`` has passed (Alertmanager's ``Alert.ResolvedAt``)."""
        return self.ends_at <= now


def postable_alert(transition: Transition, rule: AlertRule, external_url: str) -> PostableAlert:
    """The alert for ``transition`` (Grafana's ``StateToPostableAlert``)."""
    inst = transition.instance
    labels = {**rule_labels(rule), **inst.error_labels}
    template_labels = {k: v for k, v in labels.items() if not is_private(k)}
    annotations = {k: render(v, inst.values, template_labels) for k, v in rule.annotations.items()}
    if rule.dashboard_uid:
        annotations["__dashboardUid__"] = rule.dashboard_uid
        if rule.panel_id is not None:
            annotations["__panelId__"] = str(rule.panel_id)
    annotations.update(inst.error_annotations)
    finite = {k: v for k, v in inst.values.items() if math.isfinite(v)}
    if finite and len(finite) == len(inst.values):  # Go cannot encode NaN: no annotation
        annotations["__values__"] = json.dumps(finite, separators=(",", ":"), sort_keys=True)
    if inst.value_string:
        annotations["__value_string__"] = inst.value_string
    if inst.reason:
        annotations[STATE_REASON] = inst.reason
    annotations["__orgId__"] = str(rule.org_id)
    base = external_url if external_url.endswith("/") else external_url + "/"
    generator = f"{base}alerting/grafana/{rule.uid}/view"
    state = transition.previous if inst.resolved_at is not None else inst.state
    if state in (AlertState.NO_DATA, AlertState.ERROR):
        labels["rulename"] = labels["alertname"]
        labels["alertname"] = NO_DATA_ALERT if state is AlertState.NO_DATA else ERROR_ALERT
    return PostableAlert(labels, annotations, inst.starts_at, inst.ends_at, generator)
