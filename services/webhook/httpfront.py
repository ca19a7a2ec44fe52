"""The webhook's HTTP server: an asyncio front that guards a WSGI app.

Requests are parsed by httptools (llhttp, the parser of Node.js, also under uvicorn): a few
microseconds a request where h11, pure Python, took about 70-140 here.

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
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import httptools

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


class _Request:
    """One request as the parser delivers it."""

    __slots__ = (
        "url",
        "headers",
        "header_bytes",
        "method",
        "version",
        "keep_alive",
        "authorization",
        "length",
        "continue_wanted",
        "body",
        "size",
        "complete",
        "checked",
        "verdict",
        "rejected",
    )

    def __init__(self) -> None:
        self.url = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.header_bytes = 0
        self.method = b"GET"
        self.version = "1.1"
        self.keep_alive = True
        self.authorization: bytes | None = None
        self.length: int | None = 0  # None: chunked
        self.continue_wanted = False
        self.body: list[bytes] = []
        self.size = 0
        self.complete = False
        self.checked = False  # size and credentials checked: its body may be read
        self.verdict: Verdict | None = None
        self.rejected = False  # wrong credentials: answered without its body


class _Connection(asyncio.Protocol):
    """One client connection: httptools parses, the methods below decide (on the loop)."""

    def __init__(self, front: HttpFront) -> None:
        self.front = front
        self.parser = httptools.HttpRequestParser(self)
        self.phase = IDLE
        self.deadline = time.monotonic() + front.limits.header_timeout
        self.transport: asyncio.Transport | None = None
        self.peer: tuple[str, int] = ("", 0)
        self.parsing: _Request | None = None
        self.queue: deque[_Request] = deque()  # headers complete, oldest first
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
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self.fail(400, "protocol upgrades are not supported")
        except httptools.HttpParserCallbackError as exc:
            if not isinstance(exc.__context__, _Stop):
                raise
        except httptools.HttpParserError as exc:
            self.fail(400, f"bad request: {exc}")
        else:
            self.advance()

    def eof_received(self) -> bool | None:
        """The client has sent all it will: answer what is complete, then close."""
        if self.phase == CLOSING:
            return None
        if self.queue and (self.queue[0].complete or self.phase in (AUTH, APP)):
            self.close_after = True
            return True  # keep writing; answer() closes
        self.close()
        return None

    # -- parser callbacks (inside feed_data) ---------------------------------------------------

    def on_message_begin(self) -> None:
        self.parsing = _Request()
        if self.phase == IDLE:
            self.phase = HEADERS
            header_deadline = time.monotonic() + self.front.limits.header_timeout
            self.deadline = min(self.deadline, header_deadline)

    def on_url(self, url: bytes) -> None:
        request = self._parsing()
        request.url += url
        self._count_header_bytes(request, len(url))

    def on_header(self, name: bytes, value: bytes) -> None:
        request = self._parsing()
        self._count_header_bytes(request, len(name) + len(value) + 4)
        name = name.lower()
        request.headers.append((name, value))
        if name == b"authorization":
            request.authorization = value
        elif name == b"expect":
            request.continue_wanted = value.lower() == b"100-continue"
        elif name == b"transfer-encoding":
            request.length = None
        elif name == b"content-length" and request.length is not None:
            request.length = int(value) if value.strip().isdigit() else 0

    def on_headers_complete(self) -> None:
        request = self._parsing()
        request.method = self.parser.get_method()
        request.version = self.parser.get_http_version()
        request.keep_alive = bool(self.parser.should_keep_alive()) and request.version == "1.1"
        self.queue.append(request)

    def on_body(self, body: bytes) -> None:
        request = self._parsing()
        if request.rejected:
            return
        request.size += len(body)
        if request.size > self.front.limits.max_body:
            self.fail(413, f"body larger than {self.front.limits.max_body} bytes")
            raise _Stop
        request.body.append(body)

    def on_message_complete(self) -> None:
        self._parsing().complete = True
        self.parsing = None

    def _parsing(self) -> _Request:
        if self.parsing is None:  # never: httptools begins every message
            self.parsing = _Request()
        return self.parsing

    def _count_header_bytes(self, request: _Request, size: int) -> None:
        request.header_bytes += size
        if request.header_bytes > MAX_HEADER_BYTES:
            self.fail(431, f"request headers larger than {MAX_HEADER_BYTES} bytes")
            raise _Stop

    # -- the request cycle ------------------------------------------------------------------

    def advance(self) -> None:
        """Move the oldest request on: check it, read its body, or run the app."""
        if self.phase in (AUTH, APP, CLOSING):
            return
        request = self.queue[0] if self.queue else None
        if request is None:
            if self.parsing is not None and self.phase != HEADERS:
                self.phase = HEADERS  # a pipelined request begun while another ran
                header_deadline = time.monotonic() + self.front.limits.header_timeout
                self.deadline = min(self.deadline, header_deadline)
            self.resume()
            return
        if not request.checked:
            self.check(request)
            if self.phase in (AUTH, CLOSING):
                return
        if request.complete or request.rejected:
            self.dispatch(request)
        else:
            self.resume()

    def check(self, request: _Request) -> None:
        """Size first (413 without reading), then the credentials (before the body)."""
        limits = self.front.limits
        if request.length is not None and request.length > limits.max_body:
            self.fail(413, f"body larger than {limits.max_body} bytes")
            return
        has_body = request.length is None or request.length > 0
        gate = self.front.gate
        if gate is None or not (has_body or request.authorization is not None):
            self.accept(request, None)
            return
        header = request.authorization.decode("latin-1") if request.authorization else None
        verdict = gate.quick(header)
        if verdict is not None:
            self.accept(request, verdict)
            return
        self.phase = AUTH
        self.pause()
        self.front.check_slowly(self, request, header)

    def on_slow_verdict(self, request: _Request, verdict: Verdict) -> None:
        """The hash thread has checked the credentials (called on the loop)."""
        if self.phase == AUTH and self.queue and self.queue[0] is request:
            self.phase = BODY
            self.accept(request, verdict)
            self.advance()

    def accept(self, request: _Request, verdict: Verdict | None) -> None:
        """Read the body with valid credentials; with wrong ones answer without reading it."""
        request.checked, request.verdict = True, verdict
        if verdict is not None and not verdict.ok and not request.complete:
            request.rejected = True
            request.body = []
            self.close_after = True
            return
        self.phase = BODY
        self.deadline = time.monotonic() + self.front.limits.body_timeout
        if request.continue_wanted and not request.complete:
            self.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def dispatch(self, request: _Request) -> None:
        """Run the app on a worker thread with the whole body; reading pauses meanwhile."""
        self.phase = APP
        self.pause()
        extra = {VERDICT_KEY: request.verdict} if request.verdict is not None else None
        environ = build_environ(
            request.method,
            request.url,
            request.version.encode(),
            request.headers,
            b"" if request.rejected else b"".join(request.body),
            self.front.address,
            self.peer,
            extra,
        )
        self.front.run_app(self, environ)

    def answer(self, answer: Answer) -> None:
        """Write the app's answer (on the loop), then serve the next request or close."""
        if self.phase != APP or self.transport is None:
            return
        request = self.queue.popleft()
        closing = self.close_after or not request.keep_alive
        self.write(_encode(answer, request.method != b"HEAD", closing))
        self.front.used(self)
        if closing:
            self.close()
            return
        self.phase = IDLE
        self.deadline = time.monotonic() + self.front.limits.idle_timeout
        self.advance()  # a pipelined request may be waiting

    # -- ending -----------------------------------------------------------------------------

    def fail(self, status: int, message: str) -> None:
        """Answer ``status`` from the front and close: the app never sees the request."""
        if self.phase == CLOSING:
            return
        self.write(_encode(error_answer(status, message), True, True))
        self.close()

    def timed_out(self) -> None:
        if self.phase == IDLE:
            self.close()
        elif self.phase in (HEADERS, BODY):
            self.front.timeouts += 1
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


