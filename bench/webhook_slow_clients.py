"""Webhook under idle and slow (slowloris) connections: is Grafana still answered within 1 s?

    .venv/bin/python bench/webhook_slow_clients.py [--connections 1000] [--seconds 15]
    .venv/bin/python bench/webhook_slow_clients.py --tree /path/to/other/checkout  # before/after

Starts a broker (alertloop.hil.stack.native.NativeStack) and the webhook service as a process with a
scrypt-hashed user. For each scenario an attacking process opens ``--connections``
connections to it, all to 127.0.0.1: ``idle`` ones send nothing, ``slow`` ones send a
request's headers one byte a second each (slowloris). A connection the server closes is
opened again at once, so the attack keeps trying to hold that many. Meanwhile this process
sends a notification every 0.5 s on a new connection, as an authenticated Grafana would, with
a 5 s timeout. Scenarios run with the server's default caps (the attack and the notifier
share one address, so the per-client cap applies to both) and with the per-client cap
raised above the attack, so that every attacking connection is held at once. Then an
unauthenticated 200 MiB chunked upload: the time to its 401 and how much the sockets took
before it. ``held`` is the server's own count of open connections (its ``/metrics``; nan for
a server without that figure). Each scenario is bounded by ``--seconds``; the script stops by
itself.

Target (docs/performance.md): with 1,000 idle or slow connections open, Grafana's
notification still answered within a second.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import multiprocessing
import os
import selectors
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from alertloop.hil.stack.native import NativeStack  # noqa: E402
from alertloop.services.common.deadline import Deadline, wait_until  # noqa: E402
from alertloop.services.webhook.passwords import hash_password  # noqa: E402

CONTEXT = multiprocessing.get_context("fork")
USER, PASSWORD = "grafana", "bench-password"
AUTH = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
BODIES = [json.dumps({"state": s, "ruleName": "pot mean"}).encode() for s in ("alerting", "ok")]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Attack:
    """``count`` connections to 127.0.0.1:``port``, kept open (reopened when closed)."""

    port: int
    count: int
    kind: str  # "idle" or "slow"
    # Shared with the attacking process: a stop flag and the count of reopened connections.
    _stop: Any = field(default_factory=lambda: CONTEXT.Event())
    _reopened: Any = field(default_factory=lambda: CONTEXT.Value("q", 0))

    @property
    def reopened(self) -> int:
        return int(self._reopened.value)

    HEAD = b"POST /alert HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 20\r\n"

    def run(self) -> None:
        selector = selectors.DefaultSelector()
        sent: dict[socket.socket, int] = {}

        def open_one() -> None:
            sock = socket.socket()
            sock.setblocking(False)
            sock.connect_ex(("127.0.0.1", self.port))
            selector.register(sock, selectors.EVENT_READ)
            sent[sock] = 0

        def drop(sock: socket.socket) -> None:
            selector.unregister(sock)
            sent.pop(sock, None)
            sock.close()

        for _ in range(self.count):
            open_one()
        next_byte = time.monotonic() + 1.0
        try:
            while not self._stop.is_set():
                for key, _ in selector.select(timeout=0.1):
                    sock = key.fileobj
                    assert isinstance(sock, socket.socket)
                    try:
                        data = sock.recv(65536)
                    except BlockingIOError:
                        continue
                    except OSError:
                        data = b""
                    if not data:  # closed (or answered and closing): take its place again
                        drop(sock)
                        with self._reopened.get_lock():
                            self._reopened.value += 1
                        open_one()
                if time.monotonic() >= next_byte:
                    next_byte += 1.0
                    if self.kind == "slow":
                        for sock, position in list(sent.items()):
                            with_byte = self.HEAD[position : position + 1] or b"x"
                            try:
                                sock.send(with_byte)
                                sent[sock] = position + 1
                            except (BlockingIOError, OSError):
                                pass
        finally:
            for sock in list(sent):
                drop(sock)
            selector.close()

    def stop(self) -> None:
        self._stop.set()


@dataclass
class Figures:
    scenario: str
    latencies: list[float]
    failures: int
    held: float  # connections the server holds (its /metrics), median over the scenario
    reopened: int  # attacking connections the server closed (and the attack opened again)
    counts: dict[str, float]  # server: replaced, refused, timeouts during the scenario
    why: list[str] = field(default_factory=list)  # what the failed notifications got

    def line(self) -> str:
        ms = sorted(x * 1000 for x in self.latencies)
        p50 = statistics.median(ms) if ms else float("nan")
        worst = ms[-1] if ms else float("nan")
        answered = f"{len(ms)}/{len(ms) + self.failures}"
        server = " ".join(f"{k} {v:.0f}" for k, v in self.counts.items())
        return f"{self.scenario:40} {self.held:6.0f} {self.reopened:8} {answered:>9} {p50:8.1f} {worst:8.1f}  {server}"


FAILURES: list[str] = []  # what each failed notification got, for the summary


def notify(port: int, index: int, timeout: float = 5.0) -> float | None:
    """One authenticated notification on a new connection; its latency, or None on failure."""
    start = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(
            "POST",
            "/alert",
            BODIES[index % 2],
            {"Authorization": AUTH, "Content-Type": "application/json"},
        )
        response = conn.getresponse()
        response.read()
        if response.status == 200:
            return time.perf_counter() - start
        FAILURES.append(f"HTTP {response.status}")
        return None
    except (OSError, http.client.HTTPException) as exc:
        FAILURES.append(f"{type(exc).__name__} after {time.perf_counter() - start:.2f} s")
        return None
    finally:
        conn.close()


def server_figures(port: int) -> dict[str, float]:
    """The front's connection figures from ``/metrics`` (empty for a server without them)."""
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("GET", "/metrics")
        text = conn.getresponse().read().decode()
        conn.close()
    except (OSError, http.client.HTTPException):
        return {}
    figures = {}
    for line in text.splitlines():
        if line.startswith("alertloop_webhook_http_"):
            name, _, value = line.rpartition(" ")
            figures[name.removeprefix("alertloop_webhook_http_")] = float(value)
    return figures


