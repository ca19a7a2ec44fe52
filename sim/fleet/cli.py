"""``alertloop sim fleet``: many simulated ESP32s and NodeMCUs from one process.

Prints a status line every ``--report`` seconds and a summary at the end (``--json`` for a
machine-readable one); runs until SIGINT/SIGTERM or ``--duration`` seconds.
"""

from __future__ import annotations

import json
import logging
import signal as signals
import sys
import threading
import time
from dataclasses import asdict

from alertloop.services.common.commands import Command
from alertloop.services.common.config import MQTT_OPTIONS, mqtt_from
from alertloop.services.common.errors import AlertloopError, ConfigError
from alertloop.services.common.settings import (
    Option,
    Values,
    integer,
    non_negative,
    number,
    positive,
)
from alertloop.sim.fleet.config import FleetConfig
from alertloop.sim.fleet.fleet import Fleet
from alertloop.sim.scenario import load_scenario
from alertloop.sim.signals import SPEC_HELP, RandomWalk, Signal, parse_signal

__all__ = ["COMMAND", "main"]

log = logging.getLogger(__name__)
COMMAND = Command(
    "alertloop sim fleet",
    "Many simulated boards in one process, on one event loop.",
    [
        *MQTT_OPTIONS,
        Option("--esp32", "knob boards", type=integer, default=100, check=non_negative),
        Option("--nodemcu", "LED boards", type=integer, default=0, check=non_negative),
        Option("--rate", "publishes per second per ESP32", type=number, default=2.0,
               check=positive),
        Option("--prefix", "the {prefix} of topics", default="fleet"),
        Option("--device-template", "device ids", default="{kind}-{index:04d}"),
        Option("--pot-topic", "ESP32 topic (the ingester's template {prefix}/{device}/pot "
               "stores the device as a tag)", default="{prefix}/{device}/pot"),
        Option("--alert-topic", "NodeMCU topic", default="{prefix}/alert"),
        Option("--signal", f"every knob's signal: {SPEC_HELP} (walk: one per device)",
               metavar="SPEC", default_text="a knob held at 0"),
        Option("--scenario", "every knob follows this scenario (YAML)", metavar="FILE"),
        Option("--noise", "ADC noise in counts", type=number, default=0.0, check=non_negative),
        Option("--seed", "random seed (noise, phases, jitter)", type=integer),
        Option("--json", 'publish {"value","ts","seq"} JSON', boolean=True, default=False),
        Option("--qos", "publish QoS", type=integer, choices=(0, 1), default=0),
        Option("--connect-rate", "connects per second", type=number, default=400.0,
               check=positive),
        Option("--reconnect-interval", "seconds between connection attempts", type=number,
               default=5.0, check=positive),
        Option("--duration", "stop after this many seconds", type=number, check=positive,
               default_text="run until stopped"),
        Option("--report", "seconds between status lines", type=number, default=5.0,
               check=positive),
        Option("--summary-json", "print the summary as JSON", boolean=True, default=False),
    ],
)  # fmt: skip


def _signal_factory(values: Values):  # type: ignore[no-untyped-def]
    if values.signal and values.scenario:
        raise ConfigError(f"{values.source('signal')} and {values.source('scenario')}: give one")
    if values.scenario:
        scenario = load_scenario(values.scenario)
        return lambda index, device: scenario
    if not values.signal:
        return None
    try:
        first = parse_signal(values.signal)
    except ValueError as exc:
        raise values.error("signal", str(exc)) from None
    if isinstance(first, RandomWalk):
        base = first

        def walk(index: int, device: str) -> Signal:
            return RandomWalk(
                base.start, base.step, base.interval, base.seed + index, base.low, base.high
            )

        return walk
    return lambda index, device: first


def main(argv: list[str]) -> int:
    """Run the fleet; 2 for bad usage or settings."""
    try:
        args = COMMAND.parse(argv)
        mqtt = mqtt_from(args)
        config = FleetConfig(
            esp32=args.esp32,
            nodemcu=args.nodemcu,
            rate=args.rate,
            prefix=args.prefix,
            device_template=args.device_template,
            pot_topic=args.pot_topic,
            alert_topic=args.alert_topic,
            qos=args.qos,
            json_payload=args.json,
            noise=args.noise,
            seed=args.seed,
            signal=_signal_factory(args),
            connect_rate=args.connect_rate,
            reconnect_interval=args.reconnect_interval,
        )
    except (AlertloopError, ValueError, OSError) as exc:
        print(f"{COMMAND.prog}: {exc}", file=sys.stderr)
        return 2
    stop = threading.Event()
    previous = {sig: signals.getsignal(sig) for sig in (signals.SIGINT, signals.SIGTERM)}
    for sig in previous:
        signals.signal(sig, lambda *_: stop.set())
    started = time.monotonic()
    try:
        with Fleet(mqtt, config) as fleet:
            print(
                f"fleet {config.run}: {config.esp32} esp32 at {config.rate:g} Hz, "
                f"{config.nodemcu} nodemcu on {mqtt.safe_url}; ingester topic "
                f"{config.ingester_topic!r}",
                flush=True,
            )
            end = None if args.duration is None else started + args.duration
            while True:
                wait = args.report if end is None else min(args.report, end - time.monotonic())
                if stop.wait(max(0.0, wait)):
                    break
                print(f"{time.monotonic() - started:7.1f} s  {fleet.stats().line()}", flush=True)
                if end is not None and time.monotonic() >= end:
                    break
            stats = fleet.stats()
    finally:
        for sig, handler in previous.items():
            signals.signal(sig, handler)
    if args.summary_json:
        print(json.dumps(asdict(stats)))
    else:
        print(f"summary: {stats.line()}")
    return 0
