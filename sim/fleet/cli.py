"""``alertloop sim fleet``: many simulated ESP32s and NodeMCUs from one process.

Prints a status line every ``--report`` seconds and a summary at the end (``--json`` for a
machine-readable one); runs until SIGINT/SIGTERM or ``--duration`` seconds.
"""

from __future__ import annotations

import argparse
import json
import signal as signals
import sys
import threading
import time
from dataclasses import asdict

from alertloop.services.common.config import DEFAULT_MQTT_URL, ENV_MQTT_URL, MqttSettings, setting
from alertloop.services.common.errors import AlertloopError
from alertloop.sim.fleet.config import FleetConfig
from alertloop.sim.fleet.fleet import Fleet
from alertloop.sim.scenario import load_scenario
from alertloop.sim.signals import SPEC_HELP, RandomWalk, Signal, parse_signal

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="alertloop sim fleet",
        description="Many simulated boards in one process, on one event loop.",
    )
    parser.add_argument(
        "--mqtt-url", help=f"broker URL (env {ENV_MQTT_URL}, default {DEFAULT_MQTT_URL})"
    )
    parser.add_argument("--esp32", type=int, default=100, help="knob boards (default 100)")
    parser.add_argument("--nodemcu", type=int, default=0, help="LED boards (default 0)")
    parser.add_argument(
        "--rate", type=float, default=2.0, help="publishes per second per ESP32 (default 2)"
    )
    parser.add_argument("--prefix", default="fleet", help="the {prefix} of topics (default fleet)")
    parser.add_argument(
        "--device-template", default="{kind}-{index:04d}", help="device ids (default %(default)s)"
    )
    parser.add_argument(
        "--pot-topic",
        default="{prefix}/{device}/pot",
        help="ESP32 topic (default %(default)s; the ingester's template {prefix}/{device}/pot "
        "stores the device as a tag)",
    )
    parser.add_argument(
        "--alert-topic", default="{prefix}/alert", help="NodeMCU topic (default %(default)s)"
    )
    knob = parser.add_mutually_exclusive_group()
    knob.add_argument("--signal", help=f"every knob's signal: {SPEC_HELP} (walk: one per device)")
    knob.add_argument("--scenario", metavar="FILE", help="every knob follows this scenario (YAML)")
    parser.add_argument("--noise", type=float, default=0.0, help="ADC noise in counts (default 0)")
    parser.add_argument("--seed", type=int, help="random seed (noise, phases, jitter)")
    parser.add_argument("--json", action="store_true", help='publish {"value","ts","seq"} JSON')
    parser.add_argument(
        "--qos", type=int, choices=(0, 1), default=0, help="publish QoS (default 0)"
    )
    parser.add_argument(
        "--connect-rate", type=float, default=400.0, help="connects per second (default 400)"
    )
    parser.add_argument(
        "--reconnect-interval", type=float, default=5.0, help="seconds between attempts (default 5)"
    )
    parser.add_argument("--duration", type=float, help="stop after this many seconds")
    parser.add_argument(
        "--report", type=float, default=5.0, help="seconds between status lines (default 5)"
    )
    parser.add_argument("--summary-json", action="store_true", help="print the summary as JSON")
    return parser


def _signal_factory(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    if args.scenario:
        scenario = load_scenario(args.scenario)
        return lambda index, device: scenario
    if not args.signal:
        return None
    first = parse_signal(args.signal)
    if isinstance(first, RandomWalk):
        base = first

        def walk(index: int, device: str) -> Signal:
            return RandomWalk(
                base.start, base.step, base.interval, base.seed + index, base.low, base.high
            )

        return walk
    return lambda index, device: first


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    try:
        mqtt = MqttSettings.from_url(
            setting(args.mqtt_url, ENV_MQTT_URL, DEFAULT_MQTT_URL) or DEFAULT_MQTT_URL
        )
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
        print(f"alertloop sim fleet: {exc}", file=sys.stderr)
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
