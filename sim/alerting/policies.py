"""The notification policy tree of Grafana's provisioning files (``policies``)."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from alertloop.sim.alerting.errors import ProvisioningError
from alertloop.sim.alerting.files import alerting_dir, load_docs, parse_duration
from alertloop.sim.alerting.model import MATCH_OPS, Matcher, NotificationPolicy

__all__ = ["load_policy"]

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
    for path, doc in load_docs(alerting_dir(directory)):
        for policy in doc.get("policies") or []:
            return _parse_route(policy, None, f"{path}: policy")
    return NotificationPolicy(receiver="")
