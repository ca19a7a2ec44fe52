"""``alertloop deploy init DIR``: write a ready-to-run deploy directory with fresh secrets.

Exit codes: 0 written; 2 usage (a bad option, no checkout, root as the owner); 1 failures
(a directory that already holds a deploy and no ``--force``, a file or mosquitto_passwd failing).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from alertloop.services.deploy.credentials import find_mosquitto_passwd
from alertloop.services.deploy.errors import DeployError, DeployUsageError
from alertloop.services.deploy.layout import DeployOptions, default_source
from alertloop.services.deploy.writer import InitReport, init_deploy

PROG = "alertloop deploy"


def _owner(text: str) -> tuple[int, int]:
    user, sep, group = text.partition(":")
    try:
        return int(user), int(group if sep else user)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected UID:GID (numbers), got {text!r}") from None


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        port = 0
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port 1-65535, got {text!r}")
    return port


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Prepare a deploy of the alert loop (docs/deploy.md).",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    init = sub.add_parser(
        "init",
        help="write a deploy directory: settings, random secrets, configs",
        description=(
            "Write DIR for 'docker compose up' (and the files a host without Docker needs): "
            ".env and alertloop.env (settings), secrets/ (random passwords, mosquitto's "
            "password file, the webhook's users file; 0600), the compose file, mosquitto's "
            "config and ACL, Grafana's provisioning, the systemd units, the data directories. "
            "Refuses a directory that already holds these files unless --force."
        ),
    )
    init.add_argument("directory", metavar="DIR", type=Path, help="the deploy directory")
    init.add_argument(
        "--force", action="store_true", help="replace existing files, secrets included"
    )
    init.add_argument(
        "--owner",
        type=_owner,
        metavar="UID:GID",
        help="owner of the files and user of the containers (default: yours; required as root)",
    )
    init.add_argument(
        "--source",
        type=Path,
        metavar="CHECKOUT",
        help="the alertloop checkout with deploy/ (default: the one this package is installed "
        "from, or the current directory)",
    )
    init.add_argument("--influx-db", default="iot", help="InfluxDB database (default iot)")
    init.add_argument(
        "--mqtt-port", type=_port, default=1883, help="host port of the broker (default 1883)"
    )
    init.add_argument(
        "--grafana-port", type=_port, default=3000, help="host port of Grafana (default 3000)"
    )
    init.add_argument(
        "--image",
        default="alertloop:latest",
        help="name of the services' image that compose builds (default alertloop:latest)",
    )
    init.add_argument(
        "--builtin-hash",
        action="store_true",
        help="hash the MQTT passwords here even when mosquitto_passwd is installed",
    )
    return parser


def _print_report(report: InitReport, owner: tuple[int, int]) -> None:
    d = report.directory
    others = [p for p in report.written if p not in report.secrets]
    print(f"{PROG} init: wrote {d}")
    for path in others:
        if not path.startswith(("grafana/provisioning/", "systemd/")):
            print(f"  {path}")
    for prefix in ("grafana/provisioning/", "systemd/"):
        count = sum(p.startswith(prefix) for p in others)
        if count:
            print(f"  {prefix} ({count} files)")
    for path in report.secrets:
        print(f"  {path}  (secret, 0600)")
    print(f"  owner {owner[0]}:{owner[1]}; MQTT passwords hashed by {report.hasher}")
    for rel in report.kept_data:
        print(f"  kept {rel}/ as it was", end="")
        if rel == "data/grafana":
            print(": Grafana keeps the admin password it started with there", end="")
        print()
    print(f"next: cd {d} && docker compose up -d --build  (or docs/deploy.md for systemd)")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    if args.command is None:
        parser.print_help()
        return 0
    source = args.source or default_source()
    if source is None:
        print(
            f"{PROG} init: no alertloop checkout found (none holds this package, and the "
            "current directory has no deploy/docker-compose.yml); give --source",
            file=sys.stderr,
        )
        return 2
    owner = args.owner or (os.getuid(), os.getgid())
    options = DeployOptions(
        directory=args.directory.absolute(),
        source=source.resolve(),
        owner=owner,
        force=args.force,
        mosquitto_passwd=None if args.builtin_hash else find_mosquitto_passwd(),
        influx_db=args.influx_db,
        mqtt_port=args.mqtt_port,
        grafana_port=args.grafana_port,
        image=args.image,
    )
    try:
        report = init_deploy(options)
    except DeployUsageError as exc:
        print(f"{PROG} init: {exc}", file=sys.stderr)
        return 2
    except DeployError as exc:
        print(f"{PROG} init: {exc}", file=sys.stderr)
        return 1
    _print_report(report, owner)
    return 0
