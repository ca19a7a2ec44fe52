"""``alertloop stack``: ``up`` starts a stack, prints its ``ALERTLOOP_*`` URLs and runs until
SIGINT/SIGTERM; ``engine`` starts or stops a Podman API service for the docker backend;
``images`` builds the local server images where the official ones cannot be pulled."""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from alertloop.hil.stack.base import StackError
from alertloop.hil.stack.factory import BACKENDS, create_stack
from alertloop.services.common.config import ENV_INFLUX_DB, ENV_INFLUX_URL, ENV_MQTT_URL, setting
from alertloop.services.common.errors import ConfigError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="alertloop stack", description=__doc__)
    sub = parser.add_subparsers(dest="action", required=True)
    up = sub.add_parser("up", help="start a stack and keep it running until interrupted")
    up.add_argument(
        "--backend",
        choices=BACKENDS,
        default=None,
        help="where the servers come from (default: $ALERTLOOP_STACK or auto)",
    )
    up.add_argument("--mqtt-url", help=f"external backend: broker URL (or ${ENV_MQTT_URL})")
    up.add_argument("--influx-url", help=f"external backend: InfluxDB URL (or ${ENV_INFLUX_URL})")
    up.add_argument("--influx-db", help=f"database name (or ${ENV_INFLUX_DB}; default iot)")
    up.add_argument("--grafana-url", help="external backend: Grafana URL")
    up.add_argument(
        "--no-grafana", action="store_true", help="docker backend: do not start Grafana"
    )
    up.add_argument("--env-file", help="also write the variables to this file (shell syntax)")
    engine = sub.add_parser(
        "engine", help="the container engine of the docker backend: status, start, stop"
    )
    engine.add_argument("what", choices=("status", "start", "stop"))
    engine.add_argument(
        "--print-env",
        action="store_true",
        help="start/status: print `export DOCKER_HOST=...` for a shell to eval",
    )
    engine.add_argument(
        "--check-clean",
        action="store_true",
        help="stop: fail if any container of an alertloop stack is left (and remove it)",
    )
    images = sub.add_parser(
        "images", help="build the local mosquitto/InfluxDB images (Debian packages) if missing"
    )
    images.add_argument("--force", action="store_true", help="rebuild even if present")
    return parser


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    if args.action == "engine":
        return _engine(args)
    if args.action == "images":
        return _images(args)
    return _up(args)


def _engine(args: argparse.Namespace) -> int:
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


def _images(args: argparse.Namespace) -> int:
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


def _up(args: argparse.Namespace) -> int:
    backend = setting(args.backend, "ALERTLOOP_STACK", "auto") or "auto"
    stop = threading.Event()

    def _on_signal(signum: int, _frame: object) -> None:
        stop.set()

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, _on_signal)
    try:
        stack = create_stack(
            backend,
            mqtt_url=setting(args.mqtt_url, ENV_MQTT_URL),
            influx_url=setting(args.influx_url, ENV_INFLUX_URL),
            database=setting(args.influx_db, ENV_INFLUX_DB, "iot"),
            grafana_url=args.grafana_url,
            grafana=not args.no_grafana,
        )
        stack.start()
    except (StackError, ConfigError) as exc:
        print(f"alertloop stack: {exc}", file=sys.stderr)
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
                        f"alertloop stack: {name} exited; last log lines:\n{server.log_tail()}",
                        file=sys.stderr,
                    )
                    return 1
    finally:
        stack.stop()
    print("# stack stopped", file=sys.stderr)
    return 0