class _Stop(Exception):
    """Raised in a parser callback to stop parsing a request that has been answered."""


def _encode(answer: Answer, with_body: bool, closing: bool) -> bytes:
    """An HTTP/1.1 answer: status line, headers (Content-Length always), body."""
    lines = [f"HTTP/1.1 {answer.status} {_reason(answer.status)}".encode("latin-1")]
    has_length = False
    for name, value in answer.headers:
        if name in _HOP_BY_HOP:
            continue
        has_length = has_length or name == b"content-length"
        lines.append(name + b": " + value)
    if not has_length:
        lines.append(b"content-length: " + str(len(answer.body)).encode())
    if closing:
        lines.append(b"connection: close")
    head = b"\r\n".join(lines) + b"\r\n\r\n"
    return head + answer.body if with_body else head


_HOP_BY_HOP = frozenset({b"connection", b"keep-alive", b"transfer-encoding"})


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


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
        self.refused = 0  # connections closed at once: every connection was busy
        self.replaced = 0  # idle or unauthenticated connections closed to make room
        self.timeouts = 0  # requests cut off by the header or body deadline (408)
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

    def check_slowly(self, conn: _Connection, request: _Request, header: str | None) -> None:
        gate = self.gate
        assert gate is not None

        def check() -> None:
            verdict = gate.slow(header)
            self.loop.call_soon_threadsafe(conn.on_slow_verdict, request, verdict)

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
