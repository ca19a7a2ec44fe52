"""``alertloop boards`` (the serial ports, what is behind each, which bench board it is) and
``alertloop flash`` (build, write, verify and reset the boards of a bench role, or one port).

The bench file comes from ``--hil-bench`` (as in the pytest plugin), else ``ALERTLOOP_HIL_BENCH``.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from alertloop.hil.bench.discovery import PortInfo, assign_ports, boards_matching, list_ports
from alertloop.hil.bench.flash import FlashError, build, flash_board
from alertloop.hil.bench.model import (
    CHIPS,
    ROLES,
    Bench,
    BenchError,
    BoardSpec,
    ImageSpec,
    load_bench,
)
from alertloop.services.common.commands import Command
from alertloop.services.common.errors import ConfigError
from alertloop.services.common.settings import Option, Values

__all__ = ["BOARDS", "FLASH", "boards_main", "flash_main"]

log = logging.getLogger(__name__)
BENCH_ENV = "ALERTLOOP_HIL_BENCH"
BENCH = Option("--hil-bench", "bench file (YAML)", metavar="FILE", old_flags=("--bench",))


def _bench(values: Values, required: bool) -> Bench | None:
    if not values.hil_bench:
        if required:
            raise ConfigError(f"no bench file: give --hil-bench FILE or set {BENCH_ENV}")
        return None
    try:
        return load_bench(values.hil_bench)
    except BenchError as exc:
        raise values.error("hil_bench", str(exc)) from None


# -- alertloop boards ----------------------------------------------------------------------
BOARDS = Command(
    "alertloop boards",
    "List the serial ports, their USB ids and bridges, and the bench board each one is.",
    [BENCH, Option("--all", "also ports without USB ids", boolean=True, default=False)],
)


def boards_main(argv: list[str], ports: list[PortInfo] | None = None) -> int:
    """List the ports; 2 for bad usage or a bad bench file."""
    try:
        args = BOARDS.parse(argv)
        bench = _bench(args, required=False)
    except ConfigError as exc:
        print(f"{BOARDS.prog}: {exc}", file=sys.stderr)
        return 2
    seen = list_ports() if ports is None else ports
    shown = [p for p in seen if args.all or p.vid is not None]
    if not shown:
        print("no USB serial ports found (plug a board in; --all shows the others)")
    for port in shown:
        bridge = port.bridge or port.description or "-"
        line = f"{port.device:<24} {port.usb_id:<10} {bridge}"
        extra = [f"serial={port.serial_number}"] if port.serial_number else []
        if port.location:
            extra.append(f"location={port.location}")
        if extra:
            line += f"  ({' '.join(extra)})"
        if bench is not None:
            names = [f"{b.name} [{b.role}]" for b in boards_matching(bench, port)]
            line += f"  -> {', '.join(names)}" if names else "  -> no bench board"
        print(line)
    if bench is not None:
        for board in bench.boards:
            try:
                assign_ports([board], seen)
            except BenchError as exc:
                print(f"missing: {exc}")
    return 0


# -- alertloop flash -----------------------------------------------------------------------
FLASH = Command(
    "alertloop flash",
    "Write the firmware PlatformIO built to boards, verify it and reset them. Give one of "
    "--role, --board or --port.",
    [
        Option("--role", "every bench board of a role", choices=tuple(sorted(ROLES))),
        Option("--board", "one bench board by name", metavar="NAME"),
        Option("--port", "a board on this port (with --chip), no bench needed", metavar="PORT"),
        BENCH,
        Option("--chip", "with --port: the chip", choices=tuple(CHIPS), default_text="esp32"),
        Option("--env", "with --port: PlatformIO environment", metavar="ENV",
               default_text="by chip"),
        Option("--project-dir", "with --port: where platformio.ini is", metavar="DIR",
               default="firmware"),
        Option("--image", "with --port: write FILE at OFFSET instead of the build (repeatable; "
               "variable: comma-separated)", multiple=True, default=[], metavar="OFFSET:FILE"),
        Option("--build", "run 'pio run -e ENV' first", boolean=True, default=False),
        Option("--no-stub", "talk to the ROM loader only (slower)", boolean=True, default=False),
    ],
)  # fmt: skip


def flash_main(argv: list[str]) -> int:
    """Flash; 2 for bad usage or settings, 1 when building or flashing fails."""
    try:
        args = FLASH.parse(argv)
        targets = [name for name in ("role", "board", "port") if args[name]]
        if len(targets) != 1:
            raise ConfigError("give one of --role, --board or --port")
        boards = _targets(args)
    except (ConfigError, ValueError) as exc:
        print(f"{FLASH.prog}: {exc}", file=sys.stderr, flush=True)
        return 2
    except BenchError as exc:
        print(f"{FLASH.prog}: {exc}", file=sys.stderr, flush=True)
        return 1
    try:
        for board in boards:
            if args.build:
                print(f"{board.name}: building {board.env} ...", flush=True)
                build(board)
            report = flash_board(board, stub=not args.no_stub)
            print(report.summary(), flush=True)
    except (BenchError, FlashError, ValueError) as exc:
        print(f"{FLASH.prog}: {exc}", file=sys.stderr, flush=True)
        return 1
    return 0


def _targets(args: Values) -> list[BoardSpec]:
    if args.port:
        chip = args.chip or "esp32"
        role = "esp32" if chip == "esp32" else "nodemcu"
        defaults = ROLES[role]
        return [
            BoardSpec(
                name=args.port,
                role=role,
                chip=chip,
                baud=defaults.baud,
                env=args.env or defaults.env,
                port=args.port,
                images=tuple(_image(text) for text in args.image),
                project_dir=Path(args.project_dir),
            )
        ]
    bench = _bench(args, required=True)
    assert bench is not None
    chosen = [bench.board(args.board)] if args.board else bench.role(args.role)
    if not chosen:
        raise BenchError(f"{bench.path}: no board has role {args.role}")
    return assign_ports(chosen)


def _image(text: str) -> ImageSpec:
    offset, sep, file = text.partition(":")
    if not sep or not file:
        raise ValueError(f"--image {text!r}: expected OFFSET:FILE, e.g. 0x10000:firmware.bin")
    try:
        return ImageSpec(int(offset, 0), Path(file))
    except ValueError:
        raise ValueError(f"--image {text!r}: {offset!r} is not a number") from None
