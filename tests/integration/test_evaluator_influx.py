"""The evaluator against the real InfluxDB: every provisioned rule's query, window, no data and
errors, faster than Grafana (0.3 s intervals, the notification policy's ticks scaled down).

Notifications go to a small recording HTTP endpoint on 127.0.0.1 (the webhook service itself
is exercised in tests/e2e).
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from alertloop.services.common.deadline import wait_until
from alertloop.sim.alerting import AlertEvaluator, AlertState, NotificationPolicy

INTERVAL = 0.3
# Everything to the webhook, on ticks as fast as the evaluations.
POLICY = NotificationPolicy(
    "alertloop-webhook", group_wait=0.0, group_interval=INTERVAL, repeat_interval=3600.0
)
FAST: dict[str, Any] = {"interval": INTERVAL, "faster_than_grafana": True, "policy": POLICY}


class Recorder(ThreadingHTTPServer):
    """Records every POST (path, Authorization header, JSON body) and answers 200."""

    def __init__(self) -> None:
        self.posts: list[tuple[str, str, dict]] = []
        super().__init__(("127.0.0.1", 0), _Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/alert"


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        recorder: Recorder = self.server  # type: ignore[assignment]
        recorder.posts.append((self.path, self.headers.get("Authorization", ""), json.loads(body)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    server = Recorder()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def _write(influxdb, values: list[int], age: float = 0.0) -> None:  # type: ignore[no-untyped-def]
    """Store ``values`` as pot points spread over the last second, ``age`` seconds ago."""
    now_ns = time.time_ns() - int(age * 1e9)
    points = [
        {
            "measurement": "pot",
            "time": now_ns - (len(values) - i) * 1_000_000,
            "fields": {"value": v},
        }
        for i, v in enumerate(values)
    ]
    influxdb.client.write_points(points, time_precision="n", database=influxdb.name)


def test_mean_of_stored_points_fires_and_resolves_with_basic_auth(
    alertloop_influxdb, recorder: Recorder
) -> None:  # type: ignore[no-untyped-def]
    with AlertEvaluator(
        alertloop_influxdb.settings, recorder.url, "grafana", "pw", **FAST
    ) as evaluator:
        evaluator.wait_for_state(AlertState.NORMAL, timeout=5)  # no data, noDataState OK
        _write(alertloop_influxdb, [80, 90, 70])
        firing = evaluator.wait_for_state(AlertState.ALERTING, timeout=5)
        assert firing.value == pytest.approx(80.0) and firing.points == 3
        evaluator.wait_for_state(AlertState.ALERTING, timeout=5, rule="PotActive")
        _write(alertloop_influxdb, [0] * 30)
        normal = evaluator.wait_for_state(AlertState.NORMAL, timeout=5)
        assert normal.value is not None and normal.value < 50
        wait_until(
            lambda: len(_of(recorder, "PotMeanHigh")) == 2,
            5,
            what="two notifications of PotMeanHigh",
            state=lambda: recorder.posts,
        )
    (path, auth, first), (_, _, second) = _of(recorder, "PotMeanHigh")
    assert path == "/alert"
    assert base64.b64decode(auth.split()[1]) == b"grafana:pw"
    assert (first["status"], second["status"]) == ("firing", "resolved")
    assert first["alerts"][0]["values"]["B"] == pytest.approx(80.0)
    # the second rule (max above 5) fired too, in a group of its own
    active = _of(recorder, "PotActive")[0][2]
    assert active["status"] == "firing" and active["alerts"][0]["values"]["B"] == 90


def _of(recorder: Recorder, rule: str) -> list[tuple[str, str, dict]]:
    return [p for p in recorder.posts if p[2].get("groupLabels", {}).get("alertname") == rule]


def test_points_older_than_the_window_are_not_counted(
    alertloop_influxdb, recorder: Recorder
) -> None:  # type: ignore[no-untyped-def]
    _write(alertloop_influxdb, [100, 100], age=15.0)
    with AlertEvaluator(alertloop_influxdb.settings, recorder.url, "u", "p", **FAST) as evaluator:
        wait_until(lambda: len(evaluator.history) >= 2, 5, what="two evaluations")
        assert all(e.points == 0 and e.state is AlertState.NORMAL for e in evaluator.history)
        _write(alertloop_influxdb, [40])
        evaluation = wait_until(
            lambda: next((e for e in evaluator.history if e.points), None),
            5,
            what="an evaluation with points",
        )
    assert evaluation.value == 40 and evaluation.state is AlertState.NORMAL
    assert _of(recorder, "PotMeanHigh") == []  # (40 is above PotActive's 5: that one fires)


def test_a_missing_database_is_an_execution_error(alertloop_influxdb, recorder: Recorder) -> None:  # type: ignore[no-untyped-def]
    missing = replace(alertloop_influxdb.settings, database=alertloop_influxdb.name + "_missing")
    with AlertEvaluator(missing, recorder.url, "u", "p", **FAST) as evaluator:
        evaluation = evaluator.wait_for_state(AlertState.ERROR, timeout=5)

        def both() -> list[dict] | None:
            last = recorder.posts[-1][2] if recorder.posts else {}
            return last["alerts"] if len(last.get("alerts", [])) == 2 else None

        alerts = wait_until(
            both, 5, what="DatasourceError of both rules", state=lambda: recorder.posts
        )
    assert "database not found" in (evaluation.error or "")
    # both rules failed: one DatasourceError group (grouped by alertname), one alert per rule
    assert {p[2]["groupLabels"]["alertname"] for p in recorder.posts} == {"DatasourceError"}
    assert {a["labels"]["rulename"] for a in alerts} == {"PotMeanHigh", "PotActive"}
    assert all(a["labels"]["ref_id"] == "A" for a in alerts)


def test_the_cli_reads_the_webhook_variables_and_notifies(  # type: ignore[no-untyped-def]
    alertloop_influxdb,
    recorder: Recorder,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from alertloop.sim.alerting.cli import main

    monkeypatch.setenv("ALERTLOOP_WEBHOOK_URL", recorder.url)
    monkeypatch.setenv("ALERTLOOP_WEBHOOK_USER", "from-env")
    monkeypatch.setenv("ALERTLOOP_WEBHOOK_PASSWORD", "env-pw")
    _write(alertloop_influxdb, [70, 75])
    argv = ["--interval", "0.3", "--faster-than-grafana", "--duration", "1.2"]
    argv += [
        "--influx-url",
        alertloop_influxdb.settings.url,
        "--influx-db",
        alertloop_influxdb.name,
        "--legacy",
    ]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "stopped in state Alerting" in out and "(faster than Grafana)" in out
    (_, auth, body), *_ = [p for p in recorder.posts if p[2]["ruleName"] == "PotMeanHigh"]
    assert base64.b64decode(auth.split()[1]) == b"from-env:env-pw"
    assert body["state"] == "alerting" and body["evalMatches"][0]["value"] == pytest.approx(72.5)