def scenario(name: str, port: int, kind: str | None, count: int, seconds: float) -> Figures:
    attack = Attack(port, count, kind or "idle")
    # Its own process: the notifier must not wait for the attack's share of one GIL.
    process = CONTEXT.Process(target=attack.run, daemon=True)
    if kind is not None:
        process.start()
        time.sleep(min(3.0, seconds / 3))  # let the connections open before measuring
    latencies: list[float] = []
    failures = 0
    held: list[float] = []
    before = server_figures(port)
    FAILURES.clear()
    deadline = Deadline(seconds)
    index = 0
    while not deadline.expired:
        latency = notify(port, index)
        index += 1
        if latency is None:
            failures += 1
        else:
            latencies.append(latency)
        held.append(server_figures(port).get("connections", float("nan")))
        time.sleep(max(0.0, 0.5 - (latency or 0.0)))
    after = server_figures(port)
    attack.stop()
    if kind is not None:
        process.join(10)
        if process.is_alive():
            process.terminate()
            process.join(5)
    counts = {
        k: after.get(f"{k}_total", 0) - before.get(f"{k}_total", 0)
        for k in ("replaced", "refused", "timeouts")
    }
    return Figures(
        name, latencies, failures, statistics.median(held), attack.reopened, counts, list(FAILURES)
    )


