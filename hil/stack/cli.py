"""``alertloop stack``: ``up`` starts a stack, prints its ``ALERTLOOP_*`` URLs and runs until
SIGINT/SIGTERM; ``engine`` starts or stops a Podman API service for the docker backend;
``images`` builds the local server images where the official ones cannot be pulled."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from dataclasses import replace

from alertloop.hil.stack.base import StackError
from alertloop.hil.stack.factory import BACKENDS, create_stack
from alertloop.services.common.commands import Command, run_group
from alertloop.services.common.config import DEFAULT_INFLUX_DB, INFLUX_DB, INFLUX_URL, MQTT_URL
from alertloop.services.common.errors import ConfigError
from alertloop.services.common.settings import Option, Values

__all__ = ["SUBCOMMANDS", "main"]

log = logging.getLogger(__name__)
DESCRIPTION = "Start and look after the broker + database stack the other commands talk to."
SUBCOMMANDS: dict[str, tuple[str, str, str]] = {
    "up": ("alertloop.hil.stack.cli", "up_main", "start a stack and keep it running until interrupted"),
    "engine": ("alertloop.hil.stack.cli", "engine_main", "the container engine of the docker backend: status, start, stop"),
    "images": ("alertloop.hil.stack.cli", "images_main", "build the local mosquitto/InfluxDB images (Debian packages) if missing"),
}  # fmt: skip
UP = Command(
    "alertloop stack up",
    "Start a stack, print its ALERTLOOP_* variables and keep it running until SIGINT/SIGTERM.",
    [
        Option("--backend", "where the servers come from", choices=BACKENDS, default="auto",
               alt_env=("ALERTLOOP_STACK",)),
        replace(MQTT_URL, help="external backend: broker URL", default=None),
        replace(INFLUX_URL, help="external backend: InfluxDB URL", default=None),
        replace(INFLUX_DB, help="database name", default=DEFAULT_INFLUX_DB, default_text=None),
        Option("--grafana-url", "external backend: Grafana URL", metavar="URL"),
        Option("--no-grafana", "docker backend: do not start Grafana", boolean=True,
               default=False),
        Option("--env-file", "also write the variables to this file (shell syntax)",
               metavar="FILE"),
    ],
)  # fmt: skip
ENGINE = Command(
    "alertloop stack engine",
    "The container engine of the docker backend: status, start or stop alertloop's own Podman "
    "API service.",
    [
        Option("what", "status, start or stop", positional=True, metavar="{status,start,stop}",
               choices=("status", "start", "stop")),
        Option("--print-env", "start/status: print 'export DOCKER_HOST=...' for a shell to eval",
               boolean=True, default=False),
        Option("--check-clean", "stop: fail if any container of an alertloop stack is left (and "
               "remove it)", boolean=True, default=False),
    ],
)  # fmt: skip
IMAGES = Command(
    "alertloop stack images",
    "Build the local mosquitto/InfluxDB images from Debian's packages if they are missing.",
    [Option("--force", "rebuild even if present", boolean=True, default=False)],
)


def main(argv: list[str]) -> int:
    """Dispatch ``alertloop stack ...``; bare or ``--help``: the help, exit 0."""
    return run_group("alertloop stack", DESCRIPTION, SUBCOMMANDS, argv)


def _parse(command: Command, argv: list[str]) -> Values | int:
    try:
        return command.parse(argv)
    except ConfigError as exc:
        print(f"{command.prog}: {exc}", file=sys.stderr)
        return 2


def up_main(argv: list[str]) -> int:
    """``alertloop stack up``: 2 for bad usage or settings, 1 when the stack fails."""
    args = _parse(UP, argv)
    return args if isinstance(args, int) else _up(args)


def engine_main(argv: list[str]) -> int:
    """``alertloop stack engine status|start|stop``."""
    args = _parse(ENGINE, argv)
    return args if isinstance(args, int) else _engine(args)


def images_main(argv: list[str]) -> int:
    """``alertloop stack images``."""
    args = _parse(IMAGES, argv)
    return args if isinstance(args, int) else _images(args)


def _engine(args: Values) -> int:
    from alertloop.hil.stack.engine import find_engine
    from alertloop.hil.stack.podman_service import running_service, start_service, stop_service

    try:
        if args.what == "stop":
            left = _remove_leftovers() if args.check_clean else []
            stopped = stop_service()
            print("podman service stopped" if stopped else "no podman service of alertloop runs")
            if left:
                print(
                    f"alertloop stack engine: containers left behind (removed now): {', '.join(left)}",
                    file=sys.stderr,
                )
                return 1
            return 0
        if args.what == "start":
            try:
                engine = find_engine()
            except StackError:
                engine = start_service()
        else:
            engine = find_engine()
    except StackError as exc:
        print(f"alertloop stack engine: {exc}", file=sys.stderr)
        return 1
    if args.print_env:
        print(f"export DOCKER_HOST={engine.url}")
    else:
        own = running_service()
        print(engine.describe() + (f" (alertloop's podman service, pid {own})" if own else ""))
    return 0


def _remove_leftovers() -> list[str]:
    """Names of the containers of alertloop stacks still on the engine, removed (or [])."""
    import docker

    from alertloop.hil.stack.docker import LABEL
    from alertloop.hil.stack.engine import find_engine

    try:
        engine = find_engine()
    except StackError:
        return []
    client = docker.DockerClient(base_url=engine.url)
    try:
        left = client.containers.list(all=True, filters={"label": LABEL})
        for container in left:
            container.remove(force=True, v=True)
        return [c.name for c in left]
    finally:
        client.close()


def _images(args: Values) -> int:
    import docker

    from alertloop.hil.stack.engine import find_engine
    from alertloop.hil.stack.images import build_local_images

    try:
        engine = find_engine()
        client = docker.DockerClient(base_url=engine.url)
        try:
            build_local_images(
                client, force=args.force, progress=lambda m: print(f"# {m}", flush=True)
            )
        finally:
            client.close()
    except StackError as exc:
        print(f"alertloop stack images: {exc}", file=sys.stderr)
        return 1
    return 0


def _up(args: Values) -> int:
    backend = args.backend
    stop = threading.Event()

    def _on_signal(signum: int, _frame: object) -> None:
        stop.set()

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, _on_signal)
    try:
        stack = create_stack(
            backend,
            mqtt_url=args.mqtt_url,
            influx_url=args.influx_url,
            database=args.influx_db,
            grafana_url=args.grafana_url,
            grafana=not args.no_grafana,
        )
    except ConfigError as exc:
        print(f"{UP.prog}: {exc}", file=sys.stderr)
        return 2
    try:
        stack.start()
    except (StackError, ConfigError) as exc:
        print(f"{UP.prog}: {exc}", file=sys.stderr)
        return 1
    try:
        lines = [f"{key}={value}" for key, value in stack.env().items()]
        print("\n".join(lines), flush=True)
        if args.env_file:
            with open(args.env_file, "w") as fh:
                fh.write("".join(f"export {line}\n" for line in lines))
        print(
            f"# {stack.backend} stack running; Ctrl-C or SIGTERM stops it",
            file=sys.stderr,
            flush=True,
        )
        while not stop.wait(0.5):
            for name, server in stack.servers.items():
                if not server.running:
                    print(
                        f"{UP.prog}: {name} exited; last log lines:\n{server.log_tail()}",
                        file=sys.stderr,
                    )
                    return 1
    finally:
        stack.stop()
    print("# stack stopped", file=sys.stderr)
    return 0
