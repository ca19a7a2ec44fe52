"""The Alertmanager part of the simulated Grafana: routing, groups, ticks, dedup, re-sends."""

from __future__ import annotations

from pathlib import Path

import pytest

from alertloop.sim.alerting.alerts import PostableAlert
from alertloop.sim.alerting.dispatcher import Dispatcher, Notification, merge
from alertloop.sim.alerting.errors import ProvisioningError
from alertloop.sim.alerting.model import Matcher, NotificationPolicy
from alertloop.sim.alerting.provisioning import load_policy
from alertloop.sim.alerting.routing import group_key, group_labels, match_routes

FAR = 10_000.0


def alert(
    name: str = "PotMeanHigh", starts: float = 100.0, ends: float = FAR, **labels: str
) -> PostableAlert:
    full = {
        "alertname": name,
        "grafana_folder": "alertloop",
        "__alert_rule_uid__": name.lower(),
        **labels,
    }
    return PostableAlert(full, {}, starts, ends, "http://localhost:3000/")


class Recorder:
    def __init__(self, answers: list[bool] | None = None) -> None:
        self.answers = list(answers or [])
        self.sent: list[Notification] = []

    def __call__(self, note: Notification) -> bool:
        self.sent.append(note)
        return self.answers.pop(0) if self.answers else True

    def summary(self) -> list[tuple[float, list[tuple[str, bool]]]]:
        return [(n.time, [(a.name, f) for a, f in n.alerts]) for n in self.sent]


def dispatcher(send: Recorder, **policy: object) -> Dispatcher:
    settings: dict = {
        "group_wait": 0.0,
        "group_interval": 10.0,
        "repeat_interval": 3600.0,
        **policy,
    }
    return Dispatcher(NotificationPolicy("hook", **settings), send, clock=lambda: 0.0)


def test_group_wait_delays_the_first_notification_of_a_new_group() -> None:
    send = Recorder()
    d = dispatcher(send, group_wait=5.0)
    d.put([alert(starts=100.0)], 100.0)
    assert d.flush_due(104.9) == [] and d.next_due() == 105.0
    d.put([alert("Other", starts=102.0)], 102.0)  # another group: its own wait
    d.flush_due(105.0)
    assert send.summary() == [(105.0, [("PotMeanHigh", True)])]
    d.flush_due(107.0)
    assert send.summary()[-1] == (107.0, [("Other", True)])


def test_an_alert_older_than_group_wait_is_sent_at_once() -> None:
    send = Recorder()
    d = dispatcher(send, group_wait=30.0)
    d.put([alert(starts=10.0)], 100.0)
    d.flush_due(100.0)
    assert len(send.sent) == 1


def test_changes_go_out_on_group_interval_ticks_and_resolved_alerts_leave_the_group() -> None:
    send = Recorder()
    d = dispatcher(send)
    d.put([alert(starts=100.0)], 100.0)
    d.flush_due(100.0)
    d.put([alert(starts=100.0, ends=103.0)], 103.0)  # resolved
    assert d.flush_due(105.0) == []
    d.flush_due(110.0)
    assert send.summary() == [(100.0, [("PotMeanHigh", True)]), (110.0, [("PotMeanHigh", False)])]
    (group,) = d.groups.values()
    assert group.alerts == {}
    d.flush_due(120.0)
    assert len(send.sent) == 2


def test_nothing_new_is_not_sent_again_until_repeat_interval() -> None:
    send = Recorder()
    d = dispatcher(send, repeat_interval=60.0)
    d.put([alert()], 100.0)
    for t in range(100, 180, 10):
        d.flush_due(float(t))
    # Alertmanager repeats once the last notification is strictly older than repeat_interval
    assert [t for t, _ in send.summary()] == [100.0, 170.0]


@pytest.mark.parametrize("first", [False], ids=["failed"])
def test_a_failed_flush_is_sent_again_on_the_next_tick(first: bool) -> None:
    send = Recorder([first, first, True])
    d = dispatcher(send)
    d.put([alert()], 100.0)
    for t in (100.0, 105.0, 110.0, 120.0, 130.0):
        d.flush_due(t)
    assert [t for t, _ in send.summary()] == [100.0, 110.0, 120.0]


def test_a_resolved_alert_whose_resolution_failed_is_sent_again() -> None:
    send = Recorder([True, False, True])
    d = dispatcher(send)
    d.put([alert()], 100.0)
    d.flush_due(100.0)
    d.put([alert(ends=104.0)], 104.0)
    d.flush_due(110.0)
    d.flush_due(120.0)
    assert [[f for _, f in alerts] for _, alerts in send.summary()] == [[True], [False], [False]]


