"""Which notification policies an alert goes to, and its group there (Alertmanager's routing).

The tree is walked depth first: an alert goes to the first nested policy that matches it (and
on to the next ones when that policy says ``continue``); when no nested policy matches, the
policy itself takes it. The group is the policy plus the values of its ``group_by`` labels
that the alert has (``...`` groups by every label).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from alertloop.sim.alerting.model import NotificationPolicy

GROUP_BY_ALL = "..."


@dataclass(frozen=True)
class Route:
    """A matched policy and its key (the matchers of the path from the root, as Alertmanager
    writes them: ``{}/{alertloop="led"}``)."""

    policy: NotificationPolicy
    key: str


def match_routes(policy: NotificationPolicy, labels: Mapping[str, str]) -> list[Route]:
    """The policies that take an alert with ``labels`` (the root always matches)."""
    return _match(policy, labels, policy.matcher_text)


def _match(policy: NotificationPolicy, labels: Mapping[str, str], key: str) -> list[Route]:
    if not policy.matches(labels):
        return []
    found: list[Route] = []
    for child in policy.routes:
        matched = _match(child, labels, f"{key}/{child.matcher_text}")
        if matched:
            found += matched
            if not child.continue_matching:
                break
    return found or [Route(policy, key)]


def group_labels(policy: NotificationPolicy, labels: Mapping[str, str]) -> dict[str, str]:
    """The alert's values of the policy's ``group_by`` labels, sorted by name."""
    if GROUP_BY_ALL in policy.group_by:
        return {k: labels[k] for k in sorted(labels)}
    return {k: labels[k] for k in sorted(set(policy.group_by)) if k in labels}


def label_text(labels: Mapping[str, str]) -> str:
    """``{a="1", b="2"}``, as Alertmanager prints a label set."""
    return "{" + ", ".join(f'{k}="{labels[k]}"' for k in sorted(labels)) + "}"


def group_key(route: Route, labels: Mapping[str, str]) -> str:
    """Alertmanager's group key: ``{route key}:{group labels}``."""
    return f"{route.key}:{label_text(labels)}"
