"""Simulated fleet: one event loop (``alertloop.sim.fleet.Fleet``) against thread-per-board
(``alertloop.sim.esp32.SimEsp32``), side by side on one native stack.

    .venv/bin/python bench/fleet.py [--seconds 30] [--threads 200,2000] [--search 4000,6000,8000]

Each candidate runs in a process of its own (``--worker``), so its RSS and CPU are its own:
it connects N ESP32s publishing at QoS 0, waits until all are connected, forgets the lateness
of the ramp, then publishes for ``--seconds`` and prints one JSON line: seconds until all were
connected, publishes, failed publishes, p50/p99/max lateness against each tick, peak RSS, CPU.
A paho subscriber in this process counts what the broker delivered on the candidate's topics.

Runs: the target (2,000 ESP32s at 2 Hz from one fleet), thread-per-board at ``--threads``
sizes at 2 Hz, and fleets at 1 Hz of growing size (``--search``) until p99 lateness reaches
100 ms: the largest below is the figure for docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from alertloop.hil.stack import NativeStack  # noqa: E402
from alertloop.services.common.config import MqttSettings  # noqa: E402
from alertloop.services.common.mqtt import make_client, new_client_id  # noqa: E402
from alertloop.sim.fleet import raise_open_file_limit  # noqa: E402

P99_TARGET = 0.100
THREAD_START_LIMIT = 60.0


def _rss_peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _schedstat() -> tuple[float, float]:
    """(seconds on a CPU, seconds runnable but waiting for a CPU), summed over this
    process's threads (Linux schedstat); the wait shows how busy the machine was."""
    on = wait = 0.0
    for task in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{task}/schedstat") as handle:
                fields = handle.read().split()
        except OSError:
            continue
        on += int(fields[0]) / 1e9
        wait += int(fields[1]) / 1e9
    return on, wait


def _percentile(values: list[float], fraction: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


# -- workers (child processes) --------------------------------------------------------------
def worker_fleet(
    mqtt: MqttSettings, prefix: str, size: int, rate: float, seconds: float
) -> dict[str, Any]:
    from alertloop.sim.fleet import Fleet, FleetConfig

    config = FleetConfig(esp32=size, rate=rate, prefix=prefix, signal=lambda i, d: _const(i))
    started = time.monotonic()
    with Fleet(mqtt, config) as fleet:
        fleet.wait_connected(120)
        connected = time.monotonic() - started
        fleet.reset_lateness()
        before = fleet.stats()
        cpu0, wait0 = _schedstat()
        time.sleep(seconds)  # the measured window: load runs for a fixed time
        cpu1, wait1 = _schedstat()
        stats = fleet.stats()
    total = fleet.stats().published  # after stop(): every publish the broker could have seen
    return {
        "connected_s": connected,
        "published": stats.published - before.published,
        "failed": stats.failed,
        "skipped": stats.skipped,
        "reconnects": stats.connects - stats.devices,
        "p50": stats.lateness_p50,
        "p99": stats.lateness_p99,
        "max": stats.lateness_max,
        "cpu_s": cpu1 - cpu0,
        "wait_s": wait1 - wait0,
        "published_total": total,
        "missed": stats.missed,
        "rss_mib": _rss_peak_mib(),
    }


def _const(index: int) -> Any:
    from alertloop.sim.signals import Constant

    return Constant(index % 101)


def worker_threads(
    mqtt: MqttSettings, prefix: str, size: int, rate: float, seconds: float
) -> dict[str, Any]:
    from alertloop.sim.esp32 import SimEsp32

    boards = [
        SimEsp32(
            mqtt,
            topic=f"{prefix}/esp32-{i:04d}/pot",
            client_id=f"thr-{prefix[-6:]}-{i}",
            period=1 / rate,
        )
        for i in range(size)
    ]
    started = time.monotonic()
    try:
        for board in boards:  # bounded: thousands of threads can swamp a small machine
            if time.monotonic() - started > THREAD_START_LIMIT:
                raise SystemExit(
                    f"only {sum(b.running for b in boards)} of {size} board threads started "
                    f"in {THREAD_START_LIMIT:.0f} s; load average {os.getloadavg()[0]:.0f}"
                )
            board.start()
        for board in boards:
            board.wait_connected(max(1.0, THREAD_START_LIMIT - (time.monotonic() - started)))
        connected = time.monotonic() - started
        counts = [len(b.lateness) for b in boards]
        published0 = sum(len(b.published) for b in boards)
        cpu0, wait0 = _schedstat()
        time.sleep(seconds)  # the measured window
        cpu1, wait1 = _schedstat()
        late = [x for b, n in zip(boards, counts, strict=True) for x in b.lateness[n:]]
        total = sum(len(b.published) for b in boards)
        published = total - published0
    finally:  # in parallel: one by one, 500 goodbyes on a busy machine take minutes
        with ThreadPoolExecutor(64) as pool:
            list(pool.map(lambda board: board.stop(timeout=2.0), boards))
    return {
        "connected_s": connected,
        "published": published,
        "failed": 0,
        "skipped": 0,
        "missed": sum(b.skipped for b in boards),
        "reconnects": sum(b.connects for b in boards) - size,
        "p50": _percentile(late, 0.5),
        "p99": _percentile(late, 0.99),
        "max": max(late, default=0.0),
        "cpu_s": cpu1 - cpu0,
        "wait_s": wait1 - wait0,
        "published_total": total,
        "rss_mib": _rss_peak_mib(),
    }


# -- the driver -----------------------------------------------------------------------------
class Counter:
    """Counts what the broker delivers on ``prefix/+/pot`` (QoS 0)."""

    def __init__(self, mqtt: MqttSettings, prefix: str) -> None:
        self.count = 0
        self.client = make_client(mqtt, new_client_id("bench-count"))
        self.client.on_message = self._on_message
        self.ready = threading.Event()
        self.client.on_subscribe = lambda *a: self.ready.set()
        self.client.on_connect = lambda c, *a: c.subscribe(f"{prefix}/+/pot", 0)
        self.client.connect(mqtt.host, mqtt.port, 30)
        self.client.loop_start()
        self.ready.wait(10)

    def _on_message(self, *args: Any) -> None:
        self.count += 1

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def run(stack: NativeStack, kind: str, size: int, rate: float, seconds: float) -> dict[str, Any]:
    prefix = f"bench/{kind}-{uuid.uuid4().hex[:6]}"
    counter = Counter(stack.mqtt, prefix)
    argv = [
        sys.executable,
        __file__,
        "--worker",
        kind,
        "--mqtt-url",
        stack.mqtt.url,
        "--prefix",
        prefix,
        "--size",
        str(size),
        "--rate",
        str(rate),
        "--seconds",
        str(seconds),
    ]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 300, cwd=ROOT)
    counter.close()
    if proc.returncode != 0:
        return {"kind": kind, "size": size, "rate": rate, "error": proc.stderr.strip()[-400:]}
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result.update(kind=kind, size=size, rate=rate, delivered=counter.count)
    return result


