"""Fault scenarios under fleet load, each on the real servers, each asserting what a user
cares about: nothing published at QoS 1 is lost; QoS 0 losses are counted and fall inside the
fault; every LED shows the right state within a stated time after the fault heals.

Each scenario runs on a stack of its own (servers are stopped and restarted) or behind a fault
proxy of its own. They are bounded (about 20-30 s each) and run in ``make test`` on the native
stack; they are not marked ``e2e``, so the docker pass of ``make test`` does not repeat them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from alertloop.hil.capture import MqttCapture
from alertloop.hil.faults import FaultProxy
from alertloop.hil.faults.accounting import DeliveryReport, delivery_report
from alertloop.hil.influx import TestDatabase
from alertloop.services.common.deadline import Deadline, wait_until
from alertloop.sim.fleet import Fleet

pytestmark = pytest.mark.slow

RATE = 2.0
# After a fault heals: devices retry every 1 s (+ up to 0.5 s jitter), a fleet of a few
# hundred connects in about a second, then the retained /alert arrives on subscribe.
RECONNECT_WITHIN = 10.0
LEDS_WITHIN = 10.0
# The ingester writes at once when InfluxDB answers again; its retries back off to 1 s in tests.
STORED_WITHIN = 30.0
# InfluxDB outage: 10 s here (the ingester's spool and retries are exercised from the first
# failed write); bench/soak.py runs 20 s outages.
INFLUX_OUTAGE = 10.0
# A stall longer than 1.5 x the ingester's keepalive (5 s in tests): the broker drops the
# session and the ingester's reconnection hangs in the stalled proxy until it heals.
STALL = 9.0
# The ingester subscribes before the fleets start, so it misses nothing: the fleets' default
# pot topic {prefix}/{device}/pot with the test's unique_topic as the prefix.
DEVICE_TOPICS = "{prefix}/{{device}}/pot"


def _ms(seconds: float) -> int:
    return int(seconds * 1000)


def _fleets(
    fleet_factory: Callable[..., Fleet], mqtt: Any, qos1: int, qos0: int, nodemcu: int
) -> tuple[Fleet, Fleet | None]:
    common = {"mqtt": mqtt, "rate": RATE, "json_payload": True, "record_published": True}
    reliable = fleet_factory(
        esp32=qos1, nodemcu=nodemcu, qos=1, device_template="q1-{kind}-{index:03d}", **common
    )
    cheap = None
    if qos0:
        cheap = fleet_factory(esp32=qos0, qos=0, device_template="q0-{index:03d}", **common)
    return reliable, cheap


def _publish_retained(mqtt: Any, topic: str, payload: str) -> None:
    """What the webhook does: a retained QoS 1 ``/alert`` (left on the stack's broker)."""
    capture = MqttCapture(mqtt).start()
    try:
        capture.publish(topic, payload, retain=True)
    finally:
        capture.close(clear_retained=False)


def _all_stored(fleet: Fleet, database: TestDatabase) -> DeliveryReport:
    """Wait until every message the fleet published (QoS 1) is stored; return the report."""
    return wait_until(
        lambda: (r := delivery_report(fleet, database.settings)).lost == 0 and r,
        STORED_WITHIN,
        what="every QoS 1 message to be stored",
        state=lambda: delivery_report(fleet, database.settings).line(),
        interval=0.5,
    )


def test_broker_restart_under_fleet_load(
    alertloop_native_stack_factory: Callable[..., Any],
    alertloop_fleet_factory: Callable[..., Fleet],
    alertloop_ingester_factory: Callable[..., Any],
    request: pytest.FixtureRequest,
    alertloop_unique_topic: str,
) -> None:
    own = alertloop_native_stack_factory()
    database = TestDatabase(own.influx, label=request.node.name).create()
    request.addfinalizer(database.drop)
    alertloop_ingester_factory(
        mqtt=own.mqtt,
        influx=database.settings,
        topics=[DEVICE_TOPICS.format(prefix=alertloop_unique_topic)],
    )
    reliable, cheap = _fleets(alertloop_fleet_factory, own.mqtt, qos1=150, qos0=50, nodemcu=20)
    assert cheap is not None
    alert = reliable.nodemcus[0].topic
    _publish_retained(own.mqtt, alert, "1")
    reliable.wait_leds("red", LEDS_WITHIN)
    wait_until(lambda: reliable.stats().acked >= 600, 20, what="load before the fault")

    fault_start = time.time()
    own.servers["mqtt"].stop()  # SIGTERM: mosquitto saves its persistence file
    wait_until(lambda: reliable.stats().connected == 0, 10, what="the fleet to notice")
    own.servers["mqtt"].start()
    healed = time.time()

    reliable.wait_connected(RECONNECT_WITHIN)
    cheap.wait_connected(RECONNECT_WITHIN)
    # the retained alert survived the restart and every LED shows it again
    reliable.wait_leds("red", LEDS_WITHIN)
    _publish_retained(own.mqtt, alert, "0")
    changes = reliable.wait_leds("green", LEDS_WITHIN, since=healed)
    assert max(c.time for c in changes.values()) - healed < RECONNECT_WITHIN + LEDS_WITHIN

    wait_until(lambda: min(d.published for d in cheap.esp32s) >= 20, 20, what="load after")
    reliable.stop()
    cheap.stop()
    report1 = _all_stored(reliable, database)
    assert report1.published == report1.acked == report1.stored
    assert reliable.stats().failed == 0
    report0 = delivery_report(cheap, database.settings)
    # QoS 0 may lose what was in flight when the broker went away (written to a socket the
    # broker never read); every loss must fall between just before the stop and the heal.
    print(f"QoS 1: {report1.line()}\nQoS 0: {report0.line()}")
    assert report0.lost == report0.lost_between(_ms(fault_start) - 2000, _ms(healed))
    assert report0.lost <= 50 * RATE * 3  # at most a few seconds' worth of the QoS 0 devices


def test_influxdb_outage_under_load_is_spooled_and_written_once_back(
    alertloop_native_stack_factory: Callable[..., Any],
    alertloop_fleet_factory: Callable[..., Fleet],
    alertloop_ingester_factory: Callable[..., Any],
    request: pytest.FixtureRequest,
    alertloop_unique_topic: str,
) -> None:
    own = alertloop_native_stack_factory()
    database = TestDatabase(own.influx, label=request.node.name).create()
    request.addfinalizer(database.drop)
    ingester = alertloop_ingester_factory(
        mqtt=own.mqtt,
        influx=database.settings,
        topics=[DEVICE_TOPICS.format(prefix=alertloop_unique_topic)],
    )
    reliable, _ = _fleets(alertloop_fleet_factory, own.mqtt, qos1=100, qos0=0, nodemcu=0)
    wait_until(lambda: reliable.stats().acked >= 400, 20, what="load before the fault")

    own.servers["influxdb"].stop()
    outage = Deadline(INFLUX_OUTAGE)
    wait_until(
        lambda: not ingester.health()[0] and ingester.stats["spool_lines"] > 0,
        INFLUX_OUTAGE,
        what="the ingester to report InfluxDB down and spool",
        state=lambda: ingester.health(),
    )
    before = ingester.stats["received"]
    # the outage lasts INFLUX_OUTAGE s, and the ingester keeps taking the load all along
    wait_until(
        lambda: (
            outage.expired
            and ingester.stats["received"] >= before + 100 * RATE * (INFLUX_OUTAGE - 3)
        ),
        INFLUX_OUTAGE + 5,
        what="the outage to last while the ingester keeps receiving",
        state=lambda: ingester.stats,
    )
    assert ingester.stats["spool_lines"] > 100 * RATE * (INFLUX_OUTAGE - 3)
    own.servers["influxdb"].start()
    healed = time.monotonic()
    wait_until(lambda: ingester.health()[0], STORED_WITHIN, what="the ingester healthy again")
    reliable.stop()
    report = _all_stored(reliable, database)
    print(f"{report.line()}; back to healthy and stored in {time.monotonic() - healed:.1f} s")
    assert report.published == report.acked == report.stored and report.extra == 0
    assert ingester.stats["write_failures"] > 0  # the outage was seen, not slept through


def test_a_stalled_link_to_the_ingester_loses_nothing(
    alertloop_fleet_factory: Callable[..., Fleet],
    alertloop_ingester_factory: Callable[..., Any],
    alertloop_fault_proxy: FaultProxy,
    alertloop_mqtt_broker: Any,
    alertloop_influxdb: TestDatabase,
    alertloop_unique_topic: str,
) -> None:
    ingester = alertloop_ingester_factory(
        mqtt=alertloop_fault_proxy.mqtt_settings(alertloop_mqtt_broker),
        topics=[DEVICE_TOPICS.format(prefix=alertloop_unique_topic)],
    )
    reliable, _ = _fleets(
        alertloop_fleet_factory, alertloop_mqtt_broker, qos1=100, qos0=0, nodemcu=0
    )
    wait_until(lambda: ingester.stats["acked"] >= 300, 20, what="load before the fault")

    alertloop_fault_proxy.stall()
    wait_until(
        lambda: not ingester.connected,
        STALL,
        what="the ingester to notice the stalled link",
        state=lambda: ingester.stats,
    )
    stalled_at = ingester.stats["received"]
    wait_until(
        lambda: reliable.stats().acked >= 300 + 100 * RATE * STALL / 2,
        STALL + 5,
        what="load during the stall",
    )
    assert ingester.stats["received"] == stalled_at  # nothing came through the stalled link
    alertloop_fault_proxy.heal()
    healed = time.monotonic()
    ingester.wait_connected(RECONNECT_WITHIN)
    reliable.stop()
    report = _all_stored(reliable, alertloop_influxdb)
    print(f"{report.line()}; stored {time.monotonic() - healed:.1f} s after the heal")
    assert report.published == report.acked == report.stored


def test_a_webhook_outage_during_an_alert_turns_every_led_red_after_it(
    alertloop_fleet_factory: Callable[..., Fleet],
    alertloop_ingester_factory: Callable[..., Any],
    alertloop_alerting_factory: Callable[..., Any],
    alertloop_webhook: Any,
    alertloop_fault_proxy_factory: Callable[..., FaultProxy],
    alertloop_mqtt_capture: MqttCapture,
    alertloop_unique_topic: str,
) -> None:
    alertloop_ingester_factory(topics=[DEVICE_TOPICS.format(prefix=alertloop_unique_topic)])
    knobs, _ = _fleets(alertloop_fleet_factory, None, qos1=10, qos0=0, nodemcu=20)
    host, port = _host_port(alertloop_webhook.url)
    proxy = alertloop_fault_proxy_factory(host, port, name="webhook")
    proxy.refuse()  # the webhook is unreachable for the whole alert
    evaluator = alertloop_alerting_factory(webhook_url=f"{proxy.url()}/alert")
    alertloop_mqtt_capture.subscribe(alertloop_webhook.topic)
    knobs.set_knob(90)
    evaluator.wait_for_state("Alerting", evaluator.rule.window + 10)
    alertloop_mqtt_capture.assert_no_message(alertloop_webhook.topic, within=2.0)
    assert not any(led.name == "red" for led in knobs.leds().values())

    proxy.heal()
    healed = time.time()
    # the notifier retries with a backoff of at most 5 s; then one retained publish
    changes = knobs.wait_leds("red", 5.0 + LEDS_WITHIN, since=healed)
    print(f"all 20 LEDs red {max(c.time for c in changes.values()) - healed:.1f} s after the heal")
    knobs.set_knob(0)
    knobs.wait_leds("green", evaluator.rule.window + evaluator.interval + LEDS_WITHIN)


def _host_port(url: str) -> tuple[str, int]:
    host, _, port = url.split("//", 1)[1].rstrip("/").rpartition(":")
    return host, int(port)
