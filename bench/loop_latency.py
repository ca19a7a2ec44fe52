"""Loop latency: from the 10 s mean of the stored points crossing the threshold to the LED.

    .venv/bin/python bench/loop_latency.py [--intervals 10,1] [--crossings 20,40] [--plot PATH]

One native stack (alertloop.hil.stack.native.NativeStack), the real ingester and webhook, the simulated
ESP32 and NodeMCU, and the alert evaluator (every provisioned rule, the provisioned policy) at
each interval in turn; intervals under 10 s run faster than Grafana. The knob flips between
90 and 10: after the LED has followed a flip it waits out Grafana's resend delay (an instance
is sent again only that long after its last send, so a rule that fires again sooner is held
back; 30 s at 10 s, 3 intervals when faster than Grafana) plus a random 0..interval s (so
crossings fall at every phase of the evaluation ticks), then flips again. Grafana also sends a
resolved instance again every resend delay for resolved_alert_retention (15 min), which moves
that clock on; the benchmark sets that retention to 0 so that every flip is a fresh change. Afterwards the crossings of
the rule's mean (inclusive 10 s window, from the points read back from InfluxDB) are matched
with the LED changes (alertloop.hil.demo.analysis). Mean excursions shorter than the allowance cannot
be required to show (they may fall between two evaluations, as in Grafana) and are counted
apart. Target: p99 <= one interval + 0.5 s; Grafana's notifier sends a change of an existing
alert group only on the group's next group_interval tick, so the figures are also set against
one interval + the loop policy's group_interval + 0.5 s. Prints the figures; saves a histogram
+ CDF.

The ESP32 publishes every 500 ms and the evaluator ticks at multiples of its interval, so at
short intervals the crossings fall at only a few phases of the ticks (at 1 s: two); the
spread of the figures there is narrow by construction.
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from alertloop.hil.demo.analysis import check_loop, mean_crossings  # noqa: E402
from alertloop.hil.demo.runner import read_points  # noqa: E402
from alertloop.hil.stack import Stack  # noqa: E402
from alertloop.hil.stack.native import NativeStack  # noqa: E402
from alertloop.services.ingester import Ingester, IngesterConfig  # noqa: E402
from alertloop.services.webhook import WebhookConfig, WebhookServer  # noqa: E402
from alertloop.services.webhook.passwords import hash_password  # noqa: E402
from alertloop.sim.alerting import AlertEvaluator  # noqa: E402
from alertloop.sim.alerting.alerts import rule_labels  # noqa: E402
from alertloop.sim.alerting.routing import match_routes  # noqa: E402
from alertloop.sim.esp32 import SimEsp32  # noqa: E402
from alertloop.sim.nodemcu import SimNodeMcu  # noqa: E402

HIGH, LOW = 90, 10
TARGET_SLACK = 0.5


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-q * len(ordered) // 100))))
    return ordered[rank - 1]


def run_phase(
    stack: Stack, parts: dict, interval: float, crossings: int, rng: random.Random
) -> dict:
    """Flip the knob ``crossings`` times with the evaluator at ``interval``; return the figures."""
    esp32, nodemcu = parts["esp32"], parts["nodemcu"]
    allowed = interval + TARGET_SLACK
    resend_delay = 30.0 if interval >= 10 else 3 * interval
    evaluator = AlertEvaluator(
        stack.influx, parts["url"], parts["user"], parts["password"], interval=interval,
        faster_than_grafana=interval < 10, resend_delay=resend_delay, resolved_retention=0.0,
    )  # fmt: skip
    (route, *_) = match_routes(evaluator.policy, rule_labels(evaluator.rule))
    group_interval = route.policy.group_interval
    started = time.time()
    with evaluator:
        esp32.set_knob(LOW)
        if nodemcu.led.name == "red":
            nodemcu.wait_for_led("green", timeout=interval + 15)
        for n in range(crossings):
            colour = "red" if n % 2 == 0 else "green"
            flipped = time.monotonic()
            esp32.set_knob(HIGH if colour == "red" else LOW)
            nodemcu.wait_for_led(colour, timeout=interval + 20)
            print(
                f"  [{interval:g} s] {n + 1:3d}/{crossings}: LED {colour:5s} "
                f"{time.monotonic() - flipped:5.2f} s after the knob flip",
                flush=True,
            )
            # past the resend delay, then spread the crossings over the evaluation phase
            time.sleep(resend_delay + rng.uniform(0, interval))
    ended = time.time()
    points = read_points(stack, started - 15.0)
    found = [c for c in mean_crossings(points, 10.0, 50.0) if started <= c.time <= ended]
    # the knob stays low after the phase: the last crossing holds past its end
    checks = check_loop(
        found, [c for c in nodemcu.history if c.time >= started], allowed, ended + allowed
    )
    required = [c for c in checks if c.required]
    latencies = [c.latency for c in required if c.latency is not None]
    return {
        "interval": interval,
        "allowed": allowed,
        "group_interval": group_interval,
        "resend_delay": resend_delay,
        "latencies": latencies,
        "crossings": len(found),
        "required": len(required),
        "missing": sum(1 for c in required if c.latency is None),
        "short": len(checks) - len(required),
        "seconds": ended - started,
    }


def report(phase: dict) -> None:
    lat = phase["latencies"]
    if not lat:
        print(f"interval {phase['interval']:g} s: no required crossing measured")
        return
    p50, p90, p99 = (percentile(lat, q) for q in (50, 90, 99))
    target = phase["allowed"]
    ticked = target + phase["group_interval"]
    print(
        f"interval {phase['interval']:>4g} s: n={len(lat):3d}  p50 {p50:6.3f} s  p90 {p90:6.3f} s  "
        f"p99 {p99:6.3f} s  max {max(lat):6.3f} s  mean {statistics.fmean(lat):6.3f} s  "
        f"target p99 <= {target:g} s: {'met' if p99 <= target else 'MISSED'} "
        f"(p99/target {p99 / target:.2f}, p99/interval {p99 / phase['interval']:.2f}); "
        f"with the group_interval tick ({phase['group_interval']:g} s) p99 <= {ticked:g} s: "
        f"{'met' if p99 <= ticked else 'MISSED'} (p99/that {p99 / ticked:.2f})"
    )
    print(
        f"    mean crossings {phase['crossings']} (required {phase['required']}, shorter than "
        f"{target:g} s {phase['short']}), LED missing {phase['missing']}, {phase['seconds']:.0f} s, "
        f"resend delay {phase['resend_delay']:g} s"
    )


def save_plot(phases: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    fig, (hist, cdf) = plt.subplots(1, 2, figsize=(11, 4.2), constrained_layout=True)
    for phase in phases:
        lat = sorted(phase["latencies"])
        if not lat:
            continue
        label = f"interval {phase['interval']:g} s (n={len(lat)})"
        hist.hist(
            [x / phase["interval"] for x in lat], bins=20, range=(0, 1.2), alpha=0.5, label=label
        )
        cdf.step(lat, [(i + 1) / len(lat) for i in range(len(lat))], where="post", label=label)
        cdf.axvline(phase["allowed"], linestyle="--", linewidth=0.8, color="grey")
    hist.set_xlabel("latency / interval")
    hist.set_ylabel("crossings")
    hist.set_title("mean crossing -> LED, relative to the interval")
    hist.legend(fontsize="small")
    cdf.set_xscale("log")
    cdf.set_xlabel("seconds (dashed: target, interval + 0.5 s)")
    cdf.set_ylabel("fraction")
    cdf.set_title("CDF of mean crossing -> LED")
    cdf.legend(fontsize="small", loc="lower right")
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--intervals", default="10,1", help="evaluation intervals in s (default 10,1)"
    )
    parser.add_argument(
        "--crossings", default="8,30", help="knob flips per interval (default 8,30)"
    )
    parser.add_argument(
        "--plot", type=Path, default=ROOT / "bench" / "results" / "loop_latency.png"
    )
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    intervals = [float(x) for x in args.intervals.split(",")]
    counts = [int(x) for x in args.crossings.split(",")]
    if len(counts) != len(intervals):
        parser.error("--crossings needs one count per interval")
    logging.basicConfig(level=logging.WARNING)
    rng = random.Random(args.seed)
    print(f"load average at start: {os.getloadavg()[0]:.2f} (2 cores)", flush=True)
    phases = []
    with ExitStack() as resources:
        # entered first so that it is removed last, after the ingester has closed its spool
        workdir = resources.enter_context(tempfile.TemporaryDirectory())
        stack = resources.enter_context(NativeStack())
        ingester = Ingester(
            IngesterConfig(
                mqtt=stack.mqtt, influx=stack.influx, topics=["/pot"], client_id="bench-loop-ingester",
                spool_dir=Path(workdir) / "spool",
            )
        )  # fmt: skip
        resources.enter_context(ingester)
        user, password = "bench", "bench-" + os.urandom(8).hex()
        webhook = resources.enter_context(
            WebhookServer(
                WebhookConfig(
                    mqtt=stack.mqtt, users={user: hash_password(password)}, bind="127.0.0.1:0"
                )
            )
        )
        nodemcu = resources.enter_context(SimNodeMcu(stack.mqtt, reconnect_interval=1.0))
        esp32 = resources.enter_context(SimEsp32(stack.mqtt, reconnect_interval=1.0))
        for part in (ingester, webhook, nodemcu, esp32):
            part.wait_connected(15.0)
        parts = {
            "esp32": esp32,
            "nodemcu": nodemcu,
            "url": f"{webhook.url}/alert",
            "user": user,
            "password": password,
        }
        for interval, count in zip(intervals, counts, strict=True):
            print(f"interval {interval:g} s: {count} knob flips", flush=True)
            phases.append(run_phase(stack, parts, interval, count, rng))
    print(f"load average at end: {os.getloadavg()[0]:.2f}")
    print("delay from the stored 10 s mean crossing 50 to the LED changing:")
    for phase in phases:
        report(phase)
    save_plot(phases, args.plot)
    print(f"plot: {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
