"""Which alerts count: the webhook acts on the loop's alerts only.

An alert of a unified notification counts when its labels match one of the selector's label
sets (every pair equal). By default the label sets come from the provisioning files: each
provisioned rule that the provisioned notification policy routes to the webhook contact point
gives ``{"alertname": <its title>, **<its labels>}``, so renaming the rule or changing its
labels in ``services/grafana/provisioning/alerting/`` keeps Grafana and the webhook in step.
``--match label=value`` (repeatable) replaces them with one label set.

``DatasourceNoData`` and ``DatasourceError`` alerts name their rule in the ``rulename`` label
(their ``alertname`` is the stand-in's): for them the selector's ``alertname`` is compared
with ``rulename``.

Legacy notifications carry no labels: every legacy rule counts unless ``legacy_rules`` names
the ones that do (by rule name or id). Test notifications never count unless ``accept_test``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from alertloop.services.webhook.errors import WebhookConfigError

NODATA_ALERT = "DatasourceNoData"
ERROR_ALERT = "DatasourceError"
STAND_INS = (NODATA_ALERT, ERROR_ALERT)
_ENV = re.compile(r"\$(?:\$|\{(\w+)\}|(\w+))")


def default_provisioning_dir() -> Path:
    """``services/grafana/provisioning`` of the installed package."""
    return Path(__file__).resolve().parent.parent / "grafana" / "provisioning"


def is_test_alert(labels: Mapping[str, Any]) -> bool:
    """True for the contact point's Test button alert (``alertname=TestAlert, instance=Grafana``)."""
    return labels.get("alertname") == "TestAlert" and labels.get("instance") == "Grafana"


def is_legacy_test(body: Mapping[str, Any]) -> bool:
    """True for legacy alerting's test notification (rule id 0, title "... Test notification")."""
    title = body.get("title")
    return (body.get("ruleId") == 0 and not isinstance(body.get("ruleId"), bool)) or (
        isinstance(title, str) and title.endswith("] Test notification")
    )


@dataclass(frozen=True)
class Selector:
    """Which alerts the webhook acts on; ``origin`` says where the label sets came from."""

    label_sets: tuple[Mapping[str, str], ...]
    legacy_rules: frozenset[str] = frozenset()
    accept_test: bool = False
    origin: str = "--match"

    def matches(self, labels: Mapping[str, Any]) -> bool:
        """True when ``labels`` (one alert's) match one of the label sets."""
        for wanted in self.label_sets:
            if all(labels.get(k) == v for k, v in wanted.items()):
                return True
        rule = labels.get("rulename")
        if labels.get("alertname") in STAND_INS and isinstance(rule, str):
            return self.matches({**labels, "alertname": rule, "rulename": None})
        return False

    def matches_legacy(self, rule_id: object, rule_name: object) -> bool:
        """True when a legacy rule counts: all do unless ``legacy_rules`` names some."""
        if not self.legacy_rules:
            return True
        names = {str(rule_name)} if isinstance(rule_name, str) else set()
        if isinstance(rule_id, int) and not isinstance(rule_id, bool):
            names.add(str(rule_id))
        return bool(names & self.legacy_rules)

    def describe(self) -> str:
        """The label sets as text, for answers and logs."""
        sets = " or ".join(
            "{" + ", ".join(f"{k}={v}" for k, v in sorted(s.items())) + "}" for s in self.label_sets
        )
        return f"{sets} ({self.origin})"


def parse_matchers(entries: Iterable[str]) -> dict[str, str]:
    """``label=value`` entries as a mapping; raises WebhookConfigError for a bad one."""
    wanted: dict[str, str] = {}
    for entry in entries:
        name, sep, value = entry.strip().partition("=")
        if not sep or not name.strip():
            raise WebhookConfigError(f"match {entry!r}: expected LABEL=VALUE")
        wanted[name.strip()] = value.strip()
    return wanted


def build_selector(
    match: Sequence[str] = (),
    legacy_rules: Iterable[str] = (),
    accept_test: bool = False,
    provisioning_dir: str | Path | None = None,
) -> Selector:
    """``--match`` entries when given, else the provisioned rules. Raises WebhookConfigError."""
    legacy = frozenset(r.strip() for r in legacy_rules if r.strip())
    if match:
        return Selector((parse_matchers(match),), legacy, accept_test, "--match")
    sets, origin = provisioned_label_sets(provisioning_dir)
    return Selector(sets, legacy, accept_test, origin)


