"""Webhook benchmark: this service vs the seed's handler vs an empty Flask endpoint, in one run.

    .venv/bin/python bench/webhook.py [--requests 2000] [--threads 8]

Servers, each in its own process, on a broker started here (alertloop.hil.stack.native.NativeStack):
  (a) the webhook service (``python -m alertloop.services.webhook``), scrypt-hashed password, its HTTP front;
      it answers after the broker acknowledged the retained publish, so its latency is
      request -> retained message acknowledged;
  (b) the seed's handler (bench/webhook_seed.py): connect, publish, disconnect per request,
      Flask's development server, threaded; it does not wait for the broker;
  (c) a Flask endpoint that does nothing, served exactly like (a) (bench/webhook_empty.py).
The same load generator (one thread driving 1 or 8 keep-alive connections, one request in
flight on each, like wrk) sends a fixed number of legacy notifications from 1 and 8 clients,
each client alternating alerting/ok (the clients start together and are answered together,
so concurrent notifications mostly agree). (a) is also run with globally alternating notifications ("(a) alternating"): each
one is the opposite of the one sent just before it by any client, so each changes the
retained state and concurrent ones disagree.
Also printed: the server process's CPU per request (user + system, median of the rounds).
Targets: no errors; (a) p99 < 20 ms; (a) at 8 clients >= 0.7 x (c); (a) at 1 client >= (b);
(a) alternating at 8 clients >= at 1 client (concurrency must not be slower than serial use).
"""

from __future__ import annotations

import argparse
import base64
import itertools
import json
import os
import selectors
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from alertloop.hil.stack.native import NativeStack  # noqa: E402
from alertloop.services.common.deadline import wait_until  # noqa: E402
from alertloop.services.webhook.passwords import hash_password  # noqa: E402

ALTERNATING = "(a) alternating"
BODIES = [
    json.dumps({"state": s, "ruleName": "pot mean", "title": f"[{s}] pot"}).encode()
    for s in ("alerting", "ok")
]


