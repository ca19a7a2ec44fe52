"""Soak: the whole loop under fleet load, with a fault every cycle (a minute by default).

    .venv/bin/python bench/soak.py [--minutes 10] [--cycle 60] [--esp32 500] [--qos0 100]
                                   [--nodemcu 50] [--png bench/results/soak.png]

A native stack; the ingester, the webhook and the alert evaluator (interval 1 s) as processes
of their own; a fleet in this process: ``--esp32`` knobs at QoS 1 and ``--qos0`` at QoS 0, all
at 2 Hz with JSON payloads, and ``--nodemcu`` LED boards. The ingester reaches the broker
through a fault proxy, the evaluator reaches the webhook through another.

Every knob is high for the first half of each cycle and low for the second, so the alert fires
early in a cycle and resolves in its second half. At 45 % of each cycle a fault starts and
lasts 30 % of it (the broker restart: 5 s down), so the resolve falls inside the fault. Faults
in turn: broker restart, InfluxDB outage, stalled ingester link, webhook outage, 300 ms
latency on the ingester link.

Prints per fault: QoS 1 and QoS 0 messages published / stored / lost in that cycle, how long
after the heal every LED showed the right colour; RSS of every process after the warm-up
(the first cycle) and at the end; and saves a PNG (rates, faults, RSS, LEDs).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import requests  # noqa: E402

from alertloop.hil.faults import FaultProxy  # noqa: E402
from alertloop.hil.faults.accounting import delivery_report  # noqa: E402
from alertloop.hil.stack import NativeStack  # noqa: E402
from alertloop.hil.stack.probes import free_port  # noqa: E402
from alertloop.services.common.deadline import wait_until  # noqa: E402
from alertloop.services.webhook.passwords import hash_password  # noqa: E402
from alertloop.sim.fleet import Fleet, FleetConfig, raise_open_file_limit  # noqa: E402
from alertloop.sim.signals import Square  # noqa: E402

PASSWORD = "soak-password"
FAULT_AT, FAULT_FOR = 0.45, 0.3  # of a cycle: the alert's resolve falls inside the fault
FAULTS = [
    "broker restart",
    "InfluxDB outage",
    "ingester link stalled",
    "webhook outage",
    "latency 300 ms",
]


@dataclass
class Samples:
    t: list[float] = field(default_factory=list)
    published: list[int] = field(default_factory=list)
    written: list[float] = field(default_factory=list)
    red: list[float] = field(default_factory=list)
    rss: dict[str, list[tuple[float, float]]] = field(default_factory=lambda: defaultdict(list))


def rss_mib(pid: int | None) -> float | None:
    if pid is None:
        return None
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def metric(url: str, name: str) -> float | None:
    try:
        text = requests.get(url, timeout=1).text
    except requests.RequestException:
        return None
    found = re.search(rf"^{name}(?:_total)? ([0-9.e+]+)$", text, re.M)
    return float(found.group(1)) if found else None


def spawn(argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "alertloop.hil.cli", *argv],
        env={**os.environ, **env},
        cwd=ROOT,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--cycle", type=float, default=60.0, help="seconds between faults")
    parser.add_argument("--esp32", type=int, default=500)
    parser.add_argument("--qos0", type=int, default=100)
    parser.add_argument("--nodemcu", type=int, default=50)
    parser.add_argument("--png", default=str(ROOT / "bench" / "results" / "soak.png"))
    args = parser.parse_args()
    cycles = max(1, round(args.minutes * 60 / args.cycle))
    work = Path(tempfile.mkdtemp(prefix="alertloop-soak-"))
    print(
        f"soak: {cycles} cycles of {args.cycle:g} s, {args.esp32} + {args.qos0} ESP32s at 2 Hz, "
        f"{args.nodemcu} NodeMCUs; machine load average {os.getloadavg()[0]:.1f}; logs in {work}",
        flush=True,
    )
    procs: dict[str, subprocess.Popen[bytes]] = {}
    raise_open_file_limit(args.esp32 + args.qos0 + args.nodemcu + 1024)  # mosquitto inherits it
    with NativeStack() as stack:
        influx = stack.influx
        client = influx.client()
        client.create_database("soak")
        client.close()
        db = type(influx)(influx.host, influx.port, database="soak")
        ingester_proxy = FaultProxy(stack.mqtt.host, stack.mqtt.port, name="ingester").start()
        metrics_port, webhook_port = free_port(), free_port()
        webhook_proxy = FaultProxy("127.0.0.1", webhook_port, name="webhook").start()
        prefix = "soak"
        procs["ingester"] = spawn(
            [
                "ingest",
                "--mqtt-url",
                ingester_proxy.mqtt_settings(stack.mqtt).url,
                "--influx-url",
                influx.url,
                "--influx-db",
                "soak",
                "--topic",
                f"{prefix}/{{device}}/pot",
                "--client-id",
                "soak-ingester",
                "--spool-dir",
                str(work / "spool"),
                "--metrics-bind",
                f"127.0.0.1:{metrics_port}",
                "--keepalive",
                "5",
                "--retry-max",
                "2",
                "--reconnect-max",
                "2",
                "--log-format",
                "text",
            ],
            {},
            work / "ingester.log",
        )
        procs["webhook"] = spawn(
            [
                "webhook",
                "--bind",
                f"127.0.0.1:{webhook_port}",
                "--mqtt-url",
                stack.mqtt.url,
                "--topic",
                f"{prefix}/alert",
                "--log-format",
                "text",
            ],
            {"ALERTLOOP_WEBHOOK_USERS": f"soak:{hash_password(PASSWORD, 'pbkdf2:sha256:20000')}"},
            work / "webhook.log",
        )
        procs["evaluator"] = spawn(
            [
                "sim",
                "alerting",
                "--interval",
                "1",
                "--faster-than-grafana",
                "--influx-url",
                influx.url,
                "--influx-db",
                "soak",
                "--webhook-url",
                f"{webhook_proxy.url()}/alert",
                "--webhook-user",
                "soak",
                "--webhook-password",
                PASSWORD,
                "--log-format",
                "text",
            ],
            {},
            work / "evaluator.log",
        )
        metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"
        wait_until(
            lambda: metric(metrics_url, "alertloop_ingest_mqtt_connected") == 1,
            30,
            what="the ingester",
        )
        knob = Square(low=20, high=80, period=args.cycle, duty=0.5)
        common: dict[str, Any] = {
            "prefix": prefix,
            "rate": 2.0,
            "json_payload": True,
            "record_published": True,
            "reconnect_interval": 1.0,
            "signal": lambda i, d: knob,
        }
        reliable = Fleet(
            stack.mqtt,
            FleetConfig(
                esp32=args.esp32,
                nodemcu=args.nodemcu,
                qos=1,
                device_template="q1-{kind}-{index:04d}",
                **common,
            ),
        ).start()
        cheap = Fleet(
            stack.mqtt,
            FleetConfig(esp32=args.qos0, qos=0, device_template="q0-{index:04d}", **common),
        ).start()
        reliable.wait_connected(60)
        cheap.wait_connected(60)
        start = time.time()
        # every knob's square wave starts now: high for the first half of each cycle
        reliable.follow(knob)
        cheap.follow(knob)
        samples = Samples()
        stop = threading.Event()

        def pids() -> dict[str, int | None]:
            out: dict[str, int | None] = {name: p.pid for name, p in procs.items()}
            out["mosquitto"] = stack._servers["mqtt"].pid  # noqa: SLF001
            out["influxd"] = stack._servers["influxdb"].pid  # noqa: SLF001
            out["fleet (this process)"] = os.getpid()
            return out

        def sample() -> None:
            tick = 0
            while not stop.wait(0.5):
                now = time.time() - start
                samples.t.append(now)
                samples.published.append(reliable.stats().published + cheap.stats().published)
                samples.written.append(
                    metric(metrics_url, "alertloop_ingest_written") or float("nan")
                )
                leds = list(reliable.leds().values())
                samples.red.append(sum(1 for s in leds if s.name == "red") / max(1, len(leds)))
                tick += 1
                if tick % 4 == 0:
                    for name, pid in pids().items():
                        value = rss_mib(pid)
                        if value is not None:
                            samples.rss[name].append((now, value))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        spans: list[tuple[float, float, str]] = []
        converge: list[tuple[str, float | None, float | None]] = []
        rss_warm: dict[str, float] = {}
        for cycle in range(cycles):
            base = start + cycle * args.cycle
            name = FAULTS[cycle % len(FAULTS)]
            red_at = _all_leds(reliable, "red", base, base + FAULT_AT * args.cycle)
            _until(base + FAULT_AT * args.cycle)
            if cycle == 1 or (cycles == 1 and not rss_warm):
                rss_warm = {n: rss_mib(p) or 0.0 for n, p in pids().items()}
            begin = time.time() - start
            length = 5.0 if name == "broker restart" else FAULT_FOR * args.cycle
            _fault(name, True, stack, ingester_proxy, webhook_proxy)
            _until(time.time() + length)
            _fault(name, False, stack, ingester_proxy, webhook_proxy)
            healed = time.time()
            spans.append((begin, healed - start, name))
            green = _all_leds(reliable, "green", healed, base + args.cycle)
            converge.append(
                (
                    name,
                    None if red_at is None else red_at - base,
                    None if green is None else max(0.0, green - healed),
                )
            )
            print(
                f"cycle {cycle + 1}/{cycles}: {name} at +{begin:.0f} s for {length:.0f} s; all red "
                f"{_fmt(converge[-1][1])} after the knob went up, all green {_fmt(converge[-1][2])} after the heal",
                flush=True,
            )
            _until(base + args.cycle)
        if not rss_warm:
            rss_warm = {n: rss_mib(p) or 0.0 for n, p in pids().items()}
        rss_end = {n: rss_mib(p) or 0.0 for n, p in pids().items()}
        stop.set()
        sampler.join()
        reliable.stop()
        cheap.stop()
        # wait for the ingester to store what was acknowledged, then count
        wait_until(
            lambda: delivery_report(reliable, db).lost == 0,
            120,
            what="every QoS 1 message stored",
            state=lambda: delivery_report(reliable, db).line(),
        )
        report1, report0 = delivery_report(reliable, db), delivery_report(cheap, db)
        for proc in procs.values():
            proc.terminate()
        for proc in procs.values():
            proc.wait(15)
        ingester_proxy.stop()
        webhook_proxy.stop()

    print()
    print("per fault (messages sent in that cycle): published / stored / lost")
    for cycle, (name, red, green) in enumerate(converge):
        lo, hi = (
            int((start + cycle * args.cycle) * 1000),
            int((start + (cycle + 1) * args.cycle) * 1000),
        )
        line = []
        for label, fleet, report in (("QoS 1", reliable, report1), ("QoS 0", cheap, report0)):
            sent = sum(
                1
                for d in fleet.esp32s
                for ts in (d.record if d.record is not None else ())
                if lo <= ts < hi
            )
            lost = report.lost_between(lo, hi - 1)
            line.append(f"{label} {sent} / {sent - lost} / {lost}")
        print(
            f"  {cycle + 1}. {name:<22} {';  '.join(line)};  LEDs red {_fmt(red)} after the rise, green {_fmt(green)} after the heal"
        )
    print(f"whole run: {report1.line()}")
    print(f"whole run: {report0.line()}")
    print("RSS MiB after warm-up -> end (growth):")
    for name in rss_end:
        before, after = rss_warm.get(name, 0.0), rss_end[name]
        growth = (after - before) / before * 100 if before else 0.0
        note = " (restarted during the run)" if name in ("mosquitto", "influxd") else ""
        flag = "" if growth <= 10 else "  GROWTH ABOVE 10 %"
        print(f"  {name:<22} {before:7.1f} -> {after:7.1f} ({growth:+.1f} %){note}{flag}")
    _plot(args.png, samples, spans)
    print(f"plot: {args.png}")
    return 0 if report1.lost == 0 else 1


def _fault(
    name: str, on: bool, stack: NativeStack, ingester: FaultProxy, webhook: FaultProxy
) -> None:
    servers = stack.servers
    if name == "broker restart":
        (servers["mqtt"].stop if on else servers["mqtt"].start)()
    elif name == "InfluxDB outage":
        (servers["influxdb"].stop if on else servers["influxdb"].start)()
    elif name == "ingester link stalled":
        ingester.stall() if on else ingester.heal()
    elif name == "webhook outage":
        if on:
            webhook.refuse()
            webhook.drop()
        else:
            webhook.heal()
    elif name == "latency 300 ms":
        ingester.set_latency(0.3, 0.1) if on else ingester.heal()


def _all_leds(fleet: Fleet, state: str, since: float, until: float) -> float | None:
    """When every LED showed ``state`` (epoch s, at or after ``since``), waiting up to ``until``."""

    def done() -> float | None:
        if any(d.led.name != state for d in fleet.nodemcus):
            return None
        times = [c.time for d in fleet.nodemcus for c in d.changes if c.state.name == state]
        return max(max(times, default=since), since)

    try:
        return wait_until(
            done, max(0.1, until - time.time()), what=f"every LED {state}", interval=0.1
        )
    except Exception:
        return None


def _until(when: float) -> None:
    threading.Event().wait(
        max(0.0, when - time.time())
    )  # the soak's timeline, not a wait for an event


def _fmt(value: float | None) -> str:
    return "never" if value is None else f"{value:.1f} s"


def _plot(path: str, samples: Samples, spans: list[tuple[float, float, str]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig, axes = plt.subplots(3, 1, figsize=(12, 9), sharex=True)
    t = samples.t

    def rate(values: list[float]) -> list[float]:
        return [0.0] + [
            max(0.0, (values[i] - values[i - 1]) / max(1e-6, t[i] - t[i - 1]))
            for i in range(1, len(values))
        ]

    axes[0].plot(
        t, rate([float(v) for v in samples.published]), label="published/s (fleet)", lw=0.8
    )
    axes[0].plot(t, rate(samples.written), label="written/s (ingester)", lw=0.8)
    axes[0].set_ylabel("messages/s")
    for name, points in samples.rss.items():
        axes[1].plot([p[0] for p in points], [p[1] for p in points], label=name, lw=1)
    axes[1].set_ylabel("RSS MiB")
    axes[2].plot(t, [r * 100 for r in samples.red], color="red", lw=1, label="LEDs red")
    axes[2].set_ylabel("% of LEDs red")
    axes[2].set_xlabel("seconds")
    for ax in axes:
        for begin, end, _name in spans:
            ax.axvspan(begin, end, color="grey", alpha=0.25)
        ax.legend(loc="upper right", fontsize=7)
    for begin, _, name in spans:
        axes[0].text(begin, axes[0].get_ylim()[1] * 0.95, name, fontsize=7, va="top")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


if __name__ == "__main__":
    sys.exit(main())
