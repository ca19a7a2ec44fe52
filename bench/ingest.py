"""Ingest throughput: (a) raw paho counter, (b) seed-style write_points, (c) this ingester,
(q0) this ingester under a QoS 0 burst.

    .venv/bin/python bench/ingest.py [--count 300000] [--seed-window 10] [--burst 200000]

One native stack (mosquitto + influxd on free ports) serves all three runs. For each run a
subscriber is started and ready first, then a separate publisher process publishes the
messages at QoS 1 as fast as the broker acknowledges them; the rate is messages done divided
by the time from the publisher's start to the last message counted (a) or stored (b, c).

(b) stores about 500 messages/s, so it gets a bounded sample: it runs for ``--seed-window``
seconds against a backlog larger than it can store, and its rate is what it stored in that
window divided by the window (extrapolated, not a full run; its loss is not measured).

(q0) is a burst of ``--burst`` QoS 0 messages from one fast paho publisher: no acknowledgement
slows the publisher, so the ingester must take them as fast as they come or let the broker
hold them (flow control); its figure that matters is the loss, which must be 0.
"""

from __future__ import annotations

import argparse
import contextlib
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

from alertloop.hil.stack import NativeStack
from alertloop.hil.stack.probes import free_port
from alertloop.services.common.deadline import Deadline, wait_until

ROOT = Path(__file__).resolve().parent.parent
CLIENTS = [sys.executable, str(ROOT / "bench" / "ingest_clients.py")]


class Proc:
    """A child process whose JSON stdout lines are read on a thread."""

    def __init__(self, argv: list[str], env: dict[str, str] | None = None) -> None:
        self.popen = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            cwd=ROOT,
            env=env,
            text=True,
        )
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            with contextlib.suppress(ValueError):  # not one of our JSON lines
                self.events.put(json.loads(line))

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
        raise RuntimeError(f"no {event!r} from {self.popen.args!r} within {timeout} s")

    def finish(self) -> None:
        """Close the child's stdin (a C publisher then ends) and wait for it."""
        if self.popen.stdin is not None:
            self.popen.stdin.close()
        self.popen.wait(60)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(sig)
            try:
                self.popen.wait(30)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()


PUBLISHER = "publish-c"
WINDOW = 1000  # the publisher's in-flight window (QoS 1 messages not yet acknowledged)


def publisher(
    stack: NativeStack,
    topic: str,
    count: int,
    qos: int = 1,
    mode: str | None = None,
    devices: int = 0,
) -> tuple[Proc, float]:
    """A started publisher process and the time it began publishing."""
    proc = Proc(
        [*CLIENTS, mode or PUBLISHER, "--mqtt-url", stack.mqtt.url, "--topic", topic,
         "--count", str(count), "--window", str(WINDOW), "--qos", str(qos),
         "--devices", str(devices)]
    )  # fmt: skip
    proc.expect("ready", 30)
    return proc, time.time()


def end_publisher(proc: Proc) -> float | None:
    """Let the publisher end; its own rate (Python publisher only)."""
    proc.finish()
    while not proc.events.empty():
        event = proc.events.get()
        if event.get("event") == "done" and "rate" in event:
            return float(event["rate"])
    return None


def influx_count(stack: NativeStack, database: str) -> int:
    client = stack.influx.client(database=database, timeout=30)
    try:
        rows = list(client.query('SELECT count("value") FROM "pot"').get_points())
    finally:
        client.close()
    return int(rows[0]["count"]) if rows else 0


def stored_points(stack: NativeStack, database: str) -> tuple[int, int]:
    """(rows, distinct (device, time) pairs) of ``pot``: rows beyond the distinct pairs are
    messages stored twice (by two instances, each under its own ``ingester`` tag)."""
    rows, distinct = 0, set()
    response = requests.get(
        f"{stack.influx.url}/query",
        params={"db": database, "q": 'SELECT "value", "device" FROM "pot"', "epoch": "ms",
                "chunked": "true", "chunk_size": "20000"},
        stream=True,
        timeout=120,
    )  # fmt: skip
    for line in response.iter_lines():
        if not line:
            continue
        for result in json.loads(line).get("results", []):
            for series in result.get("series", []):
                for time_ms, _value, device in series["values"]:
                    rows += 1
                    distinct.add((device, time_ms))
    return rows, len(distinct)


def server_cpu(stack: NativeStack) -> dict[str, float]:
    """CPU seconds used so far by mosquitto and influxd."""
    out = {}
    for name, server in stack.servers.items():
        pid = getattr(server, "pid", None)
        out[name] = cpu_seconds(pid) if pid else float("nan")
    return out


def with_server_cpu(stack: NativeStack, run: Any, *args: Any) -> dict[str, Any]:
    """Run one measurement and add the servers' CPU time per message to its figures."""
    before = server_cpu(stack)
    result = run(stack, *args)
    after = server_cpu(stack)
    done = result.get("stored", args[0])
    for name in before:
        result[f"{name}_cpu_us_per_msg"] = (after[name] - before[name]) / max(done, 1) * 1e6
    return result