@dataclass
class Result:
    name: str
    clients: int
    requests: int
    seconds: float
    errors: int
    latencies: list[float]
    cpu_us: float = float("nan")  # server CPU (user + system) per request

    @property
    def rate(self) -> float:
        return self.requests / self.seconds

    def pct(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return (
            ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000
            if ordered
            else float("nan")
        )


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` (all its threads) so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _Client:
    """One keep-alive connection of the load generator and its request in flight."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = b""
        self.started = 0.0
        self.done = 0

    def response(self) -> tuple[int, bool] | None:
        """(status, the server closes the connection) of a whole response in the buffer,
        which is removed from it; None while incomplete."""
        head_end = self.buffer.find(b"\r\n\r\n")
        if head_end < 0:
            return None
        head = self.buffer[:head_end].decode("latin-1").lower()
        length = 0
        for line in head.split("\r\n")[1:]:
            key, _, value = line.partition(":")
            if key == "content-length":
                length = int(value)
        end = head_end + 4 + length
        if len(self.buffer) < end:
            return None
        self.buffer = self.buffer[end:]
        closes = "connection: close" in head or (
            head.startswith("http/1.0") and "connection: keep-alive" not in head
        )
        return int(head[9:12]), closes


def load(
    port: int, auth: str, clients: int, total: int, name: str, alternating: bool = False
) -> Result:
    """``total`` POST /alert over ``clients`` keep-alive connections, each with one request
    in flight, all driven by one thread (like wrk: the generator's own cost stays small and
    does not grow with the clients). Each client alternates its bodies, or with
    ``alternating`` each body is the opposite of the one sent before it by any client."""
    per_client = total // clients
    requests = [
        (
            f"POST /alert HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Content-Type: application/json\r\nAuthorization: {auth}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        + body
        for body in BODIES
    ]
    sent = itertools.count()
    latencies: list[float] = []
    errors = 0
    selector = selectors.DefaultSelector()

    def send(client: _Client) -> None:
        index = next(sent) % 2 if alternating else client.done % 2
        client.started = time.perf_counter()
        client.sock.sendall(requests[index])

    def reopen(client: _Client) -> _Client:
        selector.unregister(client.sock)
        client.sock.close()
        fresh = _Client(port)
        fresh.done = client.done
        selector.register(fresh.sock, selectors.EVENT_READ, fresh)
        return fresh

    start = time.perf_counter()
    for _ in range(clients):
        client = _Client(port)
        selector.register(client.sock, selectors.EVENT_READ, client)
        send(client)
    active = clients
    while active:
        events = selector.select(timeout=10)
        if not events:
            raise RuntimeError(f"{name}: no response for 10 s")
        for key, _ in events:
            client = key.data
            try:
                data = client.sock.recv(65536)
            except OSError:
                data = b""
            client.buffer += data
            answer = client.response()
            if answer is None and data:
                continue
            latencies.append(time.perf_counter() - client.started)
            client.done += 1
            if answer is None or answer[0] != 200:
                errors += 1
            if answer is None or answer[1]:
                client = reopen(client)
            if client.done == per_client:
                selector.unregister(client.sock)
                client.sock.close()
                active -= 1
            else:
                send(client)
    seconds = time.perf_counter() - start
    selector.close()
    return Result(name, clients, per_client * clients, seconds, errors, latencies)


def start_server(
    argv: list[str], port: int, env: dict[str, str], log: Path
) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)

    def up() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"{argv} exited: {log.read_text()[-2000:]}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return True
        except OSError:
            return False

    wait_until(up, 20, what=f"{argv[1]} to listen on {port}")
    return proc


def median_result(runs: list[Result]) -> Result:
    """The run with the median rate (its own latencies), for a figure robust to a busy machine."""
    return sorted(runs, key=lambda r: r.rate)[len(runs) // 2]


def main() -> int:
    parser = argparse.ArgumentParser(description="webhook benchmark")
    parser.add_argument("--requests", type=int, default=2000, help="notifications per run")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (median kept)")
    parser.add_argument("--threads", type=int, default=8, help="worker threads for (a) and (c)")
    parser.add_argument("--log-level", default="INFO", help="log level of (a) (INFO = production)")
    args = parser.parse_args()
    py = sys.executable
    user, password = "grafana", "bench-password"
    auth = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
    seed_auth = "Basic " + base64.b64encode(b"user:password").decode()
    load_avg = os.getloadavg()
    print(f"load average before: {load_avg[0]:.2f} {load_avg[1]:.2f} (2 cores)", flush=True)
    runs: dict[tuple[str, int], list[Result]] = {}
    with NativeStack() as stack, tempfile.TemporaryDirectory(prefix="bench-webhook-") as tmp:
        env = {**os.environ, "PYTHONPATH": str(ROOT), **stack.env()}
        env["ALERTLOOP_WEBHOOK_USERS"] = f"{user}:{hash_password(password)}"
        ports = {k: free_port() for k in "abc"}
        servers = {
            "(a) webhook": (
                [
                    py,
                    "-m",
                    "alertloop.services.webhook",
                    "--bind",
                    f"127.0.0.1:{ports['a']}",
                    "--topic",
                    "bench/a/alert",
                    "--threads",
                    str(args.threads),
                    "--log-level",
                    args.log_level,
                ],
                ports["a"],
                auth,
            ),
            "(b) seed-style": (
                [
                    py,
                    "bench/webhook_seed.py",
                    "--port",
                    str(ports["b"]),
                    "--mqtt-port",
                    str(stack.mqtt.port),
                    "--topic",
                    "bench/b/alert",
                ],
                ports["b"],
                seed_auth,
            ),
            "(c) empty Flask": (
                [
                    py,
                    "bench/webhook_empty.py",
                    "--port",
                    str(ports["c"]),
                    "--threads",
                    str(args.threads),
                ],
                ports["c"],
                auth,
            ),
        }
        procs = []
        try:
            for name, (argv, port, credentials) in servers.items():
                procs.append(start_server(argv, port, env, Path(tmp) / f"{port}.log"))
                warm = load(port, credentials, 1, 50, name)
                print(f"{name}: started, warm-up errors {warm.errors}", flush=True)
            for round_no in range(1, args.rounds + 1):
                cases = [(name, name, False) for name in servers]
                cases.insert(1, (ALTERNATING, "(a) webhook", True))
                if round_no % 2 == 0:
                    cases.reverse()
                for name, server, alternating in cases:
                    _, port, credentials = servers[server]
                    pid = procs[list(servers).index(server)].pid
                    for clients in (1, 8):
                        cpu_before = process_cpu(pid)
                        result = load(port, credentials, clients, args.requests, name, alternating)
                        result.cpu_us = (process_cpu(pid) - cpu_before) / result.requests * 1e6
                        runs.setdefault((name, clients), []).append(result)
                        print(
                            f"round {round_no}/{args.rounds} {name:16} {clients} client(s): {result.rate:6.0f} req/s, {result.errors} errors, server CPU {result.cpu_us:4.0f} us/request",
                            flush=True,
                        )
        finally:
            for proc in procs:
                proc.terminate()
                proc.wait(10)
    results = {key: median_result(value) for key, value in runs.items()}
    print(
        f"\nmedian of {args.rounds} rounds, {args.requests} notifications a run, worker threads {args.threads}"
    )
    print(
        f"{'server':17} {'clients':>7} {'req/s':>8} {'errors':>7} {'p50 ms':>7} {'p99 ms':>7} {'mean ms':>8} {'CPU us/req':>10}"
    )
    for r in results.values():
        print(
            f"{r.name:17} {r.clients:7} {r.rate:8.0f} {r.errors:7} {r.pct(0.5):7.2f} {r.pct(0.99):7.2f} {statistics.fmean(r.latencies) * 1000:8.2f} {statistics.median(x.cpu_us for x in runs[r.name, r.clients]):10.0f}"
        )
    a1, a8 = results["(a) webhook", 1], results["(a) webhook", 8]
    alt1, alt8 = results[ALTERNATING, 1], results[ALTERNATING, 8]
    b1, b8, c8 = (
        results["(b) seed-style", 1],
        results["(b) seed-style", 8],
        results["(c) empty Flask", 8],
    )
    a_errors = sum(r.errors for key, rs in runs.items() if key[0].startswith("(a)") for r in rs)
    checks = [
        ("(a) no errors (all rounds)", a_errors == 0, f"{a_errors}"),
        (
            "(a) p99 < 20 ms (1 and 8 clients)",
            max(a1.pct(0.99), a8.pct(0.99)) < 20,
            f"{a1.pct(0.99):.2f} / {a8.pct(0.99):.2f} ms",
        ),
        ("(a)/(c) at 8 clients >= 0.7", a8.rate / c8.rate >= 0.7, f"{a8.rate / c8.rate:.2f}"),
        ("(a)/(b) at 1 client >= 1.0", a1.rate / b1.rate >= 1.0, f"{a1.rate / b1.rate:.2f}"),
        (
            "(a) alternating, 8 clients / 1 client >= 1.0",
            alt8.rate / alt1.rate >= 1.0,
            f"{alt8.rate / alt1.rate:.2f} ({alt8.rate:.0f} / {alt1.rate:.0f} req/s)",
        ),
    ]
    print()
    for text, ok, value in checks:
        print(f"{'PASS' if ok else 'MISS'}  {text}: {value}")
    print(f"(b) errors at 8 clients (median run): {b8.errors}")
    c1 = results["(c) empty Flask", 1]
    print(
        "8 clients / 1 client of (c), the server stack's own gain from concurrency:"
        f" {c8.rate / c1.rate:.2f}"
    )
    cpu = {key: statistics.median(r.cpu_us for r in rs) for key, rs in runs.items()}
    print(
        "server CPU per request at 8 clients, (c)/(a) (the ratio a GIL-bound server reaches):"
        f" {cpu['(c) empty Flask', 8] / cpu['(a) webhook', 8]:.2f}"
    )
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
