"""The ``alertloop`` command: a thin dispatcher to each component's own command module.

Every subcommand reads flags first, then ``ALERTLOOP_*`` variables, then defaults, and exits 2
for usage and configuration errors, 1 for failures while running (docs/cli.md).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Sequence

from alertloop.hil.extras import missing_extra

# command -> ("module", "function", one-line help). Imported only when used, so a broken
# or heavy component never slows down or breaks the others.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "stack": (
        "alertloop.hil.stack.cli",
        "main",
        "start a broker + database stack and print its URLs",
    ),
    "ingest": ("alertloop.services.ingester.cli", "main", "run the MQTT -> InfluxDB ingester"),
    "webhook": (
        "alertloop.services.webhook.cli",
        "main",
        "run the Grafana webhook -> retained MQTT service",
    ),
    "hash-password": (
        "alertloop.services.webhook.cli",
        "hash_password_main",
        "hash a password read on stdin",
    ),
    "deploy": (
        "alertloop.services.deploy.cli",
        "main",
        "write a deploy directory with fresh secrets (deploy init DIR)",
    ),
    "sim": (
        "alertloop.sim.cli",
        "main",
        "run a simulated board or the alert evaluator (esp32|nodemcu|alerting)",
    ),
    "faults": (
        "alertloop.hil.faults.cli",
        "main",
        "run a TCP fault proxy (latency, stall, drop...) or check a schedule",
    ),
    "monitor": (
        "alertloop.hil.serial_monitor",
        "main",
        "show a real board's serial console with times",
    ),
    "boards": (
        "alertloop.hil.bench.cli",
        "boards_main",
        "list serial ports and the bench board on each",
    ),
    "flash": (
        "alertloop.hil.bench.cli",
        "flash_main",
        "build, flash, verify and reset bench boards",
    ),
    "demo": (
        "alertloop.hil.demo.cli",
        "main",
        "run the whole loop with simulated boards and show it live",
    ),
}


def _usage() -> str:
    lines = ["usage: alertloop [--version] COMMAND [options]", "", "commands:"]
    width = max(len(name) for name in COMMANDS)
    for name, (_, _, text) in COMMANDS.items():
        lines.append(f"  {name.ljust(width)}  {text}")
    lines.append("")
    lines.append("'alertloop COMMAND --help' tells more; docs/cli.md tells how every command")
    lines.append("reads its flags and ALERTLOOP_* variables.")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(_usage())
        return 0
    if args[0] in ("--version", "-V"):
        from alertloop.services.common.healthz import version  # the one version lookup

        print(f"alertloop {version()}")
        return 0
    command, rest = args[0], args[1:]
    if command not in COMMANDS:
        print(f"alertloop: unknown command {command!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    module_name, func_name, _ = COMMANDS[command]
    try:
        module = importlib.import_module(module_name)
        func: Callable[[list[str]], int] = getattr(module, func_name)
        return int(func(rest) or 0)
    except ModuleNotFoundError as exc:  # a package of an extra that is not installed
        hint = missing_extra(exc)
        if hint is None:
            raise
        print(f"alertloop {command}: {hint}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
