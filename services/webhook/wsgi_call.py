"""One WSGI call (PEP 3333) from a parsed request whose body has been read in full.

The HTTP front (``services/webhook/httpfront.py``) parses requests on its event loop
and hands each complete request to a worker thread, which calls the Flask app here and gives
back the whole answer: the app's answers are small, so nothing is streamed.
"""

from __future__ import annotations

import io
import json
import logging
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any
from urllib.parse import unquote_to_bytes, urlsplit

log = logging.getLogger(__name__)

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


@dataclass(frozen=True)
class Answer:
    """A complete HTTP answer: status, headers (lower-case names), body."""

    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes


def error_answer(status: int, message: str, extra: Iterable[tuple[bytes, bytes]] = ()) -> Answer:
    """An answer in the service's one error shape: ``{"error": {"status", "name", "message"}}``."""
    name = HTTPStatus(status).phrase
    body = json.dumps({"error": {"status": status, "name": name, "message": message}}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *extra,
    ]
    return Answer(status, headers, body)


def split_target(target: bytes) -> tuple[bytes, bytes]:
    """Path and query of a request target (origin form, or absolute form from a proxy)."""
    if not target.startswith(b"/"):
        parts = urlsplit(target.decode("latin-1"))
        return (parts.path or "/").encode("latin-1"), parts.query.encode("latin-1")
    path, _, query = target.partition(b"?")
    return path, query


def build_environ(
    method: bytes,
    target: bytes,
    http_version: bytes,
    headers: Iterable[tuple[bytes, bytes]],
    body: bytes,
    server: tuple[str, int],
    peer: tuple[str, int],
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The WSGI environ of a request whose body is ``body`` (already read, de-chunked).

    Header names with ``_`` are dropped, as waitress does, so that no client can pose as a
    header a proxy would set (``X_Forwarded_For`` and ``X-Forwarded-For`` both become
    ``HTTP_X_FORWARDED_FOR``).
    """
    path, query = split_target(target)
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method.decode("ascii"),
        "SCRIPT_NAME": "",
        "PATH_INFO": unquote_to_bytes(path).decode("latin-1"),
        "QUERY_STRING": query.decode("latin-1"),
        "SERVER_NAME": server[0],
        "SERVER_PORT": str(server[1]),
        "SERVER_PROTOCOL": "HTTP/" + http_version.decode("ascii"),
        "REMOTE_ADDR": peer[0],
        "REMOTE_PORT": str(peer[1]),
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
        "wsgi.input_terminated": True,
    }
    for raw_name, raw_value in headers:
        if b"_" in raw_name:
            continue
        name = raw_name.decode("latin-1").upper().replace("-", "_")
        value = raw_value.decode("latin-1")
        if name == "CONTENT_TYPE":
            environ[name] = value
        elif name in ("CONTENT_LENGTH", "TRANSFER_ENCODING"):
            continue  # the body is whole: CONTENT_LENGTH says its length
        else:
            key = "HTTP_" + name
            environ[key] = f"{environ[key]},{value}" if key in environ else value
    if extra:
        environ.update(extra)
    return environ


def call_wsgi(app: WsgiApp, environ: dict[str, Any]) -> Answer:
    """Call ``app`` and collect its whole answer; an exception becomes a logged 500."""
    started: list[Any] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        if exc_info and started:
            raise exc_info[1].with_traceback(exc_info[2])
        started[:] = [status, headers]
        return chunks.append

    chunks: list[bytes] = []
    try:
        result = app(environ, start_response)
        try:
            chunks.extend(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        if not started:
            raise RuntimeError("the WSGI app returned without calling start_response")
    except Exception:
        log.exception("WSGI app failed", extra={"path": environ.get("PATH_INFO")})
        return error_answer(500, "unexpected error; see the service log")
    status, headers = started
    return Answer(
        int(status[:3]),
        [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers],
        b"".join(chunks),
    )
