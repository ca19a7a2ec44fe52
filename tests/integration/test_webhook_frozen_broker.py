"""A 503 is not applied later: a broker frozen with SIGSTOP on its own pid, the real mosquitto.

The frozen broker still has the unconfirmed PUBLISH in its socket and processes it when it
wakes; the webhook must bring the retained state back to the last confirmed one, and a retry
of the refused notification must then apply normally.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import requests

from alertloop.services.common.deadline import wait_until
from alertloop.services.webhook.errors import PublishError
from alertloop.services.webhook.examples import at, legacy, unified, unified_alert
from alertloop.services.webhook.payloads import Decision
from alertloop.services.webhook.publisher import MqttPublisher


@contextmanager
def frozen(broker: Any) -> Iterator[None]:
    """The broker process stopped (SIGSTOP) for the block, continued (SIGCONT) after it."""
    assert broker.pid is not None
    os.kill(broker.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(broker.pid, signal.SIGCONT)


def _post(hook: Any, body: Any) -> requests.Response:
    return requests.post(hook.alert_url, json=body, auth=hook.auth, timeout=15)


def _health(hook: Any) -> int:
    return requests.get(f"{hook.url}/healthz", timeout=5).status_code


# (ok notification, alerting notification, QoS): Grafana's unified ones carry times, and the
# retry of the refused one must not be taken for stale.
CASES = {
    "legacy-qos1": (legacy("ok"), legacy("alerting"), 1),
    "legacy-qos2": (legacy("ok"), legacy("alerting"), 2),
    "unified-qos1": (
        unified(unified_alert("resolved", starts=at(0), ends=at(60))),
        unified(unified_alert("firing", starts=at(120))),
        1,
    ),
}


@pytest.mark.parametrize(("ok", "alertloop_alerting", "qos"), CASES.values(), ids=CASES.keys())
def test_a_503_while_the_broker_is_frozen_never_takes_effect(
    alertloop_native_stack_factory: Any,
    alertloop_webhook_factory: Any,
    alertloop_read_retained: Any,
    ok: Any,
    alertloop_alerting: Any,
    qos: int,
) -> None:
    own = alertloop_native_stack_factory()
    broker = own.servers["mqtt"]
    hook = alertloop_webhook_factory(mqtt=own.mqtt, publish_timeout=1.0, qos=qos)
    publisher = hook.server.publisher
    assert _post(hook, ok).status_code == 200  # confirmed: "0"

    with frozen(broker):
        refused = _post(hook, alertloop_alerting)
        assert refused.status_code == 503, refused.text
        assert "acknowledgement" in refused.json()["error"]["message"]
        assert refused.headers["Retry-After"]
        assert publisher.restoring == "0"
        assert _health(hook) == 503  # says so while the broker does not confirm
        again = _post(hook, alertloop_alerting)
        assert again.status_code == 503 and "restored" in again.json()["error"]["message"]

    # The broker wakes and applies the late "1", then the "0" queued right behind it.
    wait_until(
        lambda: publisher.restoring is None and _health(hook) == 200,
        15,
        what="the confirmed state to be acknowledged again",
        state=lambda: publisher.last_event,
    )
    assert publisher.restores == 1
    message = alertloop_read_retained(hook.topic, settings=own.mqtt, qos=2)
    assert (message.payload, message.qos) == (b"0", qos)

    # Grafana sends the refused notification again: it applies normally.
    retry = _post(hook, alertloop_alerting)
    assert retry.status_code == 200 and retry.json()["status"] == "published", retry.text
    assert alertloop_read_retained(hook.topic, settings=own.mqtt).payload == b"1"


def test_a_broker_frozen_past_the_keepalive_is_restored_on_a_new_connection(
    alertloop_native_stack_factory: Any, alertloop_read_retained: Any, alertloop_unique_topic: str
) -> None:
    own = alertloop_native_stack_factory()
    broker = own.servers["mqtt"]
    topic = f"{alertloop_unique_topic}/alert"
    with MqttPublisher(own.mqtt, topic, timeout=1.0, keepalive=1) as publisher:
        publisher.wait_connected(10)
        assert publisher.publish(Decision("legacy", "1", "alerting")).outcome == "published"
        with frozen(broker):
            with pytest.raises(PublishError, match="acknowledgement"):
                publisher.publish(Decision("legacy", "0", "ok"))
            # The keeper gives the silent connection up and tries new ones (not answered).
            wait_until(
                lambda: publisher.last_event is not None and not publisher.last_event.connected,
                10,
                what="the webhook to give up the frozen connection",
            )
            assert publisher.restoring == "1"
        wait_until(
            lambda: publisher.connected,
            15,
            what="the restore on a new connection",
            state=lambda: publisher.last_event,
        )
        assert publisher.restoring is None and publisher.restores == 1
        assert alertloop_read_retained(topic, settings=own.mqtt).payload == b"1"
