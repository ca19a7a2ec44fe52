"""``alertloop deploy init DIR``: write a ready-to-run deploy directory with fresh secrets.

Exit codes: 0 written; 2 usage (a bad option, no checkout, root as the owner); 1 failures
(a directory that already holds a deploy and no ``--force``, a file or mosquitto_passwd failing).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path

from alertloop.services.common.commands import Command, run_group
from alertloop.services.common.errors import ConfigError
from alertloop.services.common.settings import Option, port
from alertloop.services.deploy.credentials import find_mosquitto_passwd
from alertloop.services.deploy.errors import DeployError, DeployUsageError
from alertloop.services.deploy.layout import DeployOptions, default_source
from alertloop.services.deploy.writer import InitReport, init_deploy

PROG = "alertloop deploy"


DESCRIPTION = "Prepare a deploy of the alert loop (docs/deploy.md)."
SUBCOMMANDS: dict[str, tuple[str, str, str]] = {
    "init": ("alertloop.services.deploy.cli", "init_main",
             "write a deploy directory: settings, random secrets, configs"),
}  # fmt: skip


def _owner(text: str) -> tuple[int, int]:
    user, sep, group = text.partition(":")
    try:
        return int(user), int(group if sep else user)
    except ValueError:
        raise ValueError(f"expected UID:GID (numbers), got {text!r}") from None


INIT = Command(
    f"{PROG} init",
    "Write DIR for 'docker compose up' (and the files a host without Docker needs): .env and "
    "alertloop.env (settings), secrets/ (random passwords, mosquitto's password file, the "
    "webhook's users file; 0600), the compose file, mosquitto's config and ACL, Grafana's "
    "provisioning, the systemd units, the data directories. Refuses a directory that already "
    "holds these files unless --force.",
    [
        Option("directory", "the deploy directory", positional=True, metavar="DIR"),
        Option("--force", "replace existing files, secrets included", boolean=True,
               default=False),
        Option("--owner", "owner of the files and user of the containers (required as root)",
               type=_owner, metavar="UID:GID", default_text="yours"),
        Option("--source", "the alertloop checkout with deploy/", type=Path,
               metavar="CHECKOUT",
               default_text="the one this package is installed from, or the current directory"),
        Option("--influx-db", "InfluxDB database", default="iot", metavar="NAME"),
        Option("--published-mqtt-port", "port the broker is published on, on the Docker host", type=port, default=1883,
               metavar="INT"),
        Option("--published-grafana-port", "port Grafana is published on, on the Docker host", type=port, default=3000,
               metavar="INT"),
        Option("--image", "name of the services' image that compose builds",
               default="alertloop:latest", metavar="NAME"),
        Option("--builtin-hash", "hash the MQTT passwords here even when mosquitto_passwd is "
               "installed", boolean=True, default=False),
    ],
)  # fmt: skip


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
    """``alertloop deploy COMMAND``: bare or with --help, the subcommands (exit 0)."""
    return run_group(PROG, DESCRIPTION, SUBCOMMANDS, sys.argv[1:] if argv is None else argv)


def init_main(argv: Sequence[str]) -> int:
    """``alertloop deploy init DIR``; exit 0 written, 2 usage, 1 failure."""
    try:
        args = INIT.parse(argv)
    except ConfigError as exc:
        print(f"{INIT.prog}: {exc}", file=sys.stderr)
        return 2
    source = args["source"] or default_source()
    if source is None:
        print(
            f"{PROG} init: no alertloop checkout found (none holds this package, and the "
            "current directory has no deploy/docker-compose.yml); give --source",
            file=sys.stderr,
        )
        return 2
    owner = args.owner or (os.getuid(), os.getgid())
    options = DeployOptions(
        directory=Path(args.directory).absolute(),
        source=source.resolve(),
        owner=owner,
        force=args.force,
        mosquitto_passwd=None if args.builtin_hash else find_mosquitto_passwd(),
        influx_db=args.influx_db,
        mqtt_port=args.published_mqtt_port,
        grafana_port=args.published_grafana_port,
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
