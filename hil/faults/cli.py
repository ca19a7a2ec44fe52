"""``alertloop faults proxy|check``: run fault proxies (optionally on a schedule), or check a
schedule file.

``alertloop faults proxy --upstream mqtt=127.0.0.1:1883 --latency-ms 200`` listens on a free
port of 127.0.0.1 (``--port`` to choose one), prints where, and forwards until SIGINT/SIGTERM.
With ``--schedule FILE`` the file's proxy steps play from the start (server steps need a stack
in the same process: use ``alertloop.hil.faults.FaultRunner`` from Python for those).
"""

from __future__ import annotations

import argparse
import signal as signals
import sys
import threading
from contextlib import ExitStack

from alertloop.hil.faults.proxy import FaultProxy
from alertloop.hil.faults.schedule import FaultRunner, FaultSchedule
from alertloop.services.common.errors import AlertloopError

__all__ = ["main"]

USAGE = """usage: alertloop faults {proxy,check} [options]

  proxy   forward 127.0.0.1 ports to servers with latency, stalls, drops... on demand
  check   validate a fault schedule file and print its steps"""


def _upstream(text: str) -> tuple[str, str, int]:
    name, eq, address = text.rpartition("=")
    host, colon, port = address.rpartition(":")
    if not colon or not port.isdigit():
        raise argparse.ArgumentTypeError(f"expected [NAME=]HOST:PORT, got {text!r}")
    return (name if eq else "proxy", host, int(port))


def _proxy_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="alertloop faults proxy", description=__doc__)
    parser.add_argument(
        "--upstream",
        type=_upstream,
        action="append",
        required=True,
        help="[NAME=]HOST:PORT to forward to (loopback only; repeat for several proxies)",
    )
    parser.add_argument("--port", type=int, default=0, help="listen port (one upstream only)")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="added delay per chunk")
    parser.add_argument("--jitter-ms", type=float, default=0.0, help="± uniform jitter")
    parser.add_argument("--bandwidth", type=float, help="bytes/s per direction and connection")
    parser.add_argument("--schedule", help="fault schedule (YAML) to play from the start")
    parser.add_argument(
        "--exit-after-schedule", action="store_true", help="exit when the schedule is done"
    )
    return parser


def proxy_main(argv: list[str]) -> int:
    args = _proxy_parser().parse_args(argv)
    if args.port and len(args.upstream) > 1:
        print("alertloop faults proxy: --port needs a single --upstream", file=sys.stderr)
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
    parser = argparse.ArgumentParser(prog="alertloop faults check")
    parser.add_argument("schedule", help="fault schedule file (YAML)")
    args = parser.parse_args(argv)
    try:
        schedule = FaultSchedule.load(args.schedule)
    except AlertloopError as exc:
        print(f"alertloop faults check: {exc}", file=sys.stderr)
        return 2
    print(f"{args.schedule}: {len(schedule.steps)} steps over {schedule.length:g} s")
    for step in schedule.steps:
        print(f"  +{step.at:6.1f} s  {step.describe()}")
    return 0


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(USAGE)
        return 0 if argv else 2
    commands = {"proxy": proxy_main, "check": check_main}
    if argv[0] not in commands:
        print(f"alertloop faults: unknown command {argv[0]!r}\n\n{USAGE}", file=sys.stderr)
        return 2
    return commands[argv[0]](list(argv[1:]))
