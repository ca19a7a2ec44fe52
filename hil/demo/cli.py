"""``alertloop demo``: run the whole loop with simulated boards, live, then summarise and plot."""

from __future__ import annotations

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
from alertloop.hil.extras import missing_extra
from alertloop.services.common.commands import Command
from alertloop.services.common.config import LOG_LEVEL
from alertloop.services.common.errors import AlertloopError, ConfigError
from alertloop.services.common.logs import configure_logging
from alertloop.services.common.settings import Option, non_negative, number, positive

log = logging.getLogger(__name__)
OUTPUT_DIR = Path("demo-output")
EXIT_FAILED, EXIT_ERROR = 1, 2
COMMAND = Command(
    "alertloop demo",
    "Start the stack, the ingester, the webhook, the alert evaluator and two simulated boards; "
    "turn the knob through a profile that crosses the threshold and falls back; show the loop "
    "live; check that the LED followed; save a plot.",
    [
        Option("--duration", "seconds of knob profile", type=number, check=positive,
               default_text="40, or the scenario's length"),
        Option("--scenario", "a knob scenario file (YAML steps: hold, ramp, jump, repeat)",
               type=Path, metavar="FILE"),
        Option("--forever", "repeat the profile until Ctrl-C", boolean=True, default=False),
        Option("--interval", "evaluation interval in seconds", type=number,
               default_text="10, like Grafana"),
        Option("--faster-than-grafana", "allow an --interval under Grafana's 10 s minimum (the "
               "summary says so)", boolean=True, default=False),
        Option("--margin", "seconds allowed beyond one interval", type=number,
               default=DEFAULT_MARGIN, check=non_negative),
        Option("--plot", "where to save the PNG", type=Path, metavar="FILE",
               default_text="demo-output/demo-<time>.png"),
        Option("--backend", "stack backend", choices=("auto", "native", "docker"),
               default="auto"),
        Option("--boards", "sim: the Python models; virtual: the real sketches built for Linux",
               choices=("sim", "virtual"), default="sim"),
        Option("--quiet", "no live view; only the summary", boolean=True, default=False),
        LOG_LEVEL.with_default("WARNING"),
    ],
)  # fmt: skip


def build_parser():  # type: ignore[no-untyped-def]
    """The argument parser (help and usage errors)."""
    return COMMAND.parser()


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
    """Run the demo: 0 when the LED followed the knob, 1 when it did not or the run failed, 2
    for bad usage or settings, 130 when interrupted."""
    try:
        args = COMMAND.parse(argv)
    except ConfigError as exc:
        print(f"{COMMAND.prog}: {exc}", file=sys.stderr)
        return EXIT_ERROR
    configure_logging(args.log_level, "text")
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
    except ConfigError as exc:
        print(f"alertloop demo: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except AlertloopError as exc:
        print(f"alertloop demo: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("alertloop demo: interrupted", file=sys.stderr)
        return 130
    finally:
        if view is not None:
            view.close()
    from alertloop.hil.demo.summary import summary_lines

    for line in summary_lines(result):
        print(line)
    try:
        from alertloop.hil.demo.plot import save_plot
    except ModuleNotFoundError as exc:  # the plot extra is not installed: no PNG, same verdict
        print(f"  plot: none; it {missing_extra(exc) or exc}")
        logging.shutdown()
        return 0 if result.passed else EXIT_FAILED
    try:
        print(f"  plot: {save_plot(result, plot_path)}")
    except OSError as exc:
        print(f"alertloop demo: cannot save the plot to {plot_path}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    logging.shutdown()
    return 0 if result.passed else EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