def unauthenticated_upload(port: int, mib: int = 200) -> str:
    """Send a chunked body of ``mib`` MiB with wrong credentials; time to the 401, bytes sent."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    wrong = "Basic " + base64.b64encode(b"mallory:guess").decode()
    sock.sendall(
        f"POST /alert HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {wrong}\r\n"
        "Transfer-Encoding: chunked\r\n\r\n".encode()
    )
    chunk = b"100000\r\n" + b"x" * 0x100000 + b"\r\n"
    start = time.perf_counter()
    sent = 0
    sock.settimeout(0.5)
    try:
        for _ in range(mib):
            sock.sendall(chunk)
            sent += len(chunk)
    except OSError:
        pass
    sock.settimeout(30)
    try:
        status = sock.recv(64).split(b" ")[1].decode()
    except (OSError, IndexError):
        status = "none"
    seconds = time.perf_counter() - start
    sock.close()
    return f"answer {status} after {seconds:.2f} s; {sent / 2**20:.1f} of {mib} MiB accepted by the sockets before"


def start_service(tree: Path, env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    argv = [
        sys.executable,
        "-m",
        "alertloop.services.webhook",
        "--bind",
        f"127.0.0.1:{port}",
        "--topic",
        "bench/slow/alert",
    ]
    with log.open("ab") as out:
        proc = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=tree)

    def up() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"the webhook exited: {log.read_text()[-2000:]}")
        return notify(port, 0, timeout=2) is not None

    wait_until(up, 30, what=f"the webhook to answer on {port}")
    return proc


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--connections", type=int, default=1000, help="attacking connections")
    parser.add_argument("--seconds", type=float, default=15, help="length of each scenario")
    parser.add_argument("--tree", type=Path, default=ROOT, help="source tree of the service")
    parser.add_argument(
        "--caps",
        choices=("both", "default", "raised"),
        default="both",
        help="run the scenarios with the default caps, the raised per-client cap, or both",
    )
    args = parser.parse_args()
    count = min(args.connections, 5000)
    print(
        f"service from {args.tree}; load average before: {os.getloadavg()[0]:.2f} (2 cores)",
        flush=True,
    )
    rows: list[Figures] = []
    with NativeStack() as stack, tempfile.TemporaryDirectory(prefix="bench-slow-") as tmp:
        base_env = {**os.environ, "PYTHONPATH": str(args.tree), **stack.env()}
        base_env["ALERTLOOP_WEBHOOK_USERS"] = f"{USER}:{hash_password(PASSWORD)}"
        configs = {
            "default caps": {},
            "per-client cap above the attack": {
                "ALERTLOOP_WEBHOOK_MAX_CONNECTIONS_PER_CLIENT": str(count + 100),
                "ALERTLOOP_WEBHOOK_MAX_CONNECTIONS": str(count + 200),
            },
        }
        if args.caps != "both":
            configs = dict([list(configs.items())[0 if args.caps == "default" else 1]])
        upload = ""
        for config_name, extra in configs.items():
            port = free_port()
            proc = start_service(args.tree, {**base_env, **extra}, port, Path(tmp) / "webhook.log")
            try:
                if not rows:
                    rows.append(scenario("no attack", port, None, 0, args.seconds / 2))
                for kind in ("idle", "slow"):
                    name = f"{count} {kind}, {config_name}"
                    rows.append(scenario(name, port, kind, count, args.seconds))
                    print(rows[-1].line(), flush=True)
                if not upload:
                    upload = unauthenticated_upload(port)
            finally:
                proc.terminate()
                proc.wait(15)
    print(
        f"\n{'scenario':34} {'held':>6} {'reopened':>8} {'answered':>9} {'p50 ms':>8} {'max ms':>8}"
    )
    for row in rows:
        print(row.line())
    print(f"\nunauthenticated 200 MiB chunked upload: {upload}")
    for row in rows:
        if row.why:
            print(f"failed in {row.scenario}: {', '.join(row.why)}")
    attacked = [r for r in rows if r.scenario != "no attack"]
    ok = all(r.failures == 0 and r.latencies and max(r.latencies) < 1.0 for r in attacked)
    print(f"{'PASS' if ok else 'MISS'}  every notification answered within 1 s under every attack")
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