def provisioned_label_sets(
    directory: str | Path | None = None,
) -> tuple[tuple[Mapping[str, str], ...], str]:
    """The label sets of the provisioned rules routed to the webhook, and where they were read."""
    base = Path(directory) if directory is not None else default_provisioning_dir()
    alerting = base / "alerting" if (base / "alerting").is_dir() else base
    return _label_sets(str(alerting.resolve())), f"provisioned rules in {alerting}"


@lru_cache(maxsize=8)
def _label_sets(alerting: str) -> tuple[Mapping[str, str], ...]:
    rules, routes = _read(Path(alerting))
    if not rules:
        raise WebhookConfigError(f"{alerting}: no alert rule provisioned; give --match LABEL=VALUE")
    chosen = [labels for labels in rules if any(_route_matches(r, labels) for r in routes)]
    if not chosen:
        raise WebhookConfigError(
            f"{alerting}: the notification policy routes no provisioned rule to a webhook "
            "contact point; give --match LABEL=VALUE"
        )
    # The webhook compares the labels an alert carries: alertname and the rule's own labels.
    return tuple({k: v for k, v in labels.items() if k != "grafana_folder"} for labels in chosen)


def _read(alerting: Path) -> tuple[list[dict[str, str]], list[list[tuple[str, str, str]]]]:
    """Rules as the labels their alerts carry, and the matcher lists of routes to a webhook."""
    if not alerting.is_dir():
        raise WebhookConfigError(f"provisioning directory {alerting} does not exist")
    rules: list[dict[str, str]] = []
    webhooks: set[str] = set()
    policies: list[Mapping[str, Any]] = []
    for path in sorted(alerting.iterdir()):
        if path.suffix not in (".yaml", ".yml"):
            continue
        try:
            doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise WebhookConfigError(f"{path}: cannot read: {exc}") from exc
        if not isinstance(doc, dict):
            raise WebhookConfigError(f"{path}: expected a mapping at the top")
        for group in doc.get("groups") or []:
            for rule in group.get("rules") or []:
                labels = {str(k): _env(str(v)) for k, v in (rule.get("labels") or {}).items()}
                labels["alertname"] = str(rule.get("title", ""))
                labels["grafana_folder"] = str(group.get("folder", ""))
                rules.append(labels)
        for point in doc.get("contactPoints") or []:
            if any(r.get("type") == "webhook" for r in point.get("receivers") or []):
                webhooks.add(str(point.get("name")))
        policies.extend(doc.get("policies") or [])
    routes: list[list[tuple[str, str, str]]] = []
    for policy in policies:
        _collect(policy, [], None, webhooks, routes)
    return rules, routes


def _collect(
    route: Mapping[str, Any],
    matchers: list[tuple[str, str, str]],
    receiver: str | None,
    webhooks: set[str],
    out: list[list[tuple[str, str, str]]],
) -> None:
    """Every route (with its ancestors' matchers) whose receiver is a webhook contact point."""
    receiver = str(route.get("receiver") or receiver or "")
    own = [(str(m[0]), str(m[1]), str(m[2])) for m in route.get("object_matchers") or []]
    matchers = matchers + own
    if receiver in webhooks:
        out.append(matchers)
    for child in route.get("routes") or []:
        _collect(child, matchers, receiver, webhooks, out)


def _route_matches(matchers: list[tuple[str, str, str]], labels: Mapping[str, str]) -> bool:
    for name, op, value in matchers:
        have = labels.get(name, "")
        ok = {
            "=": have == value,
            "!=": have != value,
            "=~": re.fullmatch(value, have) is not None,
            "!~": re.fullmatch(value, have) is None,
        }.get(op)
        if not ok:
            return False
    return True


def _env(text: str) -> str:
    """Grafana expands ``$VAR``/``${VAR}`` in rule labels from its environment."""

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        return os.environ.get(match.group(1) or match.group(2), "")

    return _ENV.sub(replace, text)
