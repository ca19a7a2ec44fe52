"""``alertloop faults proxy|check``: run fault proxies (optionally on a schedule), or check a
schedule file.

``alertloop faults proxy --upstream mqtt=127.0.0.1:1883 --latency-ms 200`` listens on a free
port of 127.0.0.1 (``--port`` to choose one), prints where, and forwards until SIGINT/SIGTERM.
With ``--schedule FILE`` the file's proxy steps play from the start (server steps need a stack
in the same process: use ``alertloop.hil.faults.FaultRunner`` from Python for those).
"""

from __future__ import annotations

import logging
import signal as signals
import sys
import threading
from contextlib import ExitStack

from alertloop.hil.faults.proxy import FaultProxy
from alertloop.hil.faults.schedule import FaultRunner, FaultSchedule
from alertloop.services.common.commands import Command, run_group
from alertloop.services.common.errors import AlertloopError, ConfigError
from alertloop.services.common.settings import Option, listen_port, non_negative, number, positive

__all__ = ["SUBCOMMANDS", "main"]

log = logging.getLogger(__name__)
PROXY_DESCRIPTION = (
    "Forward ports of 127.0.0.1 to servers with latency, jitter, bandwidth limits, stalls and "
    "drops. With --schedule FILE the file's proxy steps play from the start (server steps need "
    "a stack in the same process: use FaultRunner from Python for those)."
)
DESCRIPTION = "Network faults between the loop's pieces: proxies and fault schedules."
SUBCOMMANDS: dict[str, tuple[str, str, str]] = {
    "proxy": ("alertloop.hil.faults.cli", "proxy_main",
              "forward 127.0.0.1 ports to servers with latency, stalls, drops... on demand"),
    "check": ("alertloop.hil.faults.cli", "check_main",
              "validate a fault schedule file and print its steps"),
}  # fmt: skip


def _upstream(text: str) -> tuple[str, str, int]:
    name, eq, address = text.rpartition("=")
    host, colon, port = address.rpartition(":")
    if not colon or not port.isdigit():
        raise ValueError(f"expected [NAME=]HOST:PORT, got {text!r}")
    return (name if eq else "proxy", host, int(port))


PROXY = Command(
    "alertloop faults proxy",
    PROXY_DESCRIPTION,
    [
        Option("--upstream", "[NAME=]HOST:PORT to forward to (loopback only; repeat for several "
               "proxies; variable: comma-separated)", type=_upstream, multiple=True, default=[],
               required=True, metavar="[NAME=]HOST:PORT", default_text="none, required"),
        Option("--port", "listen port (one upstream only; 0: a free one)", type=listen_port, default=0,
               metavar="INT"),
        Option("--latency-ms", "added delay per chunk (ms)", type=number, default=0.0,
               check=non_negative),
        Option("--jitter-ms", "± uniform jitter (ms)", type=number, default=0.0,
               check=non_negative),
        Option("--bandwidth", "bytes/s per direction and connection", type=number,
               check=positive, default_text="unlimited"),
        Option("--schedule", "fault schedule (YAML) to play from the start", metavar="FILE"),
        Option("--exit-after-schedule", "exit when the schedule is done", boolean=True,
               default=False),
    ],
)  # fmt: skip
CHECK = Command(
    "alertloop faults check",
    "Validate a fault schedule file and print its steps.",
    [Option("schedule", "fault schedule file (YAML)", positional=True, metavar="SCHEDULE")],
)


def proxy_main(argv: list[str]) -> int:
    """Run the proxies until SIGINT/SIGTERM; 2 for bad usage or settings."""
    try:
        args = PROXY.parse(argv)
    except ConfigError as exc:
        print(f"{PROXY.prog}: {exc}", file=sys.stderr)
        return 2
    if args.port and len(args.upstream) > 1:
        print(f"{PROXY.prog}: --port needs a single --upstream", file=sys.stderr)
        return 2
    stop = threading.Event()
    previous = {sig: signals.getsignal(sig) for sig in (signals.SIGINT, signals.SIGTERM)}
    try:
        schedule = FaultSchedule.load(args.schedule) if args.schedule else None
        with ExitStack() as stack:
            proxies: dict[str, FaultProxy] = {}
            for name, host, port in args.upstream:
                proxy = FaultProxy(
                    host,
                    port,
                    port=args.port,
                    name=name,
                    latency=args.latency_ms / 1000,
                    jitter=args.jitter_ms / 1000,
                    bandwidth=args.bandwidth,
                )
                proxies[name] = stack.enter_context(proxy)
                print(f"proxy {name}: {proxy.host}:{proxy.port} -> {host}:{port}", flush=True)
            runner = None
            if schedule is not None:
                runner = stack.enter_context(FaultRunner(schedule, proxies))
            for sig in previous:
                signals.signal(sig, lambda *_: stop.set())
            shown = 0
            while not stop.wait(0.2):
                if runner is not None:
                    for event in runner.events[shown:]:
                        status = f" FAILED {event.error}" if event.error else ""
                        print(
                            f"+{event.time - (runner.started_at or 0):6.1f} s  {event.step.describe()}{status}",
                            flush=True,
                        )
                    shown = len(runner.events)
                    if args.exit_after_schedule and runner.done:
                        break
    except (AlertloopError, ValueError, OSError) as exc:
        print(f"alertloop faults proxy: {exc}", file=sys.stderr)
        return 2
    finally:
        for sig, handler in previous.items():
            signals.signal(sig, handler)
    return 0


def check_main(argv: list[str]) -> int:
    """Check a schedule file; 2 when it is not valid."""
    try:
        args = CHECK.parse(argv)
        schedule = FaultSchedule.load(args.schedule)
    except AlertloopError as exc:
        print(f"alertloop faults check: {exc}", file=sys.stderr)
        return 2
    print(f"{args.schedule}: {len(schedule.steps)} steps over {schedule.length:g} s")
    for step in schedule.steps:
        print(f"  +{step.at:6.1f} s  {step.describe()}")
    return 0


def main(argv: list[str]) -> int:
    """Dispatch ``alertloop faults ...``; bare or ``--help``: the help, exit 0."""
    return run_group("alertloop faults", DESCRIPTION, SUBCOMMANDS, argv)
