"""The evaluator's logic with a fake series source and a fake HTTP session (no servers)."""

from __future__ import annotations

import dataclasses
import math
import threading
from typing import Any

import pytest
import requests

from services.common.config import InfluxSettings
from services.common.errors import ConfigError, TimeoutExpired
from sim.alerting import AlertEvaluator, AlertState, load_rule
from sim.alerting.errors import QueryError
from sim.alerting.expressions import reduce_series, threshold_met
from sim.alerting.notifier import Notifier
from sim.alerting.provisioning import ReduceExpression, ThresholdExpression
from sim.alerting.query import Point, build_query

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


def make(
    source: FakeSource, session: FakeSession, start: bool = True, **kwargs: Any
) -> AlertEvaluator:
    evaluator = AlertEvaluator(
        INFLUX, URL, "grafana", "pw", source=source, notifier_options={"session": session}, **kwargs
    )
    return evaluator.start() if start else evaluator


@pytest.fixture
def source() -> FakeSource:
    return FakeSource()


@pytest.fixture
def session() -> FakeSession:
    return FakeSession()


def _step(evaluator: AlertEvaluator, source: FakeSource, values: list[float | None], now: float):  # type: ignore[no-untyped-def]
    source.values = values
    evaluation = evaluator.evaluate_once(now)
    assert evaluator.notifier is not None
    evaluator.notifier.wait_idle(2.0)
    return evaluation


def test_mean_above_threshold_fires_and_falling_back_resolves(
    source: FakeSource, session: FakeSession
) -> None:
    evaluator = make(source, session, interval=3600)
    try:
        assert _step(evaluator, source, [40, 45], 1000.0).state is AlertState.NORMAL
        assert session.requests == []
        first = _step(evaluator, source, [40, 60, 80], 1010.0)
        assert first.state is AlertState.ALERTING and first.changed and first.value == 60
        _step(evaluator, source, [90, 90], 1020.0)  # still alerting: no new notification
        last = _step(evaluator, source, [10, 20], 1030.0)
        assert last.state is AlertState.NORMAL
    finally:
        evaluator.stop()
    firing, resolved = session.bodies()
    assert (firing["status"], firing["state"]) == ("firing", "alerting")
    assert firing["alerts"][0]["labels"]["alertname"] == "PotMeanHigh"
    assert firing["alerts"][0]["values"] == {"B": 60.0, "C": 1.0}
    assert firing["alerts"][0]["endsAt"] == "0001-01-01T00:00:00Z"
    assert (resolved["status"], resolved["state"]) == ("resolved", "ok")
    assert resolved["alerts"][0]["fingerprint"] == firing["alerts"][0]["fingerprint"]
    assert resolved["alerts"][0]["startsAt"] == firing["alerts"][0]["startsAt"]
    assert resolved["alerts"][0]["endsAt"] != "0001-01-01T00:00:00Z"
    assert session.requests[0]["auth"] == ("grafana", "pw")
    assert session.requests[0]["headers"]["Content-Type"] == "application/json"
    assert [e.state for e in evaluator.history] == [
        AlertState.NORMAL, AlertState.ALERTING, AlertState.ALERTING, AlertState.NORMAL,
    ]  # fmt: skip


def test_for_holds_the_rule_pending_until_it_has_lasted(
    source: FakeSource, session: FakeSession
) -> None:
    rule = dataclasses.replace(load_rule(), for_seconds=20.0)
    evaluator = make(source, session, rule=rule, interval=3600)
    try:
        assert _step(evaluator, source, [70], 0.0).state is AlertState.PENDING
        assert _step(evaluator, source, [70], 10.0).state is AlertState.PENDING
        assert session.requests == []  # Pending is not notified
        assert _step(evaluator, source, [70], 20.0).state is AlertState.ALERTING
        assert _step(evaluator, source, [10], 30.0).state is AlertState.NORMAL
        assert _step(evaluator, source, [70], 40.0).state is AlertState.PENDING
        assert _step(evaluator, source, [10], 50.0).state is AlertState.NORMAL
    finally:
        evaluator.stop()
    assert [b["status"] for b in session.bodies()] == ["firing", "resolved"]


@pytest.mark.parametrize(
    ("no_data_state", "expected", "alertname"),
    [
        ("OK", AlertState.NORMAL, None),
        ("NoData", AlertState.NO_DATA, "DatasourceNoData"),
        ("Alerting", AlertState.ALERTING, "PotMeanHigh"),
    ],
    ids=["ok", "nodata", "alerting"],
)
def test_no_data_follows_the_rule(
    source: FakeSource,
    session: FakeSession,
    no_data_state: str,
    expected: AlertState,
    alertname: str | None,
) -> None:
    rule = dataclasses.replace(load_rule(), no_data_state=no_data_state)
    evaluator = make(source, session, rule=rule, interval=3600)
    try:
        evaluation = _step(evaluator, source, [], 0.0)
    finally:
        evaluator.stop()
    assert evaluation.state is expected and evaluation.points == 0 and evaluation.value is None
    bodies = session.bodies()
    if alertname is None:
        assert bodies == []
    else:
        assert bodies[0]["alerts"][0]["labels"]["alertname"] == alertname
        if alertname == "DatasourceNoData":
            assert bodies[0]["alerts"][0]["labels"]["rulename"] == "PotMeanHigh"


