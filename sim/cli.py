"""``alertloop sim esp32|nodemcu|fleet|alerting``: run one simulated piece against given servers.

The boards print their serial console to stdout and run until SIGINT/SIGTERM (or, for the
ESP32, ``--count`` publishes). ``fleet`` and ``alerting`` live in their own modules, imported
only when used. Flags first, then ``ALERTLOOP_*`` variables, then defaults.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from collections.abc import Callable

from alertloop.services.common.commands import Command, run_group
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
from alertloop.sim.esp32 import SimEsp32
from alertloop.sim.nodemcu import SimNodeMcu
from alertloop.sim.scenario import load_scenario
from alertloop.sim.serial_log import SerialLog, parse_event
from alertloop.sim.signals import SPEC_HELP, Settable, parse_signal

__all__ = ["SUBCOMMANDS", "main"]

log = logging.getLogger(__name__)
DESCRIPTION = "Run one simulated piece of the loop against given servers."
# subcommand -> ("module", "function", one-line help), imported only when used.
SUBCOMMANDS: dict[str, tuple[str, str, str]] = {
    "esp32": ("alertloop.sim.cli", "esp32_main", "a simulated knob board publishing to /pot"),
    "nodemcu": ("alertloop.sim.cli", "nodemcu_main", "a simulated LED board subscribed to /alert"),
    "fleet": ("alertloop.sim.fleet.cli", "main", "many simulated boards in one process"),
    "alerting": (
        "alertloop.sim.alerting.cli",
        "main",
        "the alert evaluator that stands in for Grafana",
    ),
}


def _common(topic: str) -> list[Option]:
    return [
        *MQTT_OPTIONS,
        Option("--topic", "MQTT topic", default=topic),
        Option("--client-id", "MQTT client id", default_text="a new unique one"),
        Option("--reconnect-interval", "seconds between connection attempts", type=number,
               default=5.0, check=positive),
        Option("--events", "also print the machine lines (#AL ...)", boolean=True, default=False),
    ]  # fmt: skip


ESP32 = Command(
    "alertloop sim esp32",
    "Simulated ESP32 knob board.",
    [
        *_common("/pot"),
        Option("--period", "seconds between publishes", type=number, default=0.5, check=positive),
        Option("--signal", f"knob signal: {SPEC_HELP}", metavar="SPEC", default_text="0"),
        Option("--scenario", "knob scenario file (YAML)", metavar="FILE"),
        Option("--noise", "ADC noise, std dev in counts", type=number, default=0.0,
               check=non_negative),
        Option("--seed", "random seed for the noise", type=integer),
        Option("--json", 'publish {"value", "ts", "seq"} JSON', boolean=True, default=False),
        Option("--qos", "publish QoS (the sketch's is 0)", type=integer, choices=(0, 1), default=0),
        Option("--count", "stop after this many publishes", type=integer, check=positive,
               default_text="run until stopped"),
    ],
)  # fmt: skip
NODEMCU = Command(
    "alertloop sim nodemcu",
    "Simulated NodeMCU LED board.",
    [
        *_common("/alert"),
        Option("--seed-compat", "behave exactly as the seed sketch (an unparseable payload "
               "shows green)", boolean=True, default=False),
    ],
)  # fmt: skip


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


def _knob(values: Values):  # type: ignore[no-untyped-def]
    if values.signal and values.scenario:
        raise ConfigError(f"{values.source('signal')} and {values.source('scenario')}: give one")
    if values.scenario:
        return load_scenario(values.scenario)
    try:
        return parse_signal(values.signal) if values.signal else None
    except ValueError as exc:
        raise values.error("signal", str(exc)) from None


def esp32_main(argv: list[str]) -> int:
    """``alertloop sim esp32``: 2 for bad usage or settings."""
    try:
        values = ESP32.parse(argv)
        knob = _knob(values)
        board = SimEsp32(
            mqtt_from(values),
            topic=values.topic,
            client_id=values.client_id,
            period=values.period,
            signal=knob if knob is not None else Settable(0.0),
            noise=values.noise,
            json_payload=values.json,
            seed=values.seed,
            reconnect_interval=values.reconnect_interval,
            qos=values.qos,
            serial=SerialLog(echo=_echo(values.events)),
        )
    except (AlertloopError, ValueError, OSError) as exc:
        print(f"{ESP32.prog}: {exc}", file=sys.stderr)
        return 2
    count = values.count
    with board:
        _run_until_signalled(None if count is None else lambda: len(board.published) >= count)
    return 0


def nodemcu_main(argv: list[str]) -> int:
    """``alertloop sim nodemcu``: 2 for bad usage or settings."""
    try:
        values = NODEMCU.parse(argv)
        board = SimNodeMcu(
            mqtt_from(values),
            topic=values.topic,
            client_id=values.client_id,
            seed_compat=values.seed_compat,
            reconnect_interval=values.reconnect_interval,
            serial=SerialLog(echo=_echo(values.events)),
        )
    except (AlertloopError, ValueError, OSError) as exc:
        print(f"{NODEMCU.prog}: {exc}", file=sys.stderr)
        return 2
    with board:
        _run_until_signalled()
    return 0


def main(argv: list[str]) -> int:
    """Dispatch ``alertloop sim ...``; bare or ``--help``: the help, exit 0; 2 for bad usage."""
    return run_group("alertloop sim", DESCRIPTION, SUBCOMMANDS, argv)
