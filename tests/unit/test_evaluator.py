"""The evaluator's state machine and notifications with a fake series source, a fake HTTP
session and explicit times (no servers, no sleeping): evaluations and the notifier's ticks are
driven by hand with ``Sim.step``/``Sim.tick``."""

from __future__ import annotations

import dataclasses
import math
import threading
from typing import Any

import pytest
import requests

from alertloop.services.common.config import InfluxSettings
from alertloop.services.common.deadline import wait_until
from alertloop.services.common.errors import ConfigError, TimeoutExpired
from alertloop.sim.alerting import AlertEvaluator, AlertState, NotificationPolicy, load_rule
from alertloop.sim.alerting.errors import QueryError
from alertloop.sim.alerting.expressions import reduce_series, threshold_met
from alertloop.sim.alerting.model import Matcher
from alertloop.sim.alerting.notifier import Notifier
from alertloop.sim.alerting.provisioning import ReduceExpression, ThresholdExpression
from alertloop.sim.alerting.query import Point, build_query

INFLUX = InfluxSettings.from_url("http://127.0.0.1:9", database="iot")
URL = "http://127.0.0.1:9/alert"


class FakeSource:
    """Answers every query with the points set by the test (or raises its error)."""

    def __init__(self) -> None:
        self.values: list[float | None] = []
        self.error: Exception | None = None
        self.queries: list[str] = []

    def points(self, influxql: str) -> list[Point]:
        self.queries.append(influxql)
        if self.error is not None:
            raise self.error
        return [Point(float(i), v) for i, v in enumerate(self.values)]

    def close(self) -> None:
        pass


class FakeResponse:
    def __init__(self, status: int) -> None:
        self.status_code = status


class FakeSession:
    """Records requests; answers with the scripted statuses (an exception instance is raised)."""

    def __init__(self, script: list[int | Exception] | None = None) -> None:
        self.script = list(script or [])
        self.requests: list[dict] = []
        self.lock = threading.Lock()

    def request(self, method: str, url: str, **kwargs: object) -> FakeResponse:
        with self.lock:
            self.requests.append({"method": method, "url": url, **kwargs})
            answer = self.script.pop(0) if self.script else 200
        if isinstance(answer, Exception):
            raise answer
        return FakeResponse(answer)

    def bodies(self) -> list[dict]:
        import json

        return [json.loads(r["data"]) for r in self.requests]


RULE = load_rule()
# The loop's policy as tests use it: at once, then every 10 s, repeat after an hour.
POLICY = NotificationPolicy(
    "alertloop-webhook", group_wait=0.0, group_interval=10.0, repeat_interval=3600.0
)


class Sim:
    """An evaluator that is never started: the test calls evaluations and ticks at set times."""

    def __init__(self, source: FakeSource, session: FakeSession, **kwargs: Any) -> None:
        kwargs.setdefault("rule", RULE)
        kwargs.setdefault("policy", POLICY)
        self.source = source
        self.session = session
        self.evaluator = AlertEvaluator(INFLUX, URL, "grafana", "pw", source=source, **kwargs)
        self.evaluator.notifier = Notifier(URL, "grafana", "pw", session=session)

    def step(self, values: list[float | None] | Exception, now: float, tick: bool = True):  # type: ignore[no-untyped-def]
        if isinstance(values, Exception):
            self.source.error = values
        else:
            self.source.error, self.source.values = None, values
        evaluation = self.evaluator.evaluate_once(now)
        if tick:
            self.tick(now)
        return evaluation

    def tick(self, now: float) -> list[dict]:
        before = len(self.session.requests)
        self.evaluator.dispatcher.flush_due(now)
        return self.session.bodies()[before:]

    def sent(self) -> list[tuple[str, list[tuple[str, str]]]]:
        """(status, [(alertname, alert status)]) of every body posted so far."""
        return [
            (b["status"], [(a["labels"]["alertname"], a["status"]) for a in b["alerts"]])
            for b in self.session.bodies()
        ]


