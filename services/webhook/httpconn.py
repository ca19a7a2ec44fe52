"""One client connection of the HTTP front: parsing (httptools), checks, and the answer.

``services/webhook/httpfront.py`` owns the listener, the caps and the threads; a
``Connection`` moves each of its requests through the steps described there, on the event
loop, and asks the front to run slow work (the password hash, the app) on its threads.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from email.utils import formatdate
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

import httptools

from alertloop.services.webhook.authgate import VERDICT_KEY, Verdict
from alertloop.services.webhook.wsgi_call import Answer, build_environ, error_answer

if TYPE_CHECKING:
    from alertloop.services.webhook.httpfront import HttpFront

LINGER_SECONDS = 1.0
LINGER_BYTES = 64 * 1024
MAX_HEADER_BYTES = 16 * 1024
READ_SIZE = 16 * 1024

# Connection phases; only IDLE, HEADERS and AUTH may be replaced at a cap.
IDLE, HEADERS, AUTH, BODY, APP, CLOSING = "idle", "headers", "auth", "body", "app", "closing"
REPLACEABLE = (IDLE, HEADERS, AUTH)


class Request:
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


class Connection(asyncio.BufferedProtocol):
    """One client connection: httptools parses, the methods below decide (on the loop).

    Reads go into the front's one shared buffer of ``READ_SIZE`` bytes (the loop handles one
    read at a time and the parser copies what it keeps), so a connection holds at most that
    much of a body that arrives before its credentials are checked.
    """

    def __init__(self, front: HttpFront) -> None:
        self.front = front
        self.parser = httptools.HttpRequestParser(self)
        self.phase = IDLE
        self.opened = time.monotonic()
        self.deadline = self.opened + front.limits.header_timeout
        self.transport: asyncio.Transport | None = None
        self.peer: tuple[str, int] = ("", 0)
        self.parsing: Request | None = None
        self.queue: deque[Request] = deque()  # headers complete, oldest first
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

    def get_buffer(self, sizehint: int) -> memoryview:
        return self.front.read_buffer

    def buffer_updated(self, nbytes: int) -> None:
        if self.phase == CLOSING:
            self.discarded += nbytes
            if self.discarded > LINGER_BYTES:
                self.abort()
            return
        try:
            self.parser.feed_data(self.front.read_buffer[:nbytes])
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
        self.parsing = Request()
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

    def _parsing(self) -> Request:
        if self.parsing is None:  # never: httptools begins every message
            self.parsing = Request()
        return self.parsing

    def _count_header_bytes(self, request: Request, size: int) -> None:
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

    def check(self, request: Request) -> None:
        """Size first (413 without reading), then the credentials (before the body)."""
        limits = self.front.limits
        if request.length is not None and request.length > limits.max_body:
            self.fail(413, f"body larger than {limits.max_body} bytes")
            return
        gate = self.front.gate
        if gate is None:
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

    def on_slow_verdict(self, request: Request, verdict: Verdict) -> None:
        """The hash thread has checked the credentials (called on the loop)."""
        if self.phase == AUTH and self.queue and self.queue[0] is request:
            self.phase = BODY
            self.accept(request, verdict)
            self.advance()

    def accept(self, request: Request, verdict: Verdict | None) -> None:
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

    def dispatch(self, request: Request) -> None:
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
    lines = [f"HTTP/1.1 {answer.status} {_reason(answer.status)}".encode("latin-1"), _date()]
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


_HOP_BY_HOP = frozenset({b"connection", b"keep-alive", b"transfer-encoding", b"date"})
_DATE: list[Any] = [0, b""]  # the second and its Date header, formatted once a second


def _date() -> bytes:
    now = int(time.time())
    if _DATE[0] != now:
        _DATE[:] = [now, b"date: " + formatdate(now, usegmt=True).encode("ascii")]
    return bytes(_DATE[1])


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"
