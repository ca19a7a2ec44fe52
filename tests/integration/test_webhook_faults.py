"""The webhook under faults: broker stopped or stalled (503, then recovery), many requests at once."""

from __future__ import annotations

import os
import random
import signal
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from alertloop.services.common.deadline import wait_until
from alertloop.services.webhook.examples import at, legacy, unified, unified_alert


def _health(hook: Any) -> int:
    return requests.get(f"{hook.url}/healthz", timeout=5).status_code


def _post(hook: Any, body: Any, session: requests.Session | None = None) -> requests.Response:
    return (session or requests).post(hook.alert_url, json=body, auth=hook.auth, timeout=15)


def test_broker_stopped_503_then_recovers_without_restart(
    alertloop_native_stack_factory: Any,
    alertloop_webhook_factory: Any,
    alertloop_read_retained: Any,
) -> None:
    own = alertloop_native_stack_factory()
    broker = own.servers["mqtt"]
    hook = alertloop_webhook_factory(mqtt=own.mqtt, publish_timeout=1.0)
    assert _post(hook, legacy("alerting")).status_code == 200

    broker.stop()
    wait_until(lambda: _health(hook) == 503, 10, what="healthz to report the broker lost")
    down = _post(hook, legacy("ok"))
    assert down.status_code == 503, down.text
    assert down.headers["Retry-After"] and "broker" in down.json()["error"]["message"]

    broker.start()
    wait_until(
        lambda: _health(hook) == 200, 15, what="the webhook to reconnect", state=broker.log_tail
    )
    assert _post(hook, legacy("ok")).status_code == 200
    assert alertloop_read_retained(hook.topic, settings=own.mqtt).payload == b"0"


def test_stalled_broker_503_and_the_late_publish_never_wins(
    alertloop_native_stack_factory: Any,
    alertloop_webhook_factory: Any,
    alertloop_read_retained: Any,
) -> None:
    own = alertloop_native_stack_factory()
    broker = own.servers["mqtt"]
    hook = alertloop_webhook_factory(mqtt=own.mqtt, publish_timeout=0.5)
    assert _post(hook, legacy("ok")).status_code == 200
    assert broker.pid is not None
    os.kill(broker.pid, signal.SIGSTOP)
    try:
        stalled = _post(hook, legacy("alerting"))
        assert stalled.status_code == 503, stalled.text
        assert "acknowledgement" in stalled.json()["error"]["message"]
    finally:
        os.kill(broker.pid, signal.SIGCONT)
    wait_until(lambda: _health(hook) == 200, 15, what="the webhook to reconnect")
    assert _post(hook, legacy("ok")).status_code == 200
    # The unacknowledged "1" reached the broker late or not at all, never after the "0".
    assert alertloop_read_retained(hook.topic, settings=own.mqtt).payload == b"0"


@pytest.mark.parametrize("kind", ["unified-timed", "legacy-untimed"])
def test_many_concurrent_requests_leave_the_right_state(
    alertloop_webhook_factory: Any, alertloop_read_retained: Any, kind: str
) -> None:
    hook = alertloop_webhook_factory(threads=8)
    count = 120
    if kind == "unified-timed":
        # Times increase with i; the newest (i = count - 1) resolves. Whatever the arrival
        # order, no older firing notification may undo it.
        bodies = [unified(unified_alert("firing", starts=at(i))) for i in range(count - 1)]
        bodies.append(unified(unified_alert("resolved", starts=at(0), ends=at(count))))
    else:
        bodies = [legacy("alerting" if i % 3 else "ok") for i in range(count)]
    random.Random(4).shuffle(bodies)
    with ThreadPoolExecutor(16) as pool, requests.Session() as session:
        answers = list(pool.map(lambda b: _post(hook, b, session), bodies))
    assert [a.status_code for a in answers].count(200) == count
    believed = hook.server.publisher.guard.value
    if kind == "unified-timed":
        assert believed == "0"
        assert {a.json()["status"] for a in answers} <= {"published", "superseded", "stale"}
    # The broker retained exactly the state the service last accepted and published.
    assert alertloop_read_retained(hook.topic).payload == believed.encode()