@pytest.fixture
def source() -> FakeSource:
    return FakeSource()


@pytest.fixture
def session() -> FakeSession:
    return FakeSession()


def test_mean_above_threshold_fires_and_falling_back_resolves(
    source: FakeSource, session: FakeSession
) -> None:
    sim = Sim(source, session)
    assert sim.step([40, 45], 1000.0).state is AlertState.NORMAL
    assert session.requests == []
    first = sim.step([40, 60, 80], 1010.0)
    assert first.state is AlertState.ALERTING and first.changed and first.value == 60
    sim.step([90, 90], 1020.0)  # still alerting, nothing new: no notification
    assert sim.step([10, 20], 1030.0).state is AlertState.NORMAL
    firing, resolved = session.bodies()
    assert (firing["status"], firing["state"]) == ("firing", "alerting")
    assert firing["alerts"][0]["labels"]["alertname"] == "PotMeanHigh"
    assert firing["alerts"][0]["values"] == {"B": 60.0, "C": 1.0}
    assert firing["alerts"][0]["endsAt"] == "0001-01-01T00:00:00Z"
    assert (resolved["status"], resolved["state"]) == ("resolved", "ok")
    assert resolved["alerts"][0]["fingerprint"] == firing["alerts"][0]["fingerprint"]
    assert resolved["alerts"][0]["endsAt"] == "1970-01-01T00:17:10Z"
    assert session.requests[0]["auth"] == ("grafana", "pw")
    assert session.requests[0]["headers"]["Content-Type"] == "application/json"
    assert [e.state for e in sim.evaluator.history] == [
        AlertState.NORMAL, AlertState.ALERTING, AlertState.ALERTING, AlertState.NORMAL,
    ]  # fmt: skip


def test_for_holds_the_rule_pending_until_it_has_lasted(
    source: FakeSource, session: FakeSession
) -> None:
    sim = Sim(source, session, rule=dataclasses.replace(RULE, for_seconds=20.0))
    states = [sim.step([80], t).state for t in (1000.0, 1010.0, 1020.0, 1030.0)]
    assert states == [
        AlertState.PENDING,
        AlertState.PENDING,
        AlertState.ALERTING,
        AlertState.ALERTING,
    ]
    assert [b["status"] for b in session.bodies()] == ["firing"]  # Pending is never notified
    assert session.bodies()[0]["alerts"][0]["startsAt"] == "1970-01-01T00:17:00Z"


@pytest.mark.parametrize(
    ("no_data_state", "expected"),
    [("OK", AlertState.NORMAL), ("NoData", AlertState.NO_DATA), ("Alerting", AlertState.ALERTING),
     ("KeepLast", AlertState.NORMAL)],
    ids=["ok", "nodata", "alerting", "keeplast"],
)  # fmt: skip
def test_no_data_follows_the_rule(
    source: FakeSource, session: FakeSession, no_data_state: str, expected: AlertState
) -> None:
    sim = Sim(source, session, rule=dataclasses.replace(RULE, no_data_state=no_data_state))
    evaluation = sim.step([], 1000.0)
    assert evaluation.state is expected and evaluation.value is None and evaluation.points == 0
    names = [a[0] for _, alerts in sim.sent() for a in alerts]
    wanted = {AlertState.NO_DATA: ["DatasourceNoData"], AlertState.ALERTING: ["PotMeanHigh"]}
    assert names == wanted.get(expected, [])


def test_no_data_ok_while_alerting_resolves_with_the_reason(
    source: FakeSource, session: FakeSession
) -> None:
    sim = Sim(source, session)
    sim.step([80], 1000.0)
    assert sim.step([], 1010.0).state is AlertState.NORMAL
    resolved = session.bodies()[-1]["alerts"][0]
    assert resolved["status"] == "resolved"
    assert resolved["annotations"]["grafana_state_reason"] == "NoData"


