"""The webhook's publisher alone, without HTTP: 1 and 8 threads publishing alternating states.

    .venv/bin/python bench/webhook_publisher.py [--notifications 4000] [--rounds 3]

Starts a broker (alertloop.hil.stack.native.NativeStack) and one MqttPublisher, then has 1 and 8
threads call ``publish`` with globally alternating states (each notification the opposite of
the one before it), as the request threads of the service do. Prints notifications/s, the
process's CPU per notification and publishes per notification (the group commit), the
median of the rounds. It shows what the publisher itself costs and whether concurrency makes
it slower; logging is at WARNING, so the ``state published`` lines are not counted.
"""

from __future__ import annotations

import argparse
import itertools
import logging
import os
import statistics
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from alertloop.hil.stack.native import NativeStack  # noqa: E402
from alertloop.services.webhook.payloads import Decision  # noqa: E402
from alertloop.services.webhook.publisher import MqttPublisher  # noqa: E402

DECISIONS = [Decision("legacy", "1", "alerting"), Decision("legacy", "0", "ok")]


def cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


def run(publisher: MqttPublisher, threads: int, total: int) -> tuple[float, float, float]:
    """(notifications/s, CPU us per notification, publishes per notification)."""
    per_thread = total // threads
    sent = itertools.count()

    def work() -> None:
        for _ in range(per_thread):
            publisher.publish(DECISIONS[next(sent) % 2])

    workers = [threading.Thread(target=work) for _ in range(threads)]
    publishes, cpu, start = publisher.publishes, cpu_seconds(), time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    seconds = time.perf_counter() - start
    count = per_thread * threads
    return (
        count / seconds,
        (cpu_seconds() - cpu) / count * 1e6,
        (publisher.publishes - publishes) / count,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description="webhook publisher benchmark")
    parser.add_argument("--notifications", type=int, default=4000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    print(f"load average before: {os.getloadavg()[0]:.2f} (2 cores)", flush=True)
    results: dict[int, list[tuple[float, float, float]]] = {1: [], 8: []}
    with NativeStack() as stack, MqttPublisher(stack.mqtt, "bench/publisher/alert") as publisher:
        publisher.wait_connected(10)
        run(publisher, 1, 200)  # warm-up
        for round_no in range(1, args.rounds + 1):
            for threads in (1, 8) if round_no % 2 else (8, 1):
                result = run(publisher, threads, args.notifications)
                results[threads].append(result)
                print(
                    f"round {round_no} {threads} thread(s): {result[0]:7.0f}/s, "
                    f"CPU {result[1]:4.0f} us, {result[2]:.2f} publishes per notification",
                    flush=True,
                )
    print(f"\nmedian of {args.rounds} rounds, {args.notifications} notifications a run")
    for threads, rows in results.items():
        rate, cpu, share = (statistics.median(r[i] for r in rows) for i in range(3))
        print(f"{threads} thread(s): {rate:7.0f}/s, CPU {cpu:4.0f} us, {share:.2f} publishes")
    ratio = statistics.median(r[0] for r in results[8]) / statistics.median(
        r[0] for r in results[1]
    )
    print(f"{'PASS' if ratio >= 1 else 'MISS'}  8 threads / 1 thread >= 1.0: {ratio:.2f}")
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