def run_counter(stack: NativeStack, count: int) -> dict[str, Any]:
    topic = "bench/a/pot"
    counter = Proc(
        [*CLIENTS, "count", "--mqtt-url", stack.mqtt.url, "--topic", topic, "--count", str(count)]
    )
    counter.expect("ready", 30)
    pub, started = publisher(stack, topic, count)
    done = counter.expect("done", 600)
    seconds = done["last"] - started
    return {
        "rate": done["received"] / seconds,
        "seconds": seconds,
        "loss": count - done["received"],
        "publisher_rate": end_publisher(pub),
        "cpu_us_per_msg": done["cpu"] / count * 1e6,
    }


def run_seed(stack: NativeStack, count: int, window: float) -> dict[str, Any]:
    topic, database = "bench/b/pot", "bench_seed"
    client = stack.influx.client(database=database)
    client.create_database(database)  # the seed expects its database to exist
    client.close()
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
            "--qos",
            "0",
        ]
    )
    seed.expect("ready", 30)
    pub, _ = publisher(stack, topic, count)
    started = time.monotonic()
    while time.monotonic() - started < window:
        threading.Event().wait(min(2.0, window - (time.monotonic() - started)))
        print(f"      ... stored {influx_count(stack, database)}", flush=True)
    stored = influx_count(stack, database)
    seconds = time.monotonic() - started
    seed.stop(signal.SIGKILL)
    pub.stop()
    return {"rate": stored / seconds, "seconds": seconds, "stored": stored}


def metric(url: str, name: str) -> float:
    """One unlabelled sample from the ingester's /metrics (0 when absent)."""
    for line in requests.get(f"{url}/metrics", timeout=5).text.splitlines():
        if line.startswith(name + " "):
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


def start_ingester(
    stack: NativeStack, topic: str, database: str, spool: Path, client_id: str, share: bool
) -> tuple[Proc, str]:
    """``python -m alertloop.services.ingester`` with a metrics port; returns it and its base URL."""
    port = free_port()
    argv = [
        sys.executable, "-m", "alertloop.services.ingester",
        "--mqtt-url", stack.mqtt.url, "--influx-url", stack.influx.url, "--influx-db", database,
        "--topic", topic, "--client-id", client_id, "--spool-dir", str(spool),
        "--metrics-bind", f"127.0.0.1:{port}",
    ]  # fmt: skip
    if share:
        argv += ["--share-group", "bench"]
    proc = Proc(argv, env={**os.environ, "ALERTLOOP_LOG_LEVEL": "WARNING"})
    url = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        try:
            answer = requests.get(f"{url}/healthz", timeout=1)
            return answer.ok and answer.json()["status"] == "ok"
        except (requests.RequestException, ValueError, KeyError):
            return False

    wait_until(healthy, 30, what="the ingester's /healthz")
    return proc, url