def test_a_query_error_while_alerting_keeps_the_alert_firing_until_it_expires(
    source: FakeSource, session: FakeSession
) -> None:
    sim = Sim(source, session)
    sim.step([80], 1000.0)
    error = sim.step(QueryError("influx down"), 1010.0)
    assert error.state is AlertState.ERROR and error.error == "influx down"
    # Grafana sends an instance again only once its resend delay (30 s) has passed since the
    # last send, state change or not: the DatasourceError alert goes out at 1030
    assert len(session.requests) == 1
    sim.step(QueryError("influx down"), 1020.0)
    sim.step(QueryError("influx down"), 1030.0)
    # a group of its own; PotMeanHigh is not resolved
    assert sim.sent() == [
        ("firing", [("PotMeanHigh", "firing")]),
        ("firing", [("DatasourceError", "firing")]),
    ]
    body = session.bodies()[-1]
    assert body["groupLabels"] == {"alertname": "DatasourceError", "grafana_folder": "alertloop"}
    labels = body["alerts"][0]["labels"]
    assert (labels["rulename"], labels["ref_id"], labels["datasource_uid"]) == (
        "PotMeanHigh", "A", "alertloop-influxdb",
    )  # fmt: skip
    for t in range(1040, 1120, 10):
        sim.step(QueryError("influx down"), float(t))
    assert len(session.requests) == 2  # the PotMeanHigh alert has not expired yet
    # Grafana's EndsAt: last Alerting evaluation + 4 x max(interval 10 s, resend delay 30 s)
    sim.step(QueryError("influx down"), 1120.0)
    assert sim.sent()[-1] == ("resolved", [("PotMeanHigh", "resolved")])
    assert session.bodies()[-1]["alerts"][0]["endsAt"] == "1970-01-01T00:18:40Z"


def test_resolved_alerts_are_sent_again_within_the_retention_which_holds_a_new_firing_back(
    source: FakeSource, session: FakeSession
) -> None:
    sim = Sim(source, session)
    sim.step([80], 1000.0)
    sim.step([10], 1010.0)  # resolved, sent
    sim.step([10], 1040.0)  # sent again to the notifier (retention), which says nothing new
    sim.step([80], 1060.0)  # last sent at 1040: held back until 1070
    assert [b["status"] for b in session.bodies()] == ["firing", "resolved"]
    sim.step([80], 1070.0)
    assert [b["status"] for b in session.bodies()] == ["firing", "resolved", "firing"]
    quick = Sim(FakeSource(), FakeSession(), resolved_retention=0.0)
    quick.step([80], 1000.0)
    quick.step([10], 1010.0)
    quick.step([80], 1040.0)  # no re-send of the resolve: 30 s after it, sent at once
    assert [b["status"] for b in quick.session.bodies()] == ["firing", "resolved", "firing"]


def test_a_rule_firing_again_soon_after_resolving_waits_for_the_resend_delay(
    source: FakeSource, session: FakeSession
) -> None:
    sim = Sim(source, session)
    sim.step([80], 1000.0)
    sim.step([10], 1010.0)  # resolved: sent at once
    sim.step([80], 1020.0)  # Alerting again, but the last send was 10 s ago
    assert [b["status"] for b in session.bodies()] == ["firing", "resolved"]
    sim.step([80], 1040.0)
    assert [b["status"] for b in session.bodies()] == ["firing", "resolved", "firing"]


def test_error_to_normal_resolves_nothing_at_once(source: FakeSource, session: FakeSession) -> None:
    sim = Sim(source, session)
    sim.step(QueryError("influx down"), 1000.0)
    assert sim.step([10], 1010.0).state is AlertState.NORMAL
    assert sim.sent() == [("firing", [("DatasourceError", "firing")])]
    sim.step([10], 1130.0)  # the DatasourceError alert expired: resolved on the tick
    assert sim.sent()[-1] == ("resolved", [("DatasourceError", "resolved")])


