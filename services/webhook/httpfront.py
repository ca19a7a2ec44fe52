"""The webhook's HTTP server: an asyncio front with h11 that guards a WSGI app.

One event-loop thread holds every connection; idle and slow ones cost a little memory, not a
thread. For each request the front, in this order:

1. reads the request line and headers within ``header_timeout`` (a client that trickles
   them, slowloris, is cut off with 408; at most 16 KiB of headers, else 431);
2. answers 413 at once when ``Content-Length`` is above ``max_body``, without reading it;
3. checks the Basic credentials with the gate when the request has a body or credentials
   (hashing on a thread of its own, never on the loop), and when they are wrong hands the
   app an empty body, so that it answers 401, and closes the connection: the body is never
   read (a client waiting for ``100 Continue`` never gets it);
4. reads the body within ``body_timeout``, counting chunked bodies as they arrive and cutting
   them at ``max_body`` (413);
5. calls the WSGI app on one of ``threads`` worker threads and writes its answer.

Connections are capped per client address and in total. At a cap a new connection replaces
the least recently used connection that is idle or still unauthenticated (a slow client
holds nothing an authenticated one needs); when every connection is busy the new one is
closed.
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
from http import HTTPStatus
from typing import Any

import h11

from services.webhook.authgate import VERDICT_KEY, BasicAuthGate, Verdict
from services.webhook.errors import WebhookError
from services.webhook.wsgi_call import Answer, WsgiApp, build_environ, call_wsgi, error_answer

log = logging.getLogger(__name__)

SWEEP_INTERVAL = 0.25
LINGER_SECONDS = 1.0
LINGER_BYTES = 64 * 1024
MAX_HEADER_BYTES = 16 * 1024


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


# Connection phases; only IDLE, HEADERS and AUTH may be replaced at a cap.
IDLE, HEADERS, AUTH, BODY, APP, CLOSING = "idle", "headers", "auth", "body", "app", "closing"
_REPLACEABLE = (IDLE, HEADERS, AUTH)


class _Connection(asyncio.Protocol):
    def __init__(self, front: HttpFront) -> None:
        self.front = front
        self.h11 = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEADER_BYTES)
        self.phase = IDLE
        self.deadline = time.monotonic() + front.limits.header_timeout
        self.transport: asyncio.Transport | None = None
        self.peer: tuple[str, int] = ("", 0)
        self.request: h11.Request | None = None
        self.body: list[bytes] = []
        self.body_size = 0
        self.verdict: Verdict | None = None
        self.close_after = False
        self.discarded = 0

    # -- asyncio callbacks ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        peer = transport.get_extra_info("peername") or ("", 0)
        self.peer = (str(peer[0]), int(peer[1]))
        self.front.admit(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.phase = CLOSING
        self.front.forget(self)

    def data_received(self, data: bytes) -> None:
        if self.phase == CLOSING:
            self.discarded += len(data)
            if self.discarded > LINGER_BYTES:
                self.abort()
            return
        if self.phase == IDLE:
            self.phase = HEADERS
            header_deadline = time.monotonic() + self.front.limits.header_timeout
            self.deadline = min(self.deadline, header_deadline)
        self.h11.receive_data(data)
        self.advance()

    def eof_received(self) -> bool | None:
        if self.phase != CLOSING:
            self.h11.receive_data(b"")
            self.advance()
        return None

    # -- the request cycle ------------------------------------------------------------------

    def advance(self) -> None:
        """Handle the events h11 has parsed, until it needs more data or the app runs."""
        while self.phase in (IDLE, HEADERS, BODY):
            try:
                event = self.h11.next_event()
            except h11.RemoteProtocolError as exc:
                status = exc.error_status_hint if exc.error_status_hint >= 400 else 400
                self.fail(431 if "too long" in str(exc) else status, f"bad request: {exc}")
                return
            if event is h11.NEED_DATA or event is h11.PAUSED:
                return
            if isinstance(event, h11.Request):
                self.on_request(event)
            elif isinstance(event, h11.Data):
                self.body_size += len(event.data)
                if self.body_size > self.front.limits.max_body:
                    self.fail(413, f"body larger than {self.front.limits.max_body} bytes")
                    return
                self.body.append(event.data)
            elif isinstance(event, h11.EndOfMessage):
                self.dispatch(b"".join(self.body))
            elif isinstance(event, h11.ConnectionClosed):
                self.close()
                return

    def on_request(self, request: h11.Request) -> None:
        self.request = request
        self.body, self.body_size, self.verdict = [], 0, None
        length = _content_length(request.headers)
        if length is not None and length > self.front.limits.max_body:
            self.fail(413, f"body larger than {self.front.limits.max_body} bytes")
            return
        has_body = length != 0  # chunked, or a positive Content-Length
        authorization = _header(request.headers, b"authorization")
        gate = self.front.gate
        if gate is None or not (has_body or authorization is not None):
            self.start_body()
            return
        header = authorization.decode("latin-1") if authorization is not None else None
        verdict = gate.quick(header)
        if verdict is not None:
            self.accept(verdict)
            return
        self.phase = AUTH
        self.pause()
        self.front.check_slowly(self, header)

    def on_slow_verdict(self, verdict: Verdict) -> None:
        """The hash thread has checked the credentials (called on the loop)."""
        if self.phase == AUTH:
            self.accept(verdict)
            self.advance()

    def accept(self, verdict: Verdict) -> None:
        """Read the body with valid credentials; with wrong ones answer without reading it."""
        self.verdict = verdict
        if verdict.ok or self.h11.their_state is not h11.SEND_BODY:
            self.start_body()
        else:
            self.close_after = True
            self.dispatch(b"")

    def start_body(self) -> None:
        self.phase = BODY
        self.deadline = time.monotonic() + self.front.limits.body_timeout
        self.resume()
        if self.h11.they_are_waiting_for_100_continue:
            self.write(self.h11.send(h11.InformationalResponse(status_code=100, headers=[])))

    def dispatch(self, body: bytes) -> None:
        """Run the app on a worker thread with the whole body; reading pauses meanwhile."""
        request = self.request
        assert request is not None and self.transport is not None
        self.phase = APP
        self.pause()
        extra = {VERDICT_KEY: self.verdict} if self.verdict is not None else None
        environ = build_environ(
            request.method,
            request.target,
            request.http_version,
            request.headers,
            body,
            self.front.address,
            self.peer,
            extra,
        )
        self.front.run_app(self, environ)

    def answer(self, answer: Answer) -> None:
        """Write the app's answer (on the loop), then serve the next request or close."""
        if self.phase == CLOSING or self.transport is None:
            return
        headers = answer.headers
        if self.close_after:
            headers = [*headers, (b"connection", b"close")]
        try:
            out = self.h11.send(h11.Response(status_code=answer.status, headers=headers))
            if answer.body and self.request is not None and self.request.method != b"HEAD":
                out += self.h11.send(h11.Data(data=answer.body))
            out += self.h11.send(h11.EndOfMessage())
        except h11.LocalProtocolError as exc:
            log.warning("cannot send the answer", extra={"error": str(exc)})
            self.abort()
            return
        self.write(out)
        self.front.used(self)
        if self.h11.our_state is h11.DONE and self.h11.their_state is h11.DONE:
            self.h11.start_next_cycle()
            self.request, self.body, self.verdict = None, [], None
            self.phase = IDLE
            self.deadline = time.monotonic() + self.front.limits.idle_timeout
            self.resume()
            self.advance()  # a pipelined request may be waiting in h11's buffer
        else:
            self.close()

    # -- ending -----------------------------------------------------------------------------

    def fail(self, status: int, message: str) -> None:
        """Answer ``status`` from the front and close: the app never sees the request.

        Written without h11, which cannot answer a request whose headers are incomplete."""
        error = error_answer(status, message, [(b"connection", b"close")])
        head = [f"HTTP/1.1 {status} {HTTPStatus(status).phrase}".encode()]
        head += [name + b": " + value for name, value in error.headers]
        self.write(b"\r\n".join(head) + b"\r\n\r\n" + error.body)
        self.close()

    def timed_out(self) -> None:
        if self.phase == IDLE:
            self.close()
        elif self.phase in (HEADERS, BODY):
            what = "headers" if self.phase == HEADERS else "body"
            self.fail(408, f"request {what} not received in time")

    def close(self) -> None:
        """Close after what is written; read and discard a little meanwhile, so that a client
        still sending sees the answer rather than a reset."""
        if self.transport is None or self.phase == CLOSING:
            return
        self.phase = CLOSING
        self.deadline = time.monotonic() + LINGER_SECONDS
        self.resume()
        if self.transport.can_write_eof():
            self.transport.write_eof()
        else:
            self.transport.close()

    def abort(self) -> None:
        self.phase = CLOSING
        if self.transport is not None:
            self.transport.abort()

    def write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def pause(self) -> None:
        if self.transport is not None and self.transport.is_reading():
            self.transport.pause_reading()

    def resume(self) -> None:
        if self.transport is not None and not self.transport.is_reading():
            self.transport.resume_reading()