def test_query_error_raises_a_datasource_error_alert(
    source: FakeSource, session: FakeSession
) -> None:
    evaluator = make(source, session, interval=3600)
    try:
        _step(evaluator, source, [80], 0.0)
        source.error = QueryError("connection refused")
        evaluation = _step(evaluator, source, [], 10.0)
        source.error = None
        _step(evaluator, source, [10], 20.0)
    finally:
        evaluator.stop()
    assert evaluation.state is AlertState.ERROR and "refused" in (evaluation.error or "")
    first, second, third = session.bodies()
    assert [a["labels"]["alertname"] for a in first["alerts"]] == ["PotMeanHigh"]
    # the rule's alert resolves and DatasourceError fires in one notification
    assert {(a["labels"]["alertname"], a["status"]) for a in second["alerts"]} == {
        ("DatasourceError", "firing"), ("PotMeanHigh", "resolved"),
    }  # fmt: skip
    assert second["status"] == "firing"
    assert [(a["labels"]["alertname"], a["status"]) for a in third["alerts"]] == [
        ("DatasourceError", "resolved")
    ]
    assert third["status"] == "resolved"


def test_legacy_payload_on_every_change(source: FakeSource, session: FakeSession) -> None:
    evaluator = make(source, session, interval=3600, payload="legacy")
    try:
        _step(evaluator, source, [70, 80], 0.0)
        _step(evaluator, source, [1], 10.0)
    finally:
        evaluator.stop()
    alerting, ok = session.bodies()
    assert (alerting["state"], alerting["title"], alerting["ruleName"]) == (
        "alerting",
        "[Alerting] PotMeanHigh",
        "PotMeanHigh",
    )
    assert alerting["evalMatches"] == [{"value": 75.0, "metric": "pot.value", "tags": {}}]
    assert (ok["state"], ok["evalMatches"], ok["title"]) == ("ok", [], "[OK] PotMeanHigh")


def test_the_query_window_is_the_rules_relative_time_range(
    source: FakeSource, session: FakeSession
) -> None:
    evaluator = make(source, session, interval=3600)
    try:
        _step(evaluator, source, [1], 1000.5)
    finally:
        evaluator.stop()
    assert source.queries == [
        'SELECT "value" FROM "pot" WHERE time >= 990500ms and time <= 1000500ms'
    ]


def test_build_query_expands_interval_macros() -> None:
    query = dataclasses.replace(
        load_rule().query,
        query="SELECT mean(v) FROM m WHERE $timeFilter GROUP BY time($__interval) -- $__interval_ms",
        interval_ms=500,
    )
    assert build_query(query, 20.0) == (
        "SELECT mean(v) FROM m WHERE time >= 10000ms and time <= 20000ms GROUP BY time(500ms) -- 500"
    )


def test_running_on_its_thread_reaches_alerting_and_back(
    source: FakeSource, session: FakeSession
) -> None:
    source.values = [90]
    with make(source, session, False, interval=0.05) as evaluator:
        evaluator.wait_for_state("Alerting", timeout=5.0)
        source.values = [5]
        evaluator.wait_for_state(AlertState.NORMAL, timeout=5.0)
        assert evaluator.running
    assert not evaluator.running
    assert [b["status"] for b in session.bodies()] == ["firing", "resolved"]


def test_wait_for_state_timeout_explains(source: FakeSource, session: FakeSession) -> None:
    source.values = [1]
    with make(source, session, False, interval=0.05) as evaluator:
        evaluator.wait_for_state("Normal", timeout=5.0)
        with pytest.raises(TimeoutExpired, match=r"PotMeanHigh to be Alerting.*last seen.*Normal"):
            evaluator.wait_for_state("Alerting", timeout=0.2)


@pytest.mark.parametrize(
    "bad", [{"interval": 0}, {"interval": -1}, {"payload": "xml"}], ids=["zero", "neg", "kind"]
)
def test_bad_settings_are_refused(bad: dict) -> None:
    with pytest.raises(ConfigError):
        AlertEvaluator(INFLUX, URL, "u", "p", **bad)


def test_evaluate_before_start_says_so() -> None:
    with pytest.raises(Exception, match="not started"):
        AlertEvaluator(INFLUX, URL, "u", "p").evaluate_once()


# -- notifier ------------------------------------------------------------------------------


def test_notifier_retries_503_and_connection_errors_like_grafana() -> None:
    session = FakeSession([503, requests.ConnectionError("refused"), 200])
    notifier = Notifier(URL, "u", "p", session=session, backoff=(0.01, 0.02))
    notifier.start()
    try:
        notifier.submit({"state": "alerting"}, "firing")
        notifier.wait_idle(5.0)
    finally:
        notifier.stop()
    (delivery,) = notifier.deliveries
    assert delivery.ok and delivery.attempts == 3 and delivery.status == 200


def test_notifier_does_not_retry_a_refusal() -> None:
    session = FakeSession([401, 200])
    notifier = Notifier(URL, "u", "wrong", session=session, backoff=(0.01, 0.02))
    notifier.start()
    try:
        notifier.submit({"state": "alerting"}, "firing")
        notifier.wait_idle(5.0)
    finally:
        notifier.stop()
    (delivery,) = notifier.deliveries
    assert not delivery.ok and delivery.attempts == 1 and delivery.status == 401


@pytest.mark.parametrize(
    ("user", "password"), [("", "p"), ("u", "")], ids=["no-user", "no-password"]
)
def test_basic_auth_only_when_user_and_password_are_both_set(user: str, password: str) -> None:
    session = FakeSession()
    notifier = Notifier(URL, user, password, session=session)
    notifier.start()
    try:
        notifier.submit({}, "x")
        notifier.wait_idle(5.0)
    finally:
        notifier.stop()
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
