"""``alertloop sim esp32|nodemcu|alerting``: run one simulated piece against given servers.

The boards print their serial console to stdout and run until SIGINT/SIGTERM (or, for the
ESP32, ``--count`` publishes). ``alerting`` is handed to ``alertloop.sim.alerting.cli``.
Flags first, then ``ALERTLOOP_MQTT_URL``, then ``mqtt://127.0.0.1:1883``.
"""

from __future__ import annotations

import argparse
import importlib
import signal
import sys
import threading
from collections.abc import Callable

from alertloop.services.common.config import DEFAULT_MQTT_URL, ENV_MQTT_URL, MqttSettings, setting
from alertloop.services.common.errors import AlertloopError
from alertloop.sim.esp32 import SimEsp32
from alertloop.sim.nodemcu import SimNodeMcu
from alertloop.sim.scenario import load_scenario
from alertloop.sim.serial_log import SerialLog, parse_event
from alertloop.sim.signals import SPEC_HELP, Settable, parse_signal

__all__ = ["main"]

USAGE = """usage: alertloop sim {esp32,nodemcu,fleet,alerting} [options]

  esp32     a simulated knob board publishing to /pot
  nodemcu   a simulated LED board subscribed to /alert
  fleet     many simulated boards in one process
  alerting  the alert evaluator that stands in for Grafana

'alertloop sim BOARD --help' tells more."""


def _common(parser: argparse.ArgumentParser, topic: str) -> None:
    parser.add_argument(
        "--mqtt-url", help=f"broker URL (env {ENV_MQTT_URL}, default {DEFAULT_MQTT_URL})"
    )
    parser.add_argument("--topic", default=topic, help=f"MQTT topic (default {topic})")
    parser.add_argument("--client-id", help="MQTT client id (default: a new unique one)")
    parser.add_argument(
        "--reconnect-interval",
        type=float,
        default=5.0,
        help="seconds between connection attempts (default 5)",
    )
    parser.add_argument(
        "--events", action="store_true", help="also print the machine lines (#AL ...)"
    )


def _esp32_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="alertloop sim esp32", description="Simulated ESP32 knob board."
    )
    _common(parser, "/pot")
    parser.add_argument(
        "--period", type=float, default=0.5, help="seconds between publishes (default 0.5)"
    )
    knob = parser.add_mutually_exclusive_group()
    knob.add_argument("--signal", help=f"knob signal: {SPEC_HELP}")
    knob.add_argument("--scenario", metavar="FILE", help="knob scenario file (YAML)")
    parser.add_argument(
        "--noise", type=float, default=0.0, help="ADC noise, std dev in counts (default 0)"
    )
    parser.add_argument("--seed", type=int, help="random seed for the noise")
    parser.add_argument("--json", action="store_true", help='publish {"value", "ts", "seq"} JSON')
    parser.add_argument(
        "--qos", type=int, choices=(0, 1), default=0, help="publish QoS (default 0, as the sketch)"
    )
    parser.add_argument("--count", type=int, help="stop after this many publishes")
    return parser


def _nodemcu_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="alertloop sim nodemcu", description="Simulated NodeMCU LED board."
    )
    _common(parser, "/alert")
    parser.add_argument(
        "--seed-compat",
        action="store_true",
        help="behave exactly as the seed sketch (an unparseable payload shows green)",
    )
    return parser


def _echo(show_events: bool) -> Callable[[str], None]:
    def echo(line: str) -> None:
        if show_events or parse_event(line) is None:
            print(line, flush=True)

    return echo


def _run_until_signalled(done: Callable[[], bool] | None = None) -> None:
    """Block until SIGINT/SIGTERM (or ``done()``), restoring the handlers afterwards."""
    stop = threading.Event()
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    for sig in previous:
        signal.signal(sig, lambda *_: stop.set())
    try:
        while not stop.wait(0.1):
            if done is not None and done():
                return
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _mqtt(url: str | None) -> MqttSettings:
    return MqttSettings.from_url(setting(url, ENV_MQTT_URL, DEFAULT_MQTT_URL) or DEFAULT_MQTT_URL)


def esp32_main(argv: list[str]) -> int:
    args = _esp32_parser().parse_args(argv)
    knob = parse_signal(args.signal) if args.signal else None
    if args.scenario:
        knob = load_scenario(args.scenario)
    board = SimEsp32(
        _mqtt(args.mqtt_url),
        topic=args.topic,
        client_id=args.client_id,
        period=args.period,
        signal=knob if knob is not None else Settable(0.0),
        noise=args.noise,
        json_payload=args.json,
        seed=args.seed,
        reconnect_interval=args.reconnect_interval,
        qos=args.qos,
        serial=SerialLog(echo=_echo(args.events)),
    )
    count = args.count
    with board:
        _run_until_signalled(None if count is None else lambda: len(board.published) >= count)
    return 0


def nodemcu_main(argv: list[str]) -> int:
    args = _nodemcu_parser().parse_args(argv)
    board = SimNodeMcu(
        _mqtt(args.mqtt_url),
        topic=args.topic,
        client_id=args.client_id,
        seed_compat=args.seed_compat,
        reconnect_interval=args.reconnect_interval,
        serial=SerialLog(echo=_echo(args.events)),
    )
    with board:
        _run_until_signalled()
    return 0


def main(argv: list[str]) -> int:
    """Dispatch ``alertloop sim ...``; returns the exit code (2 for bad usage or settings)."""
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(USAGE)
        return 0 if argv else 2
    command, rest = argv[0], list(argv[1:])
    if command == "alerting":
        module = importlib.import_module("alertloop.sim.alerting.cli")
        return int(module.main(rest) or 0)
    if command == "fleet":
        return int(importlib.import_module("alertloop.sim.fleet.cli").main(rest) or 0)
    commands = {"esp32": esp32_main, "nodemcu": nodemcu_main}
    if command not in commands:
        print(f"alertloop sim: unknown board {command!r}\n\n{USAGE}", file=sys.stderr)
        return 2
    try:
        return commands[command](rest)
    except (AlertloopError, ValueError, OSError) as exc:
        print(f"alertloop sim {command}: {exc}", file=sys.stderr)
        return 2
