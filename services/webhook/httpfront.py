"""The webhook's HTTP server: an asyncio front that guards a WSGI app.

Requests are parsed by httptools (llhttp, the parser of Node.js, also under uvicorn): a few
microseconds a request where h11, pure Python, took about 70-140 here. Each connection is a
``Connection`` (``httpconn.py``); this module holds the listener, the caps and the threads.

One event-loop thread holds every connection; idle and slow ones cost a little memory, not a
thread. For each request the front, in this order:

1. reads the request line and headers within ``header_timeout`` (a client that trickles
   them, slowloris, is cut off with 408; at most 16 KiB of headers, else 431);
2. answers 413 at once when ``Content-Length`` is above ``max_body``, without reading it;
3. checks the Basic credentials with the gate (hashing on a thread of its own, never on the
   loop; no hash without credentials or for credentials verified before); when they are
   wrong or missing and a body follows, it hands the app an empty body, so that it answers
   401, and closes the connection: the body is never read (a client waiting for
   ``100 Continue`` never gets it);
4. reads the body within ``body_timeout``, counting chunked bodies as they arrive and cutting
   them at ``max_body`` (413);
5. calls the WSGI app on one of ``threads`` worker threads and writes its answer.

Connections are capped per client address and in total. Over a cap, the least recently used
connections that are idle or still unauthenticated are closed (a slow client holds nothing an
authenticated one needs), but never one younger than 0.25 s, so that a client that sends its
request at once has it read and checked first.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import resource
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from alertloop.services.webhook.authgate import BasicAuthGate
from alertloop.services.webhook.errors import WebhookError
from alertloop.services.webhook.httpconn import (
    APP,
    AUTH,
    CLOSING,
    READ_SIZE,
    REPLACEABLE,
    Connection,
    Request,
)
from alertloop.services.webhook.wsgi_call import WsgiApp, call_wsgi

log = logging.getLogger(__name__)

SWEEP_INTERVAL = 0.25
ACCEPT_BATCH = 1024  # asyncio accepts up to the listen backlog at once
GRACE = 0.25  # a new connection is not closed for a cap before it had this long to send


@dataclass(frozen=True)
class HttpLimits:
    """How much one client and all of them may hold, and for how long."""

    max_body: int = 1024 * 1024
    max_connections: int = 2048
    max_connections_per_client: int = 128
    header_timeout: float = 10.0
    body_timeout: float = 10.0
    idle_timeout: float = 60.0
    threads: int = 8
    auth_threads: int = 2


class HttpFront:
    """A WSGI app served from an event loop on a daemon thread; port 0 picks a free port.

    Raises WebhookError from the constructor when the address cannot be bound.
    """

    def __init__(
        self,
        app: WsgiApp,
        host: str,
        port: int,
        limits: HttpLimits | None = None,
        gate: BasicAuthGate | None = None,
    ) -> None:
        self.app = app
        self.limits = _within_open_files(limits or HttpLimits())
        self.gate = gate
        self.loop = asyncio.new_event_loop()
        self._workers = ThreadPoolExecutor(self.limits.threads, thread_name_prefix="webhook-http")
        self._hashers = ThreadPoolExecutor(
            self.limits.auth_threads, thread_name_prefix="webhook-auth"
        )
        self.read_buffer = memoryview(bytearray(READ_SIZE))  # shared: see Connection
        self._clients: dict[str, dict[Connection, None]] = {}
        self._all: dict[Connection, None] = {}
        self.refused = 0  # new connections closed at once, past the cap plus one accept batch
        self.replaced = 0  # idle or unauthenticated connections closed to make room
        self.timeouts = 0  # requests cut off by the header or body deadline (408)
        self._enforcing = False
        try:
            sock = socket.create_server(
                (host, port),
                family=socket.AF_INET6 if ":" in host else socket.AF_INET,
                backlog=1024,
                reuse_port=False,
            )
        except OSError as exc:
            self.loop.close()
            raise WebhookError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
        self._sock = sock
        self.host = host
        self.port = int(sock.getsockname()[1])
        self.address = (host, self.port)
        self._server: asyncio.Server | None = None
        self._thread = threading.Thread(target=self._run, name="webhook-loop", daemon=True)
        self._ready = threading.Event()

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def connections(self) -> int:
        return len(self._all)

    def start(self) -> None:
        self._thread.start()
        if not self._ready.wait(10):
            raise WebhookError(f"the HTTP server on {self.url} did not start")

    def stop(self, timeout: float = 5.0) -> None:
        """Close the listener and every connection, then the worker threads."""
        if self._thread.is_alive():
            self.loop.call_soon_threadsafe(self._shutdown)
            self._thread.join(timeout)
        elif not self.loop.is_closed():
            self._sock.close()
            self.loop.close()
        self._workers.shutdown(wait=True, cancel_futures=True)
        self._hashers.shutdown(wait=False, cancel_futures=True)

    # -- the loop thread ----------------------------------------------------------------------

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self._server = self.loop.run_until_complete(
            self.loop.create_server(lambda: Connection(self), sock=self._sock, backlog=ACCEPT_BATCH)
        )
        self.loop.call_later(SWEEP_INTERVAL, self._sweep)
        self._ready.set()
        try:
            self.loop.run_forever()
        finally:
            self.loop.close()

    def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        for conn in list(self._all):
            conn.abort()
        self.loop.call_soon(self.loop.stop)

    def _sweep(self) -> None:
        self._enforce_caps()  # connections past their grace may now be closed
        now = time.monotonic()
        for conn in list(self._all):
            if conn.deadline <= now:
                if conn.phase == CLOSING:
                    conn.abort()
                elif conn.phase != APP and conn.phase != AUTH:
                    conn.timed_out()
        self.loop.call_later(SWEEP_INTERVAL, self._sweep)

    def admit(self, conn: Connection) -> None:
        """Register a new connection; caps are enforced two loop passes later.

        Over a cap, the least recently used connections that are idle or unauthenticated and
        older than ``GRACE`` are closed: a client that sends its request at once (Grafana) has
        it read and checked by then and is no longer among them. A hard bound (the cap plus
        one accept batch) keeps the number of open files in check meanwhile; past it, new
        connections are closed at once.
        """
        if len(self._all) >= self.limits.max_connections + _overshoot(self.limits):
            self._refuse(conn)
            return
        client = self._clients.setdefault(conn.peer[0], {})
        client[conn] = None
        self._all[conn] = None
        over = (
            len(client) > self.limits.max_connections_per_client
            or len(self._all) > self.limits.max_connections
        )
        if over and not self._enforcing:
            self._enforcing = True
            self.loop.call_soon(self.loop.call_soon, self._enforce_caps)

    def _enforce_caps(self) -> None:
        """Close the least recently used replaceable connections of every pool over its cap."""
        self._enforcing = False
        cap = self.limits.max_connections_per_client
        for client in list(self._clients.values()):
            self._trim(client, cap)
        self._trim(self._all, self.limits.max_connections)

    def _trim(self, pool: dict[Connection, None], cap: int) -> None:
        excess = len(pool) - cap
        if excess <= 0:
            return
        victims = []
        settled = time.monotonic() - GRACE
        for conn in pool:  # least recently used first
            if conn.phase in REPLACEABLE and conn.opened <= settled:
                victims.append(conn)
                if len(victims) == excess:
                    break
        for conn in victims:
            self.replaced += 1
            conn.abort()
            self.forget(conn)

    def _refuse(self, conn: Connection) -> None:
        self.refused += 1
        conn.abort()
        if self.refused in (1, 10, 100) or self.refused % 1000 == 0:
            log.warning(
                "connection refused: too many connections arriving or busy",
                extra={"client": conn.peer[0], "open": len(self._all), "refused": self.refused},
            )

    def forget(self, conn: Connection) -> None:
        self._all.pop(conn, None)
        client = self._clients.get(conn.peer[0])
        if client is not None:
            client.pop(conn, None)
            if not client:
                del self._clients[conn.peer[0]]

    def used(self, conn: Connection) -> None:
        """Mark ``conn`` most recently used (it is replaced last)."""
        for pool in (self._all, self._clients.get(conn.peer[0])):
            if pool is not None and conn in pool:
                del pool[conn]
                pool[conn] = None

    # -- worker threads -------------------------------------------------------------------

    def check_slowly(self, conn: Connection, request: Request, header: str | None) -> None:
        gate = self.gate
        assert gate is not None

        def check() -> None:
            if conn.phase != AUTH:  # replaced or closed while queued: no hash for nobody
                return
            verdict = gate.slow(header)
            self.loop.call_soon_threadsafe(conn.on_slow_verdict, request, verdict)

        self._hashers.submit(check)

    def run_app(self, conn: Connection, environ: dict[str, Any]) -> None:
        def call() -> None:
            answer = call_wsgi(self.app, environ)
            self.loop.call_soon_threadsafe(conn.answer, answer)

        self._workers.submit(call)


def _overshoot(limits: HttpLimits) -> int:
    """How far over ``max_connections`` new connections are held until the caps are enforced."""
    return min(ACCEPT_BATCH, limits.max_connections)


def _within_open_files(limits: HttpLimits, reserve: int = 128) -> HttpLimits:
    """Raise the soft open-files limit to fit ``max_connections``, or lower the cap to fit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = limits.max_connections + _overshoot(limits) + reserve
    if soft != resource.RLIM_INFINITY and soft < wanted:
        target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    if soft != resource.RLIM_INFINITY and soft < wanted:
        room = soft - reserve  # for the cap and the overshoot together
        fitted = max(16, room - ACCEPT_BATCH, min(ACCEPT_BATCH, room // 2))
        log.warning(
            "connection cap lowered to fit the open-files limit",
            extra={"max_connections": fitted, "open_files": soft},
        )
        return dataclasses.replace(limits, max_connections=fitted)
    return limits
