"""The webhook's HTTP front under slow, idle, oversized and unauthenticated clients.

Every connection goes to 127.0.0.1, counts are bounded and each test stops by itself.
"""

from __future__ import annotations

import base64
import contextlib
import json
import socket
import threading
import weakref
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from alertloop.services.common.deadline import Deadline, wait_until
from alertloop.services.webhook.examples import legacy


def _port(hook: Any) -> int:
    return int(hook.url.rsplit(":", 1)[1])


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def _head(hook: Any, auth: str | None, extra: str, method: str = "POST") -> bytes:
    lines = [f"{method} /alert HTTP/1.1", f"Host: 127.0.0.1:{_port(hook)}"]
    if auth:
        lines.append(f"Authorization: {auth}")
    lines.append("Content-Type: application/json")
    return ("\r\n".join(lines) + "\r\n" + extra + "\r\n").encode()


_READERS: weakref.WeakKeyDictionary[socket.socket, Any] = weakref.WeakKeyDictionary()


def _read_answer(sock: socket.socket, timeout: float = 10.0) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body of the next answer on ``sock`` (answers may share a read)."""
    sock.settimeout(timeout)
    reader = _READERS.get(sock)
    if reader is None:
        reader = _READERS[sock] = sock.makefile("rb")
    status = int(reader.readline().split()[1])
    headers: dict[str, str] = {}
    while (line := reader.readline().decode("latin-1").strip()) != "":
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    body = reader.read(int(headers.get("content-length", "0")))
    return status, headers, body


def _closed_by_server(sock: socket.socket, timeout: float) -> bool:
    """True when the server closes the connection within ``timeout`` (EOF or reset)."""
    deadline = Deadline(timeout)
    while not deadline.expired:
        sock.settimeout(max(0.05, deadline.remaining))
        try:
            if not sock.recv(65536):
                return True
        except (ConnectionResetError, BrokenPipeError):
            return True
        except TimeoutError:
            return False
    return False


@contextlib.contextmanager
def _open_connections(
    hook: Any, count: int, first_bytes: bytes = b""
) -> Iterator[list[socket.socket]]:
    socks: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.create_connection(("127.0.0.1", _port(hook)), timeout=10)
            if first_bytes:
                sock.sendall(first_bytes)
            socks.append(sock)
        yield socks
    finally:
        for sock in socks:
            sock.close()


def test_authenticated_request_answered_with_300_slow_and_300_idle_connections_open(
    alertloop_webhook_factory: Any,
) -> None:
    hook = alertloop_webhook_factory(max_connections_per_client=1000, header_timeout=60)
    request_head = _head(hook, None, "Content-Length: 20\r\n")
    stop = threading.Event()
    trickled = [1]  # header bytes sent so far on each slow connection
    with _open_connections(hook, 300) as idle, _open_connections(hook, 300, b"P") as slow:

        def trickle() -> None:  # one more header byte on every slow connection, 1 byte/s each
            for position in range(1, len(request_head)):
                if stop.wait(1.0):
                    return
                for sock in slow:
                    with contextlib.suppress(OSError):
                        sock.send(request_head[position : position + 1])
                trickled[0] = position + 1

        thread = threading.Thread(target=trickle, daemon=True)
        thread.start()
        try:
            wait_until(
                lambda: hook.server.connections >= 600,
                10,
                what="600 connections held",
                state=lambda: hook.server.connections,
            )
            sent, deadline = 0, Deadline(30)
            while trickled[0] < 4 or sent < 2:  # notifications while the slow ones trickle
                assert not deadline.expired, f"trickle stalled at {trickled[0]} bytes"
                body = legacy("alerting" if sent % 2 else "ok")
                answer = requests.post(hook.alert_url, json=body, auth=hook.auth, timeout=10)
                assert answer.status_code == 200, answer.text
                sent += 1
                stop.wait(0.25)
            assert hook.server.connections >= 600  # nobody was pushed out to make room
            assert len(idle) == 300
        finally:
            stop.set()
            thread.join(5)


def _metric(hook: Any, name: str) -> float:
    text = requests.get(f"{hook.url}/metrics", timeout=5).text
    line = next(x for x in text.splitlines() if x.startswith(f"alertloop_webhook_http_{name} "))
    return float(line.rsplit(" ", 1)[1])


def test_per_client_cap_replaces_idle_connections_and_the_client_still_gets_in(
    alertloop_webhook_factory: Any,
) -> None:
    hook = alertloop_webhook_factory(max_connections_per_client=20)
    with _open_connections(hook, 50) as idle:
        # After their grace, the 30 oldest idle connections are closed (20 stay).
        wait_until(
            lambda: _metric(hook, "replaced_total") >= 30,
            5,
            what="30 idle connections replaced",
            state=lambda: hook.server.connections,
        )
        assert hook.server.connections <= 21  # 20 idle, maybe the /metrics request's own
        assert _closed_by_server(idle[0], 5) and not _closed_by_server(idle[-1], 0.2)
        answer = requests.post(hook.alert_url, json=legacy("alerting"), auth=hook.auth, timeout=10)
        assert answer.status_code == 200, answer.text
        assert _metric(hook, "connections") <= 21


def test_slow_headers_get_408_and_the_connection_is_closed(alertloop_webhook_factory: Any) -> None:
    hook = alertloop_webhook_factory(header_timeout=0.5)
    with _open_connections(hook, 1, b"POST /alert HTTP/1.1\r\nHo") as (sock,):
        status, _, body = _read_answer(sock, timeout=5)
        assert status == 408
        assert json.loads(body)["error"]["status"] == 408
        assert _closed_by_server(sock, 5)
    with _open_connections(hook, 1) as (idle,):  # sends nothing: closed without an answer
        assert _closed_by_server(idle, 5)


def test_slow_body_gets_408(alertloop_webhook_factory: Any) -> None:
    hook = alertloop_webhook_factory(body_timeout=0.5)
    with _open_connections(hook, 1) as (sock,):
        sock.sendall(_head(hook, _basic(*hook.auth), "Content-Length: 100\r\n") + b'{"sta')
        status, _, _ = _read_answer(sock, timeout=5)
        assert status == 408
        assert _closed_by_server(sock, 5)


@pytest.mark.parametrize("authenticated", [True, False], ids=["authenticated", "anonymous"])
def test_declared_length_over_the_limit_is_413_before_the_body(
    alertloop_webhook_factory: Any, authenticated: bool
) -> None:
    hook = alertloop_webhook_factory(max_body_bytes=1000)
    auth = _basic(*hook.auth) if authenticated else None
    with _open_connections(hook, 1) as (sock,):
        sock.sendall(_head(hook, auth, "Content-Length: 1000000000\r\n"))  # no body sent
        status, _, body = _read_answer(sock, timeout=5)
        assert status == 413, body
        assert _closed_by_server(sock, 5)


def test_chunked_body_is_cut_at_the_limit(alertloop_webhook_factory: Any) -> None:
    hook = alertloop_webhook_factory(max_body_bytes=1000)
    with _open_connections(hook, 1) as (sock,):
        sock.sendall(_head(hook, _basic(*hook.auth), "Transfer-Encoding: chunked\r\n"))
        for _ in range(3):
            sock.sendall(b"200\r\n" + b" " * 0x200 + b"\r\n")
        status, _, _ = _read_answer(sock, timeout=5)
        assert status == 413
        assert _closed_by_server(sock, 5)


@pytest.mark.parametrize(
    "auth", ["wrong-password", "unknown-user", "none"], ids=["wrong", "unknown", "none"]
)
def test_unauthenticated_200_mib_chunked_body_gets_401_without_being_read(
    alertloop_webhook_factory: Any, auth: str
) -> None:
    hook = alertloop_webhook_factory()
    header = {
        "wrong-password": _basic(hook.username, "not-the-password"),
        "unknown-user": _basic("mallory", "x"),
        "none": None,
    }[auth]
    chunk = b"100000\r\n" + b"x" * 0x100000 + b"\r\n"  # 1 MiB chunks, 200 of them
    with _open_connections(hook, 1) as (sock,):
        sock.sendall(_head(hook, header, "Transfer-Encoding: chunked\r\n"))
        sent = 0
        sock.settimeout(0.2)
        with contextlib.suppress(OSError):
            for _ in range(200):
                sock.sendall(chunk)  # blocks once the unread buffers are full
                sent += len(chunk)
        status, headers, body = _read_answer(sock, timeout=10)
        assert status == 401, body
        assert headers.get("www-authenticate", "").startswith("Basic")
        assert headers.get("connection") == "close"
        # Not read: what was accepted fits in the kernel's socket buffers, far from 200 MiB.
        assert sent < 64 * 1024 * 1024, sent
        assert _closed_by_server(sock, 5)
    assert requests.get(f"{hook.url}/healthz", timeout=5).status_code == 200


def test_expect_100_continue_only_with_valid_credentials(alertloop_webhook_factory: Any) -> None:
    hook = alertloop_webhook_factory()
    body = json.dumps(legacy("alerting")).encode()
    extra = f"Content-Length: {len(body)}\r\nExpect: 100-continue\r\n"
    with _open_connections(hook, 1) as (sock,):
        sock.sendall(_head(hook, _basic(hook.username, "wrong"), extra))
        status, _, _ = _read_answer(sock)
        assert status == 401  # no 100 Continue first: the client never sends the body
    with _open_connections(hook, 1) as (sock,):
        sock.sendall(_head(hook, _basic(*hook.auth), extra))
        status, _, _ = _read_answer(sock)
        assert status == 100
        sock.sendall(body)
        status, _, answer = _read_answer(sock)
        assert status == 200, answer
        assert json.loads(answer)["value"] == "1"


def test_keep_alive_and_pipelined_requests(alertloop_webhook_factory: Any) -> None:
    hook = alertloop_webhook_factory()
    body = json.dumps(legacy("ok")).encode()
    one = _head(hook, _basic(*hook.auth), f"Content-Length: {len(body)}\r\n") + body
    with _open_connections(hook, 1) as (sock,):
        sock.sendall(one + one)  # two requests in one write
        status, headers, _ = _read_answer(sock)
        assert status == 200 and headers["date"].endswith(" GMT")
        assert _read_answer(sock)[0] == 200
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert _read_answer(sock)[0] == 200


def test_wrong_password_is_hashed_once_per_request(alertloop_webhook_factory: Any) -> None:
    hook = alertloop_webhook_factory()
    verifier = hook.server._http.gate._verifier  # the one the app uses too
    calls: list[str] = []
    real = verifier.verify

    def counting(username: str, password: str) -> bool:
        calls.append(username)
        return real(username, password)

    verifier.verify = counting
    answer = requests.post(
        hook.alert_url, json=legacy("ok"), auth=(hook.username, "wrong"), timeout=10
    )
    assert answer.status_code == 401
    assert answer.json()["error"]["status"] == 401
    assert calls == [hook.username]
    metrics = requests.get(f"{hook.url}/metrics", timeout=5).text
    assert (
        'alertloop_webhook_notifications_total{kind="unknown",outcome="unauthorized"} 1.0'
        in metrics
    )


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n", 431),
        (b"NOT HTTP AT ALL\r\n\r\n", 400),
        (b"POST /alert HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\n", 400),
    ],
    ids=["headers-too-large", "garbage", "two-lengths"],
)
def test_bad_requests_are_answered_and_closed(
    alertloop_webhook_factory: Any, request_bytes: bytes, status: int
) -> None:
    hook = alertloop_webhook_factory()
    with _open_connections(hook, 1) as (sock,):
        sock.sendall(request_bytes)
        answer_status, headers, body = _read_answer(sock)
        assert answer_status == status, body
        assert json.loads(body)["error"]["status"] == status
        assert _closed_by_server(sock, 5)


def test_http_1_0_and_half_closed_clients_get_their_answer(alertloop_webhook_factory: Any) -> None:
    hook = alertloop_webhook_factory()
    body = json.dumps(legacy("ok")).encode()
    head = _head(hook, _basic(*hook.auth), f"Content-Length: {len(body)}\r\n")
    with _open_connections(hook, 1) as (sock,):
        sock.sendall(head.replace(b"HTTP/1.1", b"HTTP/1.0", 1) + body)
        status, headers, _ = _read_answer(sock)
        assert status == 200 and headers.get("connection") == "close"
        assert _closed_by_server(sock, 5)
    with _open_connections(hook, 1) as (sock,):
        sock.sendall(head + body)
        sock.shutdown(socket.SHUT_WR)  # sent everything, still reading
        status, _, answer = _read_answer(sock)
        assert status == 200, answer
        assert _closed_by_server(sock, 5)


def test_requests_without_credentials_cost_no_hash(alertloop_webhook_factory: Any) -> None:
    hook = alertloop_webhook_factory()
    verifier = hook.server._http.gate._verifier
    calls: list[str] = []
    real = verifier.verify
    verifier.verify = lambda u, p: calls.append(u) or real(u, p)
    for _ in range(3):
        assert requests.post(hook.alert_url, json=legacy("ok"), timeout=10).status_code == 401
        assert requests.post(hook.alert_url, timeout=10).status_code == 401  # no body either
    assert requests.get(f"{hook.url}/healthz", timeout=10).status_code == 200
    assert calls == []
