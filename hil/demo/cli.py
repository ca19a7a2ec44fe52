"""``alertloop demo``: run the whole loop with simulated boards, live, then summarise and plot."""

from __future__ import annotations

import argparse
import contextlib
import logging
import signal
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from alertloop.hil.demo.live import LiveView
from alertloop.hil.demo.runner import DEFAULT_MARGIN, DemoOptions, DemoRunner
from alertloop.services.common.errors import AlertloopError
from alertloop.services.common.logs import configure_logging

OUTPUT_DIR = Path("demo-output")
EXIT_FAILED, EXIT_ERROR = 1, 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="alertloop demo",
        description=(
            "Start the stack, the ingester, the webhook, the alert evaluator and two simulated "
            "boards; turn the knob through a profile that crosses the threshold and falls back; "
            "show the loop live; check that the LED followed; save a plot."
        ),
    )
    parser.add_argument(
        "--duration",
        type=float,
        help="seconds of knob profile (default 40, or the scenario's length)",
    )
    parser.add_argument(
        "--scenario", type=Path, help="a knob scenario file (YAML steps: hold, ramp, jump, repeat)"
    )
    parser.add_argument("--forever", action="store_true", help="repeat the profile until Ctrl-C")
    parser.add_argument(
        "--interval", type=float, help="evaluation interval in seconds (default 10, like Grafana)"
    )
    parser.add_argument(
        "--faster-than-grafana",
        action="store_true",
        help="allow an --interval under Grafana's 10 s minimum (the summary says so)",
    )
    parser.add_argument(
        "--margin",
        type=float,
        default=DEFAULT_MARGIN,
        help="seconds allowed beyond one interval (default %(default)s)",
    )
    parser.add_argument(
        "--plot", type=Path, help="where to save the PNG (default demo-output/demo-<time>.png)"
    )
    parser.add_argument(
        "--backend", choices=("auto", "native", "docker"), default="auto", help="stack backend"
    )
    parser.add_argument(
        "--boards",
        choices=("sim", "virtual"),
        default="sim",
        help="sim: the Python models; virtual: the real sketches built for Linux (default sim)",
    )
    parser.add_argument("--quiet", action="store_true", help="no live view; only the summary")
    parser.add_argument("--log-level", default="WARNING", help="log level of the services (stderr)")
    return parser


@contextlib.contextmanager
def _signals_interrupt() -> Iterator[None]:
    """Treat SIGTERM and SIGHUP (a closed terminal) like Ctrl-C, so the stack is always cleaned up."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(args.log_level, "text")
    if args.duration is not None and args.duration <= 0:
        print("alertloop demo: --duration must be positive", file=sys.stderr)
        return EXIT_ERROR
    options = DemoOptions(
        duration=args.duration,
        scenario=args.scenario,
        forever=args.forever,
        interval=args.interval,
        faster_than_grafana=args.faster_than_grafana,
        backend=args.backend,
        margin=args.margin,
        boards=args.boards,
    )
    plot_path = args.plot or OUTPUT_DIR / time.strftime("demo-%Y%m%d-%H%M%S.png")
    try:
        runner = DemoRunner(options)
    except AlertloopError as exc:
        print(f"alertloop demo: {exc}", file=sys.stderr)
        return EXIT_ERROR
    view = None if args.quiet else LiveView()
    if view is not None and not view.tty:
        print("alertloop demo: starting the stack, services and boards...", flush=True)
    try:
        with _signals_interrupt():
            result = runner.run(view.update if view else None)
    except AlertloopError as exc:
        print(f"alertloop demo: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("alertloop demo: interrupted", file=sys.stderr)
        return 130
    finally:
        if view is not None:
            view.close()
    from alertloop.hil.demo.plot import save_plot
    from alertloop.hil.demo.summary import summary_lines

    for line in summary_lines(result):
        print(line)
    try:
        print(f"  plot: {save_plot(result, plot_path)}")
    except OSError as exc:
        print(f"alertloop demo: cannot save the plot to {plot_path}: {exc}", file=sys.stderr)
        return EXIT_ERROR
    logging.shutdown()
    return 0 if result.passed else EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
