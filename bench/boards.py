"""Boards: simulated (``sim``) and the real sketches built for Linux (``virtual``) side by side.

    .venv/bin/python bench/boards.py [--runs 5] [--window 10] [--fleet 5]

On one native stack (alertloop.hil.stack.native.NativeStack), for each backend:

- start-up: from ``start()`` to the first value published (ESP32), ``--runs`` times; the
  sketch's ``setup()`` waits 1.5 s before connecting (``delay(1500)``), the sim does not;
- RSS and CPU per board: ``--fleet`` ESP32s publishing every 500 ms for ``--window`` s. A
  virtual board is a process of its own (VmRSS and utime+stime from /proc/<pid>); sim boards
  are threads of this process, so their figures are this process's growth and CPU divided by
  the number of boards;
- reconnect: the broker is stopped until both boards have noticed, started again, and the time
  from the broker answering to the board's reconnection (ESP32 connected, NodeMCU subscribed)
  is measured. Both wait 5 s between attempts, as the sketches do, so the figure falls
  anywhere in 0..5 s plus the connect; ``--runs`` restarts give its spread.

Prints one table with both backends and their ratios.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from alertloop.hil.boards import create_esp32, create_nodemcu  # noqa: E402
from alertloop.hil.stack.native import NativeStack  # noqa: E402
from alertloop.services.common.config import MqttSettings  # noqa: E402
from alertloop.services.common.deadline import wait_until  # noqa: E402

BACKENDS = ("sim", "virtual")
TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def _settings(backend: str, mqtt: MqttSettings, topic: str) -> dict[str, Any]:
    extra: dict[str, Any] = {"reconnect_interval": 5.0} if backend == "sim" else {}
    return {"mqtt": mqtt, "topic": topic, **extra}


def _rss(pid: int | str = "self") -> int:
    """Resident set size in bytes."""
    with open(f"/proc/{pid}/statm", encoding="ascii") as f:
        return int(f.read().split()[1]) * PAGE


def _cpu(pid: int | str = "self") -> float:
    """User + system CPU seconds of a process."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def startup(backend: str, mqtt: MqttSettings, runs: int) -> list[float]:
    times = []
    for run in range(runs):
        board: Any = create_esp32(backend, **_settings(backend, mqtt, f"bench/s{run}/pot"))
        began = time.time()
        with board:
            board.set_knob(40)
            first = board.wait_for_published(lambda p: True, timeout=20)
            times.append(first.time - began)
    return times


def footprint(backend: str, mqtt: MqttSettings, fleet: int, window: float) -> tuple[float, float]:
    """(MiB RSS, % of one core) per board."""
    boards: list[Any] = []
    rss_before = _rss()
    try:
        for index in range(fleet):
            board: Any = create_esp32(backend, **_settings(backend, mqtt, f"bench/f{index}/pot"))
            boards.append(board.start())
        for board in boards:
            board.wait_for_published(lambda p: True, timeout=20)
        pids = ["self"] if backend == "sim" else [b.pid for b in boards]
        cpu_before = sum(_cpu(pid) for pid in pids)
        began = time.monotonic()
        wait_until(lambda: time.monotonic() - began >= window, window + 1, what="the window")
        cpu = sum(_cpu(pid) for pid in pids) - cpu_before
        elapsed = time.monotonic() - began
        rss = _rss() - rss_before if backend == "sim" else sum(_rss(pid) for pid in pids)
    finally:
        for board in boards:
            board.stop()
    return rss / fleet / 2**20, 100 * cpu / elapsed / fleet


def reconnect(backend: str, runs: int) -> list[float]:
    """Seconds from the broker answering again to both boards being back, per restart."""
    times: list[float] = []
    with NativeStack() as own:
        esp: Any = create_esp32(backend, **_settings(backend, own.mqtt, "bench/r/pot"))
        leds: Any = create_nodemcu(backend, **_settings(backend, own.mqtt, "bench/r/alert"))
        with esp, leds:
            esp.wait_connected(20)
            leds.wait_connected(20)
            broker = own.servers["mqtt"]
            for _ in range(runs):
                before = (esp.connects, leds.connects)
                broker.stop()
                wait_until(
                    lambda: not esp.connected and not leds.connected, 20, what="boards to notice"
                )
                broker.start()  # returns once a client can connect
                back = time.monotonic()
                wait_until(
                    lambda: (
                        esp.connects > before[0]  # noqa: B023
                        and leds.connects > before[1]  # noqa: B023
                        and esp.connected
                        and leds.connected
                    ),
                    20,
                    what="both boards to reconnect",
                )
                times.append(time.monotonic() - back)
    return times


def _row(name: str, values: dict[str, float], unit: str, fmt: str = "{:.3f}") -> str:
    sim, virtual = values["sim"], values["virtual"]
    ratio = f"{virtual / sim:.1f}x" if sim > 0 else "-"
    return f"  {name:<40}{fmt.format(sim):>12}{fmt.format(virtual):>12}  {unit:<9}{ratio:>8}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="start-ups and restarts per backend")
    parser.add_argument("--window", type=float, default=10.0, help="CPU window in seconds")
    parser.add_argument("--fleet", type=int, default=5, help="boards for RSS and CPU")
    args = parser.parse_args(argv)

    figures: dict[str, dict[str, float]] = {}
    with NativeStack() as stack:
        for backend in BACKENDS:
            starts = startup(backend, stack.mqtt, args.runs)
            rss, cpu = footprint(backend, stack.mqtt, args.fleet, args.window)
            figures.setdefault("start-up to first publish, median", {})[backend] = (
                statistics.median(starts)
            )
            figures.setdefault("start-up to first publish, max", {})[backend] = max(starts)
            figures.setdefault("RSS per board", {})[backend] = rss
            figures.setdefault("CPU per board (publishing 2 Hz)", {})[backend] = cpu
    for backend in BACKENDS:
        times = reconnect(backend, args.runs)
        figures.setdefault("reconnect after broker restart, median", {})[backend] = (
            statistics.median(times)
        )
        figures.setdefault("reconnect after broker restart, max", {})[backend] = max(times)

    print(
        f"boards: {args.runs} start-ups and broker restarts, {args.fleet} boards for "
        f"{args.window:g} s for RSS and CPU ({os.cpu_count()} cores)"
    )
    print(f"  {'':<40}{'sim':>12}{'virtual':>12}  {'unit':<9}{'virt/sim':>8}")
    units = {
        "RSS per board": ("MiB", "{:.2f}"),
        "CPU per board (publishing 2 Hz)": ("% core", "{:.2f}"),
    }
    for name, values in figures.items():
        unit, fmt = units.get(name, ("s", "{:.3f}"))
        print(_row(name, values, unit, fmt))
    return 0


if __name__ == "__main__":
    sys.exit(main())