@pytest.mark.parametrize("setting", ["NoData", "Error"], ids=["nodata", "error"])
def test_keep_last_keeps_alerting_and_normal(
    source: FakeSource, session: FakeSession, setting: str
) -> None:
    rule = dataclasses.replace(RULE, no_data_state="KeepLast", exec_err_state="KeepLast")
    sim = Sim(source, session, rule=rule)
    missing: list[float | None] | Exception = [] if setting == "NoData" else QueryError("down")
    assert sim.step(missing, 1000.0).state is AlertState.NORMAL
    sim.step([80], 1010.0)
    kept = sim.step(missing, 1020.0)
    assert kept.state is AlertState.ALERTING and kept.reason == f"{setting}, KeepLast"
    assert sim.sent() == [("firing", [("PotMeanHigh", "firing")])]


def test_keep_last_promotes_pending_once_for_has_passed(
    source: FakeSource, session: FakeSession
) -> None:
    rule = dataclasses.replace(RULE, no_data_state="KeepLast", for_seconds=20.0)
    sim = Sim(source, session, rule=rule)
    assert sim.step([80], 1000.0).state is AlertState.PENDING
    assert sim.step([], 1010.0).state is AlertState.PENDING
    promoted = sim.step([], 1020.0)
    assert promoted.state is AlertState.ALERTING and promoted.reason == "NoData, KeepLast"


def test_several_rules_notify_in_groups_of_their_own(
    source: FakeSource, session: FakeSession
) -> None:
    sim = Sim(source, session, rule=None)  # every provisioned rule
    assert sorted(r.rule.title for r in sim.evaluator.rules.values()) == [
        "PotActive",
        "PotMeanHigh",
    ]
    sim.step([30], 1000.0)
    assert sim.evaluator.state is AlertState.NORMAL  # the loop's rule
    assert sim.evaluator.state_of("PotActive") is AlertState.ALERTING
    sim.step([80], 1010.0)
    sim.step([0], 1020.0)
    assert sim.sent()[:2] == [
        ("firing", [("PotActive", "firing")]),
        ("firing", [("PotMeanHigh", "firing")]),
    ]
    assert sorted(sim.sent()[2:]) == [
        ("resolved", [("PotActive", "resolved")]),
        ("resolved", [("PotMeanHigh", "resolved")]),
    ]
    active = session.bodies()[0]
    assert active["commonLabels"] == {
        "alertname": "PotActive",
        "grafana_folder": "alertloop",
        "severity": "info",
    }


def test_a_change_waits_for_the_groups_next_tick(source: FakeSource, session: FakeSession) -> None:
    sim = Sim(source, session)
    sim.step([80], 1000.0)  # a new group with group_wait 0: sent at once
    assert len(session.requests) == 1
    sim.step([10], 1005.0)  # resolved between ticks
    assert len(session.requests) == 1
    assert sim.tick(1009.9) == []
    assert [b["status"] for b in sim.tick(1010.0)] == ["resolved"]


def test_a_failed_notification_is_sent_again_on_every_group_interval_tick(
    source: FakeSource,
) -> None:
    session = FakeSession([400, requests.ConnectionError("refused"), 503, 200])
    sim = Sim(source, session)
    sim.step([80], 1000.0)
    for t in (1005.0, 1010.0, 1020.0, 1030.0, 1040.0, 1050.0):
        sim.tick(t)
    deliveries = sim.evaluator.notifier.deliveries  # type: ignore[union-attr]
    assert [(d.status, d.attempts) for d in deliveries] == [(400, 1), (None, 1), (503, 1), (200, 1)]
    assert [round(d.queued) for d in deliveries][0] > 0
    assert len(session.requests) == 4  # after the 200, nothing more until repeat_interval
    assert all(b["alerts"][0]["status"] == "firing" for b in session.bodies())


