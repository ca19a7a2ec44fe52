"""Ingester memory across repeated outages: a leak, or the allocator's high-water mark?

    .venv/bin/python bench/ingest_memory.py [--cycles 6] [--outage 20] [--devices 600]
                                            [--fault influx|stall|both]
                                            [--variant NAME[:VAR=VALUE,...]] [--base REV]

A native stack; a fleet of ``--devices`` ESP32s at 2 Hz, QoS 1, JSON payloads (as in
``bench/soak.py``) in this process; one ingester process per variant, all subscribed to the
same topics, each with its own client id, spool and database, so every variant gets the same
load and the same outages at the same time. Each cycle cuts InfluxDB (``influx``: stop and
start its server) or the ingesters' broker link (``stall``: a fault proxy stops moving bytes)
for ``--outage`` seconds, so each ingester has a backlog of ``devices x 2 x outage`` points
(in its spool or at the broker); then the script waits until every ingester has taken what was
published meanwhile and its spool holds at most a second of load (``drain``: how long that
took), lets the processes settle for ``--settle`` seconds and reads their memory.

After each cycle the script prints per variant, in MiB: ``RSS`` (``VmRSS``); what glibc's
malloc has handed out (``malloc``: mallinfo2's uordblks + hblkhd) and what it holds free
(``m.free``: fordblks); Python's small objects in use (``pyobj``) and the arenas pymalloc
holds for them (``arenas``), from ``sys._debugmallocstats``; and, for a variant run with
tracemalloc, the Python heap (``traced``), its highest since the last cycle (``peak``) and the
source lines that held most at that peak. The numbers come from the ingester itself: each runs
under this script's ``--child`` mode, which answers SIGUSR1 with one JSON line and otherwise
runs ``alertloop.services.ingester`` unchanged. RSS that grows while ``malloc``, ``pyobj`` and
``traced`` stay flat is memory the allocators keep, not a leak.

Variants: ``default`` (no setting), ``arena2`` (``MALLOC_ARENA_MAX=2``), ``traced`` (with
tracemalloc; its RSS includes tracemalloc's own tables), or ``NAME:VAR=VALUE,...`` for any
environment. ``--base REV`` adds a variant ``base`` that runs the ingester of commit REV (taken
with ``git archive`` into a temporary directory), for before/after figures in one run.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PRESETS = {
    "default": {},
    "arena2": {"MALLOC_ARENA_MAX": "2"},
    "traced": {"ALERTLOOP_BENCH_TRACEMALLOC": "1"},
}
MiB = 1024 * 1024


# -- the child: the ingester with a memory report on SIGUSR1 ------------------------------
class _Mallinfo2(ctypes.Structure):
    _fields_ = [  # noqa: RUF012  (ctypes' layout)
        (name, ctypes.c_size_t)
        for name in (
            "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
            "fsmblks", "uordblks", "fordblks", "keepcost",
        )
    ]  # fmt: skip


def _obmalloc() -> dict[str, int]:
    """pymalloc's arenas (``held``, bytes mapped) and the bytes of its blocks in use, from
    ``sys._debugmallocstats`` (it writes to file descriptor 2, so that is redirected)."""
    with tempfile.TemporaryFile() as out:
        saved = os.dup(2)
        try:
            os.dup2(out.fileno(), 2)
            sys._debugmallocstats()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        out.seek(0)
        text = out.read().decode()
    held = re.search(r"^(\d+) arenas \* (\d+) bytes/arena", text, re.M)
    used = re.search(r"^# bytes in allocated blocks\s+=\s+([\d,]+)", text, re.M)
    if not (held and used):  # pymalloc is not the allocator (tracemalloc hooks it)
        return {}
    return {
        "ob_held": int(held.group(1)) * int(held.group(2)),
        "ob_used": int(used.group(1).replace(",", "")),
    }


class _PeakWatch:
    """With tracemalloc on: the Python heap now, its peak since the last report, and the
    source lines that held the most at that peak, beyond what they held at the first report
    (a thread looks every 20 ms and takes a snapshot when the heap is 512 KiB above the
    highest it has seen since the last report)."""

    def __init__(self) -> None:
        import tracemalloc

        self._tm = tracemalloc
        self._filters = [tracemalloc.Filter(False, tracemalloc.__file__)]
        self._lock = threading.Lock()
        self._base: object = None
        self._best = 0
        self._best_snap: object = None
        threading.Thread(target=self._watch, daemon=True).start()

    def _snapshot(self) -> object:
        return self._tm.take_snapshot().filter_traces(self._filters)

    def _watch(self) -> None:
        while True:
            time.sleep(0.02)
            now = self._tm.get_traced_memory()[0]
            if self._base is not None and now > self._best + 512 * 1024:
                snap = self._snapshot()
                with self._lock:
                    self._best, self._best_snap = now, snap

    def report(self) -> dict[str, object]:
        current, _ = self._tm.get_traced_memory()
        with self._lock:
            best, snap = self._best, self._best_snap
            if self._base is None:
                self._base = self._snapshot()
            self._best, self._best_snap = current, None
        out: dict[str, object] = {"py": current, "py_peak": max(best, current)}
        if snap is not None:
            diff = snap.compare_to(self._base, "lineno")  # type: ignore[attr-defined]
            out["at_peak"] = [
                f"{s.size_diff / 1024:+.0f} KiB {s.count_diff:+d} "
                f"{s.traceback[0].filename.rsplit('/', 2)[-1]}:{s.traceback[0].lineno}"
                for s in diff[:8]
            ]
        return out


def _child(report: Path, source: str | None, argv: list[str]) -> int:
    """Run the ingester in this process; on SIGUSR1 append one JSON line to ``report``."""
    traced = os.environ.get("ALERTLOOP_BENCH_TRACEMALLOC") == "1"
    if traced:
        import tracemalloc

        tracemalloc.start(1)
    if source:  # an older tree's services package, found before the installed one
        import importlib.util

        spec = importlib.util.spec_from_file_location(
            "alertloop.services",
            Path(source, "services", "__init__.py"),
            submodule_search_locations=[str(Path(source, "services"))],
        )
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules["alertloop.services"] = module
        spec.loader.exec_module(module)
    libc = ctypes.CDLL("libc.so.6")
    libc.mallinfo2.restype = _Mallinfo2
    peaks = _PeakWatch() if traced else None

    def on_usr1(*_: object) -> None:
        info = libc.mallinfo2()
        out: dict[str, object] = {
            "in_use": info.uordblks + info.hblkhd,
            "free": info.fordblks,
            "arena": info.arena,
            "mmapped": info.hblkhd,
        }
        out.update(_obmalloc())
        if peaks is not None:
            out.update(peaks.report())
        with report.open("a") as handle:
            handle.write(json.dumps(out) + "\n")

    signal.signal(signal.SIGUSR1, on_usr1)
    from alertloop.services.ingester.cli import main

    return main(argv)


# -- the driver ---------------------------------------------------------------------------
@dataclass
class Variant:
    name: str
    env: dict[str, str]
    source: str | None = None
    proc: subprocess.Popen[bytes] | None = None
    metrics: str = ""
    report: Path = Path()
    rows: list[dict[str, float]] = field(default_factory=list)


def _rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _metric(url: str, name: str) -> float | None:
    import requests

    try:
        text = requests.get(url, timeout=2).text
    except requests.RequestException:
        return None
    found = re.search(rf"^{name} ([0-9.e+]+)$", text, re.M)
    return float(found.group(1)) if found else None


def _sample(variant: Variant) -> dict[str, float]:
    assert variant.proc is not None
    lines = len(variant.report.read_text().splitlines()) if variant.report.exists() else 0
    os.kill(variant.proc.pid, signal.SIGUSR1)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        got = variant.report.read_text().splitlines() if variant.report.exists() else []
        if len(got) > lines:
            row = json.loads(got[-1])
            row["rss"] = _rss_mib(variant.proc.pid) * MiB
            return row
        time.sleep(0.1)
    raise RuntimeError(f"{variant.name}: no memory report within 20 s")


def _parse_variant(text: str) -> Variant:
    name, _, settings = text.partition(":")
    if not settings:
        if name not in PRESETS:
            raise SystemExit(f"unknown variant {name!r}: {', '.join(PRESETS)} or NAME:VAR=VALUE")
        return Variant(name, dict(PRESETS[name]))
    env = dict(item.split("=", 1) for item in settings.split(","))
    return Variant(name, env)


def _received(variants: list[Variant]) -> list[float]:
    return [_metric(v.metrics, "alertloop_ingest_received_total") or 0.0 for v in variants]


def _wait_drained(
    variants: list[Variant],
    timeout: float,
    rate: int,
    since: tuple[float, list[float]] | None = None,
) -> float:
    """Wait until every ingester has taken what was published since ``since`` (a monotonic
    time and the received counts then; 98 % of ``rate`` a second, so the broker's backlog is
    delivered) and its spool holds at most a second of load (``rate`` lines: the fleet keeps
    publishing). Returns the seconds it took."""
    began = time.monotonic()
    while time.monotonic() - began < timeout:
        left = [_metric(v.metrics, "alertloop_ingest_spool_lines") for v in variants]
        caught_up = True
        if since is not None:
            expected = 0.98 * rate * (time.monotonic() - since[0])
            caught_up = all(
                now - then >= expected
                for now, then in zip(_received(variants), since[1], strict=True)
            )
        if caught_up and all(n is not None and n <= rate for n in left):
            return time.monotonic() - began
        time.sleep(0.5)
    raise RuntimeError(f"spools not drained after {timeout} s")


def _mib(value: float) -> str:
    return f"{value / MiB:6.1f}"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cycles", type=int, default=6)
    parser.add_argument("--outage", type=float, default=20.0, help="seconds of each outage")
    parser.add_argument("--devices", type=int, default=600, help="ESP32s at 2 Hz, QoS 1")
    parser.add_argument("--settle", type=float, default=5.0, help="seconds after a drain")
    parser.add_argument("--fault", choices=["influx", "stall", "both"], default="influx")
    parser.add_argument("--variant", action="append", help="default, arena2, traced, NAME:VAR=V")
    parser.add_argument("--base", help="also run the ingester of this commit (variant base)")
    args = parser.parse_args()
    if args.variant is None:
        args.variant = ["default", "arena2", "traced"]
    variants = [_parse_variant(text) for text in args.variant]

    sys.path.insert(0, str(ROOT))
    from alertloop.hil.faults import FaultProxy
    from alertloop.hil.stack import NativeStack
    from alertloop.hil.stack.probes import free_port
    from alertloop.sim.fleet import Fleet, FleetConfig, raise_open_file_limit

    work = Path(tempfile.mkdtemp(prefix="alertloop-memory-"))
    if args.base:
        base = work / "base"
        base.mkdir()
        archive = subprocess.run(
            ["git", "archive", args.base, "services"], cwd=ROOT, check=True, capture_output=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(base)], input=archive, check=True)
        variants.insert(0, Variant("base", {}, source=str(base)))
    backlog = int(args.devices * 2 * args.outage)
    print(
        f"ingest memory: {args.cycles} cycles, {args.fault} outages of {args.outage:g} s, "
        f"{args.devices} devices at 2 Hz (about {backlog} points of backlog each time); "
        f"variants {', '.join(v.name for v in variants)}; load average "
        f"{os.getloadavg()[0]:.1f}; logs in {work}",
        flush=True,
    )
    raise_open_file_limit(args.devices + 1024)
    stop_sampling = threading.Event()
    with NativeStack() as stack:
        proxy = FaultProxy(stack.mqtt.host, stack.mqtt.port, name="ingesters").start()
        fleet = None
        try:
            for variant in variants:
                port = free_port()
                variant.metrics = f"http://127.0.0.1:{port}/metrics"
                variant.report = work / f"{variant.name}.jsonl"
                child = [sys.executable, __file__, "--child", str(variant.report)]
                if variant.source:
                    child += ["--source", variant.source]
                variant.proc = subprocess.Popen(
                    [*child, "--",
                     "--mqtt-url", proxy.mqtt_settings(stack.mqtt).url,
                     "--influx-url", stack.influx.url, "--influx-db", f"mem_{variant.name}",
                     "--topic", "mem/{device}/pot", "--client-id", f"mem-{variant.name}",
                     "--spool-dir", str(work / f"spool-{variant.name}"),
                     "--metrics-bind", f"127.0.0.1:{port}",
                     "--keepalive", "5", "--retry-max", "2", "--reconnect-max", "2",
                     "--log-format", "text"],
                    env={**os.environ, **variant.env},
                    cwd=ROOT,
                    stdout=(work / f"{variant.name}.log").open("wb"),
                    stderr=subprocess.STDOUT,
                )  # fmt: skip
            deadline = time.monotonic() + 30
            while not all(
                _metric(v.metrics, "alertloop_ingest_mqtt_connected") == 1 for v in variants
            ):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the ingesters did not connect; logs in {work}")
                time.sleep(0.2)
            fleet = Fleet(
                stack.mqtt,
                FleetConfig(
                    esp32=args.devices, qos=1, rate=2.0, prefix="mem", json_payload=True,
                    reconnect_interval=1.0,
                ),
            ).start()  # fmt: skip
            fleet.wait_connected(60)
            time.sleep(10)  # warm-up: every series seen, every batch size met once
            _wait_drained(variants, 60, args.devices * 2)
            time.sleep(args.settle)
            for variant in variants:
                variant.rows.append(_sample(variant))
            _print_header(variants)
            _print_row("warm-up", 0.0, variants)
            for cycle in range(1, args.cycles + 1):
                fault = args.fault
                if fault == "both":
                    fault = "influx" if cycle % 2 else "stall"
                since = (time.monotonic(), _received(variants))
                if fault == "influx":
                    stack.servers["influxdb"].stop()
                else:
                    proxy.stall()
                stop_sampling.wait(args.outage)  # the outage's length, not a wait for an event
                if fault == "influx":
                    stack.servers["influxdb"].start()
                else:
                    proxy.heal()
                took = _wait_drained(variants, 300, args.devices * 2, since)
                time.sleep(args.settle)
                for variant in variants:
                    variant.rows.append(_sample(variant))
                _print_row(f"{cycle}. {fault}", took, variants)
            _print_summary(variants)
        finally:
            if fleet is not None:
                fleet.stop()
            for variant in variants:
                if variant.proc is not None and variant.proc.poll() is None:
                    variant.proc.terminate()
            for variant in variants:
                if variant.proc is not None:
                    try:
                        variant.proc.wait(20)
                    except subprocess.TimeoutExpired:
                        variant.proc.kill()
                        variant.proc.wait()
            proxy.stop()
    return 0


COLUMNS = (  # key in a report, heading
    ("rss", "RSS"),
    ("in_use", "malloc"),
    ("free", "m.free"),
    ("ob_used", "pyobj"),
    ("ob_held", "arenas"),
    ("py", "traced"),
    ("py_peak", "peak"),
)


def _print_header(variants: list[Variant]) -> None:
    width = 7 * len(COLUMNS) - 1
    cells = "".join(f" | {v.name:^{width}}" for v in variants)
    print(f"{'MiB after':<12} {'drain':>6}{cells}")
    sub = " ".join(f"{label:>6}" for _, label in COLUMNS)
    print(f"{'':<12} {'':>6}" + f" | {sub}" * len(variants), flush=True)


def _print_row(label: str, took: float, variants: list[Variant]) -> None:
    cells = ""
    for v in variants:
        row = v.rows[-1]
        cells += " | " + " ".join(
            _mib(row[key]) if key in row else f"{'-':>6}" for key, _ in COLUMNS
        )
    print(f"{label:<12} {took:5.1f}s{cells}", flush=True)
    for v in variants:
        if v.rows[-1].get("at_peak"):
            lines = "; ".join(v.rows[-1]["at_peak"][:5])  # type: ignore[index]
            print(f"{'':<12} {v.name} at its peak, beyond the warm-up: {lines}", flush=True)


def _print_summary(variants: list[Variant]) -> None:
    print("from the warm-up to the last cycle, MiB (in brackets: from cycle 1 to the last):")
    for v in variants:
        first, one, last = v.rows[0], v.rows[min(1, len(v.rows) - 1)], v.rows[-1]
        parts = [
            f"{label} {(last[key] - first[key]) / MiB:+.1f} ({(last[key] - one[key]) / MiB:+.1f})"
            for key, label in COLUMNS
            if key in first
        ]
        growth = (last["rss"] - first["rss"]) / first["rss"] * 100
        print(f"  {v.name:<10} RSS {growth:+.1f} %: " + ", ".join(parts))


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        report, rest = Path(sys.argv[2]), sys.argv[3:]
        source = None
        if rest[:1] == ["--source"]:
            source, rest = rest[1], rest[2:]
        sys.exit(_child(report, source, rest[1:] if rest[:1] == ["--"] else rest))
    sys.exit(main())