def test_only_resolved_alerts_never_notified_say_nothing() -> None:
    send = Recorder()
    d = dispatcher(send)
    d.put([alert(starts=100.0, ends=101.0)], 102.0)
    d.flush_due(102.0)
    assert send.sent == []


def test_empty_groups_are_dropped_on_maintenance_so_a_new_alert_waits_group_wait_again() -> None:
    send = Recorder()
    d = Dispatcher(
        NotificationPolicy("hook", group_wait=2.0, group_interval=10.0),
        send,
        maintenance_interval=30.0,
        clock=lambda: 100.0,
    )
    d.put([alert(starts=100.0)], 100.0)
    d.flush_due(102.0)
    d.put([alert(starts=100.0, ends=105.0)], 105.0)
    d.flush_due(112.0)
    d.flush_due(130.0)  # maintenance: the empty group goes
    assert d.groups == {}
    d.put([alert(starts=140.0)], 140.0)
    assert d.next_due() == 142.0


def test_merge_keeps_the_earliest_start_while_alerts_overlap() -> None:
    old = alert(starts=100.0, ends=220.0)
    assert merge(old, alert(starts=110.0, ends=230.0), 110.0).starts_at == 100.0
    later = merge(old, alert(starts=300.0, ends=420.0), 300.0)
    assert later.starts_at == 300.0


POLICY = NotificationPolicy(
    "root",
    routes=(
        NotificationPolicy("hook", matchers=(Matcher("loop", "=", "alertloop"),), group_wait=1.0),
        NotificationPolicy(
            "regex", matchers=(Matcher("severity", "=~", "info|warn"),), continue_matching=True
        ),
        NotificationPolicy("also", matchers=(Matcher("severity", "!=", "none"),)),
    ),
)


@pytest.mark.parametrize(
    ("labels", "receivers"),
    [
        ({"loop": "alertloop"}, ["hook"]),
        ({"severity": "info"}, ["regex", "also"]),
        ({"severity": "none"}, ["root"]),
        ({"severity": "information"}, ["also"]),
    ],
    ids=["nested", "continue", "fallback", "anchored-regex"],
)
def test_routing_takes_the_first_matching_nested_policy(labels: dict, receivers: list[str]) -> None:
    assert [r.policy.receiver for r in match_routes(POLICY, labels)] == receivers


def test_group_key_and_labels_as_alertmanager_writes_them() -> None:
    (route,) = match_routes(POLICY, {"loop": "alertloop", "alertname": "A", "grafana_folder": "f"})
    labels = group_labels(
        route.policy, {"loop": "alertloop", "alertname": "A", "grafana_folder": "f"}
    )
    assert group_key(route, labels) == '{}/{loop="alertloop"}:{alertname="A", grafana_folder="f"}'
    everything = NotificationPolicy("x", group_by=("...",))
    assert group_labels(everything, {"b": "2", "a": "1"}) == {"a": "1", "b": "2"}


def test_provisioned_policy_tree_is_parsed_with_inheritance(tmp_path: Path) -> None:
    (tmp_path / "policies.yaml").write_text(
        "apiVersion: 1\npolicies:\n  - orgId: 1\n    receiver: root\n    group_by: [alertname]\n"
        "    group_wait: 0s\n    group_interval: 2s\n    routes:\n      - receiver: hook\n"
        "        object_matchers: [[loop, '=', alertloop]]\n        repeat_interval: 1m\n"
        "      - matchers: ['severity =~ \"info|warn\"']\n"
    )
    policy = load_policy(tmp_path)
    hook, other = policy.routes
    assert (hook.receiver, hook.group_by, hook.group_wait, hook.group_interval) == (
        "hook",
        ("alertname",),
        0.0,
        2.0,
    )
    assert hook.repeat_interval == 60.0 and hook.matchers == (Matcher("loop", "=", "alertloop"),)
    assert other.receiver == "root" and other.matchers == (Matcher("severity", "=~", "info|warn"),)


def test_a_bad_matcher_is_named(tmp_path: Path) -> None:
    (tmp_path / "policies.yaml").write_text(
        "apiVersion: 1\npolicies:\n  - receiver: root\n    routes:\n      - receiver: x\n"
        "        object_matchers: [[loop, '~', x]]\n"
    )
    with pytest.raises(ProvisioningError, match=r"routes\[0\].*operator"):
        load_policy(tmp_path)