def run_ingester(
    stack: NativeStack,
    count: int,
    spool: Path,
    instances: int = 1,
    qos: int = 1,
    devices: int = 0,
) -> dict[str, Any]:
    """``instances`` ingesters; the publisher sends ``count`` messages at ``qos`` (QoS 0: one
    fast paho publisher, a burst no broker window slows down). With ``devices``, the paho
    publisher spreads JSON readings with device times over that many devices (fleet load), and
    the result counts duplicates too."""
    run = (f"s{instances}" if devices else f"c{instances}") if qos else "q0"
    topic, database = f"bench/{run}/pot", f"bench_ingest_{run}"
    if devices:
        topic = f"bench/{run}/{{device}}/pot"
    running = [
        start_ingester(
            stack,
            topic,
            database,
            spool / f"{run}-{i}",
            f"bench-{run}-{i}",
            instances > 1,
        )
        for i in range(instances)
    ]
    mode = "publish" if devices or not qos else None
    pub, started = publisher(stack, topic, count, qos, mode, devices)
    last_print = last_change = time.monotonic()
    written = previous = 0.0
    while written < count and time.monotonic() - last_change < 30:  # give up after 30 s stalled
        threading.Event().wait(0.1)  # polling interval of /metrics
        written = sum(metric(url, "alertloop_ingest_written_total") for _, url in running)
        if written != previous:
            previous, last_change = written, time.monotonic()
        if time.monotonic() - last_print > 2:
            print(f"      ... written {int(written)}", flush=True)
            last_print = time.monotonic()
    seconds = time.time() - started
    publisher_rate = end_publisher(pub)
    rss = max(peak_rss_mib(proc.popen.pid) for proc, _ in running)
    batches = sum(metric(url, "alertloop_ingest_batches_total") for _, url in running)
    cpu = sum(cpu_seconds(proc.popen.pid) for proc, _ in running)
    for proc, _ in running:
        proc.stop()
    if devices:
        rows, distinct = stored_points(stack, database)
        stored, duplicates = distinct, rows - distinct
    else:
        stored, duplicates = influx_count(stack, database), 0
    return {
        "duplicates": duplicates,
        "rate": stored / seconds,
        "seconds": seconds,
        "loss": count - stored,
        "peak_rss_mib": rss,
        "publisher_rate": publisher_rate,
        "batches": batches,
        "cpu_us_per_msg": cpu / count * 1e6,
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=300_000, help="messages for runs (a) and (c)")
    parser.add_argument("--seed-count", type=int, default=20_000, help="backlog offered to (b)")
    parser.add_argument("--seed-window", type=float, default=10.0, help="seconds (b) is measured")
    parser.add_argument("--only", choices=["a", "b", "c", "c2", "q0", "scale"], action="append")
    parser.add_argument(
        "--scale-count", type=int, default=100_000, help="messages of each scale-out run"
    )
    parser.add_argument(
        "--devices", type=int, default=500, help="simulated devices of the scale-out runs"
    )
    parser.add_argument(
        "--burst", type=int, default=200_000, help="QoS 0 messages of the burst run (q0)"
    )
    parser.add_argument(
        "--publisher",
        choices=["c", "python"],
        default="c",
        help="mosquitto_pub (C) or a paho publisher; a Python publisher needs a core of its own",
    )
    parser.add_argument(
        "--publisher-window",
        type=int,
        default=1000,
        help="publisher in-flight window (mosquitto_pub -M); 20 is libmosquitto's default",
    )
    args = parser.parse_args(argv)
    global PUBLISHER, WINDOW
    PUBLISHER = "publish-c" if args.publisher == "c" else "publish"
    WINDOW = args.publisher_window
    runs = args.only or ["a", "b", "c", "q0"]
    load = os.getloadavg()[0]
    print(f"load average before start: {load:.2f} on {os.cpu_count()} CPUs", flush=True)
    results: dict[str, dict[str, Any]] = {}
    # The broker must be able to queue the whole run for a subscriber that falls behind.
    queue = max(100_000, 2 * max(args.count, args.seed_count, args.burst))
    stack = NativeStack(max_queued_messages=queue)
    with stack, tempfile.TemporaryDirectory(prefix="bench-spool-") as spool:
        if "a" in runs:
            print(f"(a) raw paho counting subscriber, {args.count} messages", flush=True)
            results["a"] = with_server_cpu(stack, run_counter, args.count)
            print(f"    {results['a']}", flush=True)
        if "c" in runs:
            print(f"(c) alertloop ingester, {args.count} messages", flush=True)
            results["c"] = with_server_cpu(stack, run_ingester, args.count, Path(spool))
            print(f"    {results['c']}", flush=True)
        if "c2" in runs:
            print(f"(c2) two ingesters on a shared subscription, {args.count} messages", flush=True)
            results["c2"] = with_server_cpu(stack, run_ingester, args.count, Path(spool), 2)
            print(f"    {results['c2']}", flush=True)
        if "scale" in runs:
            for n in (1, 2, 3):
                print(
                    f"(s{n}) {n} ingester(s) on a shared subscription, {args.scale_count} "
                    f"messages from {args.devices} devices (paho, JSON with device times)",
                    flush=True,
                )
                results[f"s{n}"] = with_server_cpu(
                    stack, run_ingester, args.scale_count, Path(spool), n, 1, args.devices
                )
                print(f"    {results[f's{n}']}", flush=True)
        if "q0" in runs:
            print(f"(q0) alertloop ingester, a QoS 0 burst of {args.burst} (paho)", flush=True)
            results["q0"] = with_server_cpu(stack, run_ingester, args.burst, Path(spool), 1, 0)
            print(f"    {results['q0']}", flush=True)
        if "b" in runs:
            print(
                f"(b) seed-style write_points per message, {args.seed_window:.0f} s sample",
                flush=True,
            )
            results["b"] = with_server_cpu(stack, run_seed, args.seed_count, args.seed_window)
            print(f"    {results['b']}", flush=True)
    print()
    print(f"{'run':<44}{'msg/s':>10}{'loss':>8}{'dup':>6}")
    names = {
        "c2": "(c2) 2 ingesters, shared subscription",
        "a": "(a) raw paho counter",
        "b": "(b) seed-style write_points (sampled)",
        "c": "(c) alertloop ingester",
        "q0": "(q0) ingester, QoS 0 burst (paho publisher)",
        "s1": "(s1) 1 ingester, fleet load",
        "s2": "(s2) 2 ingesters, shared subscription",
        "s3": "(s3) 3 ingesters, shared subscription",
    }
    for key in ("a", "b", "c", "c2", "q0", "s1", "s2", "s3"):
        if key in results:
            loss = results[key].get("loss", "n/a")
            dup = results[key].get("duplicates", "n/a")
            print(f"{names[key]:<44}{results[key]['rate']:>10.0f}{loss!s:>8}{dup!s:>6}")
    if "s1" in results:
        for n in (2, 3):
            if f"s{n}" in results:
                ratio = results[f"s{n}"]["rate"] / results["s1"]["rate"]
                print(f"s{n}/s1 = {ratio:.2f}  ({n} ingesters against one, same load)")
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
