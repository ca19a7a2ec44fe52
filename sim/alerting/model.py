"""The validated, frozen description of what the provisioning files say: rule, contact point, policy."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class DataQuery:
    """The rule's datasource query (InfluxQL) and the time range it covers."""

    ref_id: str
    datasource_uid: str
    query: str
    range_from: int
    range_to: int
    interval_ms: int = 1000


@dataclass(frozen=True)
class ReduceExpression:
    """``reduce``: one number out of a series (mean, max...), with null handling."""

    ref_id: str
    expression: str
    reducer: str
    mode: str = ""
    replace_with: float | None = None


@dataclass(frozen=True)
class ThresholdExpression:
    """``threshold``: 1 when the input meets the one condition, else 0."""

    ref_id: str
    expression: str
    type: str
    params: tuple[float, ...]


@dataclass(frozen=True)
class AlertRule:
    """One provisioned alert rule, with its group's folder and evaluation interval."""

    uid: str
    title: str
    folder: str
    group: str
    interval: float
    condition: str
    query: DataQuery
    reduce: ReduceExpression
    threshold: ThresholdExpression
    no_data_state: str = "NoData"
    exec_err_state: str = "Error"
    for_seconds: float = 0.0
    org_id: int = 1
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    dashboard_uid: str | None = None
    panel_id: int | None = None

    @property
    def threshold_value(self) -> float:
        """The first threshold parameter (50 for the loop's rule)."""
        return self.threshold.params[0]

    @property
    def window(self) -> float:
        """Seconds of data the query looks at (10 for the loop's rule)."""
        return float(self.query.range_from - self.query.range_to)


@dataclass(frozen=True)
class ContactPoint:
    """A webhook contact point, with its environment variables already interpolated."""

    name: str
    uid: str
    url: str
    http_method: str = "POST"
    username: str = ""
    password: str = ""
    disable_resolve_message: bool = False
    max_alerts: int = 0


MATCH_OPS = ("=", "!=", "=~", "!~")


@dataclass(frozen=True)
class Matcher:
    """One label matcher of a notification policy (``name op value``); regexes are anchored."""

    name: str
    op: str
    value: str

    def matches(self, labels: Mapping[str, str]) -> bool:
        actual = labels.get(self.name, "")
        if self.op == "=":
            return actual == self.value
        if self.op == "!=":
            return actual != self.value
        found = re.fullmatch(self.value, actual) is not None
        return found if self.op == "=~" else not found

    def __str__(self) -> str:
        return f'{self.name}{self.op}"{self.value}"'


@dataclass(frozen=True)
class NotificationPolicy:
    """A node of the notification policy tree: which alerts it takes (``matchers``), where
    they go, how they are grouped and repeated, and its nested policies. Settings a nested
    policy leaves out are already filled in from its parent when the file is loaded."""

    receiver: str
    group_by: tuple[str, ...] = ("grafana_folder", "alertname")
    group_wait: float = 30.0
    group_interval: float = 300.0
    repeat_interval: float = 14400.0
    matchers: tuple[Matcher, ...] = ()
    routes: tuple[NotificationPolicy, ...] = ()
    continue_matching: bool = False

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(m.matches(labels) for m in self.matchers)

    @property
    def matcher_text(self) -> str:
        """``{a="1",b=~"x"}``, as Alertmanager prints a route's matchers in group keys."""
        return "{" + ",".join(str(m) for m in self.matchers) + "}"
