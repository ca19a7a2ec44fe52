"""The production broker ACL (deploy/mosquitto/acl) enforced by the real mosquitto."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from alertloop.hil.capture import MqttCapture
from alertloop.hil.stack.probes import mqtt_connect_ok

ACL = Path(__file__).resolve().parents[2] / "deploy" / "mosquitto" / "acl"
USERS = {name: f"{name}-pw" for name in ("operator", "esp32", "nodemcu", "ingester", "webhook")}


@pytest.fixture
def prod_broker(alertloop_native_stack_factory):
    return alertloop_native_stack_factory(mqtt_users=USERS, acl_file=ACL).mqtt


def _as(settings, user: str):
    return replace(settings, username=user, password=USERS[user])


def test_anonymous_and_wrong_password_are_refused(prod_broker) -> None:
    assert not mqtt_connect_ok(prod_broker.host, prod_broker.port)
    assert not mqtt_connect_ok(prod_broker.host, prod_broker.port, "webhook", "wrong")


@pytest.mark.parametrize(
    ("user", "topic", "allowed"),
    [
        ("esp32", "/pot", True),
        ("esp32", "/alert", False),
        ("webhook", "/alert", True),
        ("webhook", "/pot", False),
        ("nodemcu", "/alert", False),
        ("ingester", "/pot", False),
    ],
    ids=[
        "esp32-pot",
        "esp32-alert",
        "webhook-alert",
        "webhook-pot",
        "nodemcu-alert",
        "ingester-pot",
    ],
)
def test_who_may_write_what(prod_broker, user: str, topic: str, allowed: bool) -> None:
    client_id = f"{user}-board"
    with (
        MqttCapture(_as(prod_broker, "operator")) as watcher,
        MqttCapture(_as(prod_broker, user), client_id=client_id) as writer,
    ):
        watcher.subscribe("#")
        writer.publish(topic, "1", qos=1)
        writer.publish(f"status/{client_id}", "online", qos=1)
        if allowed:
            watcher.wait_for(topic, timeout=5)
        else:
            # The writer's own presence message proves delivery works; the denied message,
            # published before it on the same connection, would have arrived first.
            watcher.wait_for(f"status/{client_id}", timeout=5)
            assert not watcher.on(topic), f"{user} could write {topic}"


def test_boards_read_only_their_topic(prod_broker) -> None:
    with (
        MqttCapture(_as(prod_broker, "operator")) as operator,
        MqttCapture(_as(prod_broker, "nodemcu")) as board,
    ):
        board.subscribe("/alert")
        board.subscribe("/pot")
        operator.publish("/pot", "42", qos=1)
        with MqttCapture(_as(prod_broker, "webhook")) as webhook:
            webhook.publish("/alert", "1", qos=1, retain=True)
        assert board.wait_for("/alert", timeout=5).payload == b"1"
        assert not board.on("/pot")
