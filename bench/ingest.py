"""Ingest throughput: (a) raw paho counter, (b) seed-style write_points, (c) this ingester.

    .venv/bin/python bench/ingest.py [--count 300000] [--seed-window 10]

One native stack (mosquitto + influxd on free ports) serves all three runs. For each run a
subscriber is started and ready first, then a separate publisher process publishes the
messages at QoS 1 as fast as the broker acknowledges them; the rate is messages done divided
by the time from the publisher's start to the last message counted (a) or stored (b, c).

(b) stores about 500 messages/s, so it gets a bounded sample: it runs for ``--seed-window``
seconds against a backlog larger than it can store, and its rate is what it stored in that
window divided by the window (extrapolated, not a full run; its loss is not measured).
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import requests

from hil.stack import NativeStack
from hil.stack.probes import free_port
from services.common.deadline import Deadline, wait_until

ROOT = Path(__file__).resolve().parent.parent
CLIENTS = [sys.executable, str(ROOT / "bench" / "ingest_clients.py")]


class Proc:
    """A child process whose JSON stdout lines are read on a thread."""

    def __init__(self, argv: list[str], env: dict[str, str] | None = None) -> None:
        self.popen = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT, env=env, text=True
        )
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            try:
                self.events.put(json.loads(line))
            except ValueError:
                pass

    def expect(self, event: str, timeout: float) -> dict[str, Any]:
        deadline = Deadline(timeout)
        while not deadline.expired:
            try:
                got = self.events.get(timeout=min(1.0, deadline.remaining) or 0.01)
            except queue.Empty:
                if self.popen.poll() is not None:
                    break
                continue
            if got.get("event") == event:
                return got
            if got.get("event") == "progress":
                print(f"      ... {got}", flush=True)
        err = (
            self.popen.stderr.read() if self.popen.poll() is not None and self.popen.stderr else ""
        )
        raise RuntimeError(f"no {event!r} from {self.popen.args} within {timeout} s; {err[-2000:]}")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(sig)
            try:
                self.popen.wait(30)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()


def publisher(stack: NativeStack, topic: str, count: int) -> Proc:
    return Proc(
        [*CLIENTS, "publish", "--mqtt-url", stack.mqtt.url, "--topic", topic, "--count", str(count)]
    )


def influx_count(stack: NativeStack, database: str) -> int:
    client = stack.influx.client(database=database, timeout=30)
    try:
        rows = list(client.query('SELECT count("value") FROM "pot"').get_points())
    finally:
        client.close()
    return int(rows[0]["count"]) if rows else 0


def run_counter(stack: NativeStack, count: int) -> dict[str, Any]:
    topic = "bench/a/pot"
    counter = Proc(
        [*CLIENTS, "count", "--mqtt-url", stack.mqtt.url, "--topic", topic, "--count", str(count)]
    )
    counter.expect("ready", 30)
    started = time.time()
    pub = publisher(stack, topic, count)
    done = counter.expect("done", 600)
    published = pub.expect("done", 60)
    seconds = done["last"] - started
    return {
        "rate": done["received"] / seconds,
        "seconds": seconds,
        "loss": count - done["received"],
        "publisher_rate": published["rate"],
        "cpu_us_per_msg": done["cpu"] / count * 1e6,
    }


def run_seed(stack: NativeStack, count: int, window: float) -> dict[str, Any]:
    topic, database = "bench/b/pot", "bench_seed"
    seed = Proc(
        [
            *CLIENTS,
            "seed",
            "--mqtt-url",
            stack.mqtt.url,
            "--topic",
            topic,
            "--influx-url",
            stack.influx.url,
            "--database",
            database,
        ]
    )
    seed.expect("ready", 30)
    started = time.monotonic()
    pub = publisher(stack, topic, count)
    while time.monotonic() - started < window:
        threading.Event().wait(min(2.0, window - (time.monotonic() - started)))
        print(f"      ... stored {influx_count(stack, database)}", flush=True)
    stored = influx_count(stack, database)
    seconds = time.monotonic() - started
    pub.stop()
    seed.stop(signal.SIGKILL)
    return {"rate": stored / seconds, "seconds": seconds, "stored": stored}


def metric(url: str, name: str) -> float:
    for line in requests.get(f"{url}/metrics", timeout=5).text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "_total "):
            return float(line.split()[1])
    return 0.0


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_ingester(stack: NativeStack, count: int, spool: Path) -> dict[str, Any]:
    topic, database = "bench/c/pot", "bench_ingest"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "ALERTLOOP_LOG_LEVEL": "WARNING"}
    ingester = Proc(
        [
            sys.executable,
            "-m",
            "services.ingester",
            "--mqtt-url",
            stack.mqtt.url,
            "--influx-url",
            stack.influx.url,
            "--database",
            database,
            "--topic",
            topic,
            "--client-id",
            "bench-ingester",
            "--spool-dir",
            str(spool),
            "--metrics-bind",
            f"127.0.0.1:{port}",
        ],
        env=env,
    )

    def healthy() -> bool:
        try:
            return requests.get(f"{url}/healthz", timeout=1).ok
        except requests.RequestException:
            return False

    wait_until(healthy, 30, what="the ingester's /healthz")
    started = time.time()
    pub = publisher(stack, topic, count)
    last_print = time.monotonic()
    while True:
        written = metric(url, "alertloop_ingest_written")
        if written >= count:
            break
        if time.monotonic() - last_print > 2:
            print(f"      ... written {int(written)}", flush=True)
            last_print = time.monotonic()
        if time.time() - started > 600:
            break
        threading.Event().wait(0.05)
    seconds = time.time() - started
    published = pub.expect("done", 60)
    rss = peak_rss_mib(ingester.popen.pid)
    batches = metric(url, "alertloop_ingest_batches")
    cpu = cpu_seconds(ingester.popen.pid)
    ingester.stop()
    stored = influx_count(stack, database)
    return {
        "rate": stored / seconds,
        "seconds": seconds,
        "loss": count - stored,
        "peak_rss_mib": rss,
        "publisher_rate": published["rate"],
        "batches": batches,
        "cpu_us_per_msg": cpu / count * 1e6,
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=300_000, help="messages for runs (a) and (c)")
    parser.add_argument("--seed-count", type=int, default=20_000, help="backlog offered to (b)")
    parser.add_argument("--seed-window", type=float, default=10.0, help="seconds (b) is measured")
    parser.add_argument("--only", choices=["a", "b", "c"], action="append")
    args = parser.parse_args(argv)
    runs = args.only or ["a", "b", "c"]
    load = os.getloadavg()[0]
    print(f"load average before start: {load:.2f} on {os.cpu_count()} CPUs", flush=True)
    results: dict[str, dict[str, Any]] = {}
    with NativeStack() as stack, tempfile.TemporaryDirectory(prefix="bench-spool-") as spool:
        if "a" in runs:
            print(f"(a) raw paho counting subscriber, {args.count} messages", flush=True)
            results["a"] = run_counter(stack, args.count)
            print(f"    {results['a']}", flush=True)
        if "c" in runs:
            print(f"(c) alertloop ingester, {args.count} messages", flush=True)
            results["c"] = run_ingester(stack, args.count, Path(spool))
            print(f"    {results['c']}", flush=True)
        if "b" in runs:
            print(
                f"(b) seed-style write_points per message, {args.seed_window:.0f} s sample",
                flush=True,
            )
            results["b"] = run_seed(stack, args.seed_count, args.seed_window)
            print(f"    {results['b']}", flush=True)
    print()
    print(f"{'run':<44}{'msg/s':>10}{'loss':>8}")
    names = {
        "a": "(a) raw paho counter",
        "b": "(b) seed-style write_points (sampled)",
        "c": "(c) alertloop ingester",
    }
    for key in ("a", "b", "c"):
        if key in results:
            loss = results[key].get("loss", "n/a")
            print(f"{names[key]:<44}{results[key]['rate']:>10.0f}{loss!s:>8}")
    if "a" in results and "c" in results:
        print(f"c/a = {results['c']['rate'] / results['a']['rate']:.2f}  (target >= 0.8)")
    if "b" in results and "c" in results:
        print(f"c/b = {results['c']['rate'] / results['b']['rate']:.1f}  (target >= 40)")
    if "c" in results:
        print(f"peak RSS of (c): {results['c']['peak_rss_mib']:.1f} MiB")
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