def test_firing_groups_repeat_after_repeat_interval(
    source: FakeSource, session: FakeSession
) -> None:
    policy = dataclasses.replace(POLICY, repeat_interval=30.0)
    sim = Sim(source, session, policy=policy, resend_delay=10.0)
    for t in range(1000, 1050, 10):
        sim.step([80], float(t))
    assert len(session.requests) == 2  # at 1000, then again once 30 s had passed


def test_legacy_payload_on_every_change(source: FakeSource, session: FakeSession) -> None:
    sim = Sim(source, session, payload="legacy")
    sim.step([80], 1000.0)
    sim.step([90], 1010.0)
    sim.step([10], 1020.0)
    assert [(b["state"], b["ruleName"]) for b in session.bodies()] == [
        ("alerting", "PotMeanHigh"),
        ("ok", "PotMeanHigh"),
    ]
    assert session.bodies()[0]["evalMatches"][0]["value"] == 80


def test_legacy_notifies_only_rules_the_policy_routes_to_the_webhook(
    source: FakeSource, session: FakeSession
) -> None:
    nested = NotificationPolicy(
        "grafana-default-email",
        routes=(dataclasses.replace(POLICY, matchers=(Matcher("loop", "=", "alertloop"),)),),
    )
    sim = Sim(source, session, rule=None, policy=nested, payload="legacy")
    sim.step([30], 1000.0)  # PotActive fires, PotMeanHigh does not
    assert sim.evaluator.state_of("PotActive") is AlertState.ALERTING
    assert session.requests == []
    sim.step([80], 1010.0)
    assert [b["ruleName"] for b in session.bodies()] == ["PotMeanHigh"]


def test_the_query_window_is_the_rules_relative_time_range(
    source: FakeSource, session: FakeSession
) -> None:
    Sim(source, session).step([1], 1000.0)
    assert source.queries == [
        'SELECT "value" FROM "pot" WHERE time >= 990000ms and time <= 1000000ms'
    ]


def test_build_query_expands_interval_macros() -> None:
    query = dataclasses.replace(
        RULE.query,
        query="SELECT mean(v) FROM m WHERE $timeFilter GROUP BY time($__interval) -- $__interval_ms",
        interval_ms=500,
    )
    assert build_query(query, 20.0) == (
        "SELECT mean(v) FROM m WHERE time >= 10000ms and time <= 20000ms GROUP BY time(500ms) -- 500"
    )


def make(source: FakeSource, session: FakeSession, **kwargs: Any) -> AlertEvaluator:
    kwargs.setdefault("rule", RULE)
    kwargs.setdefault("policy", dataclasses.replace(POLICY, group_interval=0.05))
    return AlertEvaluator(
        INFLUX, URL, "grafana", "pw", source=source, notifier_options={"session": session}, **kwargs
    )


def test_running_on_its_thread_reaches_alerting_and_back(
    source: FakeSource, session: FakeSession
) -> None:
    source.values = [90]
    with make(source, session, interval=0.05, faster_than_grafana=True) as evaluator:
        evaluator.wait_for_state("Alerting", timeout=5.0)
        source.values = [5]
        evaluator.wait_for_state(AlertState.NORMAL, timeout=5.0)
        assert evaluator.running
        notifier = evaluator.notifier
        assert notifier is not None
        wait_until(lambda: len(notifier.deliveries) >= 2, 5.0, what="both notifications")
    assert not evaluator.running
    assert [b["status"] for b in session.bodies()] == ["firing", "resolved"]


def test_wait_for_state_timeout_explains(source: FakeSource, session: FakeSession) -> None:
    source.values = [1]
    with make(source, session, interval=0.05, faster_than_grafana=True) as evaluator:
        evaluator.wait_for_state("Normal", timeout=5.0)
        with pytest.raises(TimeoutExpired, match=r"PotMeanHigh to be Alerting.*last seen.*Normal"):
            evaluator.wait_for_state("Alerting", timeout=0.2)