def _header(headers: Any, name: bytes) -> bytes | None:
    for key, value in headers:
        if key == name:
            return bytes(value)
    return None


def _content_length(headers: Any) -> int | None:
    """The declared length; None for a chunked body (h11 has validated the framing)."""
    if _header(headers, b"transfer-encoding") is not None:
        return None
    value = _header(headers, b"content-length")
    return int(value) if value is not None else 0


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
        self._clients: dict[str, dict[_Connection, None]] = {}
        self._all: dict[_Connection, None] = {}
        self.refused = 0
        self.replaced = 0
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
            self.loop.create_server(lambda: _Connection(self), sock=self._sock, backlog=1024)
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
        now = time.monotonic()
        for conn in list(self._all):
            if conn.deadline <= now:
                if conn.phase == CLOSING:
                    conn.abort()
                elif conn.phase != APP and conn.phase != AUTH:
                    conn.timed_out()
        self.loop.call_later(SWEEP_INTERVAL, self._sweep)

    def admit(self, conn: _Connection) -> None:
        """Register a new connection, replacing an idle or unauthenticated one at a cap."""
        client = self._clients.setdefault(conn.peer[0], {})
        if len(client) >= self.limits.max_connections_per_client and not self._replace(client):
            self._refuse(conn)
            return
        if len(self._all) >= self.limits.max_connections and not self._replace(self._all):
            self._refuse(conn)
            return
        client[conn] = None
        self._all[conn] = None

    def _replace(self, pool: dict[_Connection, None]) -> bool:
        for old in pool:  # least recently used first
            if old.phase in _REPLACEABLE:
                self.replaced += 1
                old.abort()
                self.forget(old)
                return True
        return False

    def _refuse(self, conn: _Connection) -> None:
        self.refused += 1
        if self.refused in (1, 10, 100) or self.refused % 1000 == 0:
            log.warning(
                "connection refused: every connection is busy",
                extra={"client": conn.peer[0], "refused": self.refused},
            )
        conn.abort()

    def forget(self, conn: _Connection) -> None:
        self._all.pop(conn, None)
        client = self._clients.get(conn.peer[0])
        if client is not None:
            client.pop(conn, None)
            if not client:
                del self._clients[conn.peer[0]]

    def used(self, conn: _Connection) -> None:
        """Mark ``conn`` most recently used (it is replaced last)."""
        for pool in (self._all, self._clients.get(conn.peer[0])):
            if pool is not None and conn in pool:
                del pool[conn]
                pool[conn] = None

    # -- worker threads -------------------------------------------------------------------

    def check_slowly(self, conn: _Connection, header: str | None) -> None:
        gate = self.gate
        assert gate is not None

        def check() -> None:
            verdict = gate.slow(header)
            self.loop.call_soon_threadsafe(conn.on_slow_verdict, verdict)

        self._hashers.submit(check)

    def run_app(self, conn: _Connection, environ: dict[str, Any]) -> None:
        def call() -> None:
            answer = call_wsgi(self.app, environ)
            self.loop.call_soon_threadsafe(conn.answer, answer)

        self._workers.submit(call)


def _within_open_files(limits: HttpLimits, reserve: int = 128) -> HttpLimits:
    """Raise the soft open-files limit to fit ``max_connections``, or lower the cap to fit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = limits.max_connections + reserve
    if soft != resource.RLIM_INFINITY and soft < wanted:
        target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    if soft != resource.RLIM_INFINITY and soft < wanted:
        fitted = max(16, soft - reserve)
        log.warning(
            "connection cap lowered to fit the open-files limit",
            extra={"max_connections": fitted, "open_files": soft},
        )
        return dataclasses.replace(limits, max_connections=fitted)
    return limits
