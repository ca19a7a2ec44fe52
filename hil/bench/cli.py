"""``alertloop boards`` (the serial ports, what is behind each, which bench board it is) and
``alertloop flash`` (build, write, verify and reset the boards of a bench role, or one port).

The bench file comes from ``--bench``, else ``ALERTLOOP_HIL_BENCH``.
"""

from __future__ import annotations

import argparse
import os
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

__all__ = ["boards_main", "flash_main"]

BENCH_ENV = "ALERTLOOP_HIL_BENCH"


def _bench(path: str | None, required: bool) -> Bench | None:
    chosen = path or os.environ.get(BENCH_ENV)
    if not chosen:
        if required:
            raise BenchError(f"no bench file: give --bench FILE or set {BENCH_ENV}")
        return None
    return load_bench(chosen)


# -- alertloop boards ----------------------------------------------------------------------
def boards_main(argv: list[str], ports: list[PortInfo] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="alertloop boards",
        description="list the serial ports, their USB ids and bridges, and the bench board "
        "each one is",
    )
    parser.add_argument("--bench", help=f"bench file (default: ${BENCH_ENV})")
    parser.add_argument("--all", action="store_true", help="also ports without USB ids")
    args = parser.parse_args(argv)
    try:
        bench = _bench(args.bench, required=False)
    except BenchError as exc:
        print(f"alertloop boards: {exc}")
        return 1
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
def flash_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="alertloop flash",
        description="write the firmware PlatformIO built to boards, verify it and reset them",
    )
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--role", choices=sorted(ROLES), help="every bench board of a role")
    target.add_argument("--board", help="one bench board by name")
    target.add_argument("--port", help="a board on this port (with --chip), no bench needed")
    parser.add_argument("--bench", help=f"bench file (default: ${BENCH_ENV})")
    parser.add_argument("--chip", choices=CHIPS, help="with --port: the chip (default esp32)")
    parser.add_argument("--env", help="with --port: PlatformIO environment (default by chip)")
    parser.add_argument(
        "--project-dir", default="firmware", help="with --port: where platformio.ini is"
    )
    parser.add_argument(
        "--image",
        action="append",
        default=[],
        metavar="OFFSET:FILE",
        help="with --port: write FILE at OFFSET instead of the build (repeatable)",
    )
    parser.add_argument("--build", action="store_true", help="run 'pio run -e ENV' first")
    parser.add_argument(
        "--no-stub", action="store_true", help="talk to the ROM loader only (slower)"
    )
    args = parser.parse_args(argv)
    try:
        boards = _targets(args)
        for board in boards:
            if args.build:
                print(f"{board.name}: building {board.env} ...", flush=True)
                build(board)
            report = flash_board(board, stub=not args.no_stub)
            print(report.summary(), flush=True)
    except (BenchError, FlashError, ValueError) as exc:
        print(f"alertloop flash: {exc}", flush=True)
        return 1
    return 0


def _targets(args: argparse.Namespace) -> list[BoardSpec]:
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
    bench = _bench(args.bench, required=True)
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