@pytest.mark.parametrize(
    "bad",
    [{"interval": 0}, {"interval": -1}, {"payload": "xml"}, {"interval": 1},
     {"interval": 15}, {"interval": 0, "faster_than_grafana": True}],
    ids=["zero", "neg", "kind", "under-10s", "not-a-multiple", "zero-faster"],
)  # fmt: skip
def test_bad_settings_are_refused(bad: dict) -> None:
    with pytest.raises(ConfigError):
        AlertEvaluator(INFLUX, URL, "u", "p", **bad)


def test_under_10_s_needs_faster_than_grafana_and_says_so() -> None:
    with pytest.raises(ConfigError, match="faster-than-grafana"):
        AlertEvaluator(INFLUX, URL, "u", "p", interval=1)
    assert AlertEvaluator(INFLUX, URL, "u", "p", interval=1, faster_than_grafana=True).interval == 1
    assert AlertEvaluator(INFLUX, URL, "u", "p", interval=20).interval == 20


def test_evaluate_before_start_says_so() -> None:
    with pytest.raises(Exception, match="not started"):
        AlertEvaluator(INFLUX, URL, "u", "p").evaluate_once()


# -- notifier ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "answer", [503, 401, requests.ConnectionError("refused")], ids=["503", "401", "refused"]
)
def test_the_notifier_tries_once_and_reports(answer: int | Exception) -> None:
    session = FakeSession([answer, 200])
    delivery = Notifier(URL, "u", "p", session=session).deliver({"state": "alerting"}, "firing")
    assert not delivery.ok and delivery.attempts == 1 and len(session.requests) == 1


@pytest.mark.parametrize(
    ("user", "password"), [("", "p"), ("u", "")], ids=["no-user", "no-password"]
)
def test_basic_auth_only_when_user_and_password_are_both_set(user: str, password: str) -> None:
    session = FakeSession()
    Notifier(URL, user, password, session=session).deliver({}, "x")
    assert session.requests[0]["auth"] is None


# -- expressions ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reducer", "mode", "values", "expected"),
    [
        ("mean", "dropNN", [1, None, 3], 2.0),
        ("mean", "", [1, None, 3], math.nan),
        ("mean", "replaceNN", [1, None, 3], 4 / 3),
        ("max", "dropNN", [1, 7, 3], 7.0),
        ("min", "dropNN", [4, 2, 9], 2.0),
        ("last", "dropNN", [4, 2, None], 2.0),
        ("count", "dropNN", [4, None], 1.0),
        ("sum", "dropNN", [], 0.0),
        ("median", "dropNN", [5, 1, 3], 3.0),
        ("mean", "dropNN", [], math.nan),
    ],
    ids=[
        "mean",
        "strict-null",
        "replace",
        "max",
        "min",
        "last",
        "count",
        "sum-empty",
        "median",
        "mean-empty",
    ],
)
def test_reduce(reducer: str, mode: str, values: list, expected: float) -> None:
    result = reduce_series(values, ReduceExpression("B", "A", reducer, mode, 0.0))
    assert (math.isnan(result) and math.isnan(expected)) or result == pytest.approx(expected)


@pytest.mark.parametrize(
    ("kind", "params", "value", "met"),
    [
        ("gt", (50,), 50.0, False),
        ("gt", (50,), 50.01, True),
        ("gte", (50,), 50.0, True),
        ("lt", (50,), 49.0, True),
        ("within_range", (10, 20), 10.0, False),
        ("within_range_included", (10, 20), 10.0, True),
        ("outside_range", (10, 20), 25.0, True),
        ("gt", (50,), math.nan, False),
    ],
    ids=["gt-equal", "gt-above", "gte", "lt", "within-open", "within-closed", "outside", "nan"],
)
def test_threshold(kind: str, params: tuple, value: float, met: bool) -> None:
    assert (
        threshold_met(value, ThresholdExpression("C", "B", kind, tuple(map(float, params)))) is met
    )