def show(result: dict[str, Any]) -> None:
    if "error" in result:
        print(
            f"{result['kind']:>7} {result['size']:>6} @ {result['rate']:g} Hz: FAILED {result['error']}",
            flush=True,
        )
        return
    print(
        f"{result['kind']:>7} {result['size']:>6} @ {result['rate']:g} Hz: "
        f"all connected in {result['connected_s']:5.1f} s, {result['published'] / SECONDS:8.0f} msg/s, "
        f"failed {result['failed']}, skipped {result['skipped']}, missed {result.get('missed', 0)}, "
        f"lateness p50 {result['p50'] * 1000:5.0f} ms p99 {result['p99'] * 1000:5.0f} ms "
        f"max {result['max'] * 1000:5.0f} ms, RSS {result['rss_mib']:5.0f} MiB, "
        f"CPU {result['cpu_s'] / SECONDS * 100:3.0f} %, waited for a CPU "
        f"{result['wait_s'] / SECONDS * 100:3.0f} % of the time",
        flush=True,
    )


SECONDS = 30.0


def main() -> int:
    global SECONDS
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--worker", choices=("fleet", "threads"))
    parser.add_argument("--mqtt-url")
    parser.add_argument("--prefix")
    parser.add_argument("--size", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=2.0)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument(
        "--threads", default="200,500", help="thread-per-board sizes at 2 Hz (2000 swamps 2 cores)"
    )
    parser.add_argument("--search", default="4000,6000,8000,10000", help="fleet sizes at 1 Hz")
    args = parser.parse_args()
    SECONDS = args.seconds
    if args.worker:
        work = worker_fleet if args.worker == "fleet" else worker_threads
        result = work(
            MqttSettings.from_url(args.mqtt_url), args.prefix, args.size, args.rate, args.seconds
        )
        print(json.dumps(result), flush=True)
        return 0
    print(
        f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; "
        f"{args.seconds:g} s measured per run after all devices connected; QoS 0",
        flush=True,
    )
    results = []
    sizes = [2000] + [int(x) for x in (args.threads + "," + args.search).split(",") if x]
    # mosquitto inherits this process's open-file limit: one descriptor per client
    raise_open_file_limit(max(sizes) + 1024)
    with NativeStack() as stack:
        target = run(stack, "fleet", 2000, 2.0, args.seconds)
        show(target)
        results.append(target)
        for size in (int(s) for s in args.threads.split(",") if s):
            result = run(stack, "threads", size, 2.0, args.seconds)
            show(result)
            results.append(result)
        largest = None
        for size in (int(s) for s in args.search.split(",") if s):
            result = run(stack, "fleet", size, 1.0, args.seconds)
            show(result)
            results.append(result)
            if "error" in result or result["p99"] >= P99_TARGET:
                break
            largest = result
    print()
    ok = "error" not in target
    if ok:
        checks = {
            "connected within 20 s": target["connected_s"] < 20,
            "p99 lateness under 100 ms": target["p99"] < P99_TARGET,
            "no failed publish": target["failed"] == 0,
            "RSS under 300 MiB": target["rss_mib"] < 300,
        }
        for name, passed in checks.items():
            print(f"target 2,000 ESP32s at 2 Hz: {name}: {'met' if passed else 'MISSED'}")
        print(
            f"delivered by the broker / published (QoS 0, whole run): {target['delivered']} / {target['published_total']}"
        )
        for result in results:
            if result.get("kind") == "threads" and "error" not in result:
                print(
                    f"threads {result['size']}: p99 {result['p99'] * 1000:.0f} ms, RSS {result['rss_mib']:.0f} MiB, "
                    f"CPU per message {result['cpu_s'] / max(1, result['published']) * 1e6:.0f} us "
                    f"vs fleet {target['cpu_s'] / max(1, target['published']) * 1e6:.0f} us"
                )
    if largest is not None:
        print(f"largest fleet at 1 Hz with p99 under 100 ms (of those tried): {largest['size']}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
