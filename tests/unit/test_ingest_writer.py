"""The InfluxDB writer against a fake /write endpoint: classification, bisection, retries."""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from alertloop.services.common.config import InfluxSettings
from alertloop.services.ingester.errors import WriteFailed, WriteRejected
from alertloop.services.ingester.writer import Backoff, InfluxWriter


class FakeInflux:
    """Stores lines; lines containing ``bad`` are refused like a type conflict (partial write)."""

    def __init__(self) -> None:
        self.stored: list[bytes] = []
        self.status: int | None = None  # force this status on every write
        self.databases: set[str] = set()
        self.requests = 0
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def do_POST(self) -> None:  # noqa: N802
                fake.requests += 1
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.path.startswith("/query"):
                    fake.databases.add("iot")
                    return self._reply(200, {"results": [{}]})
                if fake.status is not None:
                    return self._reply(fake.status, {"error": "forced"})
                if "iot" not in fake.databases:
                    return self._reply(404, {"error": 'database not found: "iot"'})
                lines = body.splitlines()
                good = [line for line in lines if b"bad" not in line]
                fake.stored += good
                if len(good) != len(lines):
                    return self._reply(
                        400,
                        {
                            "error": "partial write: field type conflict "
                            f"dropped={len(lines) - len(good)}"
                        },
                    )
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_GET(self) -> None:  # noqa: N802
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def _reply(self, status: int, doc: dict[str, object]) -> None:
                data = json.dumps(doc).encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake() -> Iterator[FakeInflux]:
    server = FakeInflux()
    yield server
    server.close()


def writer_for(fake: FakeInflux) -> InfluxWriter:
    return InfluxWriter(InfluxSettings("127.0.0.1", fake.port, database="iot"), timeout=2.0)


def body(n: int, bad: set[int] = frozenset()) -> bytes:  # type: ignore[assignment]
    return b"".join(
        (b"pot bad=1.5 %d\n" if i in bad else b"pot value=%di " % (i % 100) + b"%d\n") % i
        for i in range(n)
    )


def test_missing_database_is_created_and_the_write_repeated(fake: FakeInflux) -> None:
    writer = writer_for(fake)
    writer.write(body(3))
    assert len(fake.stored) == 3 and fake.databases == {"iot"}


def test_bisection_dead_letters_only_the_refused_lines(fake: FakeInflux) -> None:
    fake.databases.add("iot")
    writer = writer_for(fake)
    refused = writer.write_isolating(body(100, bad={17, 64}))
    assert [r.line for r in refused] == [b"pot bad=1.5 17", b"pot bad=1.5 64"]
    assert "type conflict" in refused[0].error
    good = set(body(100, bad={17, 64}).splitlines()) - {r.line for r in refused}
    assert set(fake.stored) == good  # repeated good lines are the same points


@pytest.mark.parametrize("status", [500, 503, 401, 403], ids=["500", "503", "401", "403"])
def test_server_and_auth_errors_are_retryable(fake: FakeInflux, status: int) -> None:
    fake.databases.add("iot")
    fake.status = status
    with pytest.raises(WriteFailed, match=str(status)):
        writer_for(fake).write_isolating(body(4))


def test_a_4xx_about_the_data_is_a_rejection(fake: FakeInflux) -> None:
    fake.databases.add("iot")
    fake.status = 400
    with pytest.raises(WriteRejected) as caught:
        writer_for(fake).write(body(1))
    assert caught.value.status == 400 and caught.value.message == "forced"


def test_unreachable_server_is_a_failure() -> None:
    from alertloop.hil.stack.probes import free_port

    writer = InfluxWriter(InfluxSettings("127.0.0.1", free_port()), timeout=0.5)
    with pytest.raises(WriteFailed, match="cannot reach"):
        writer.write(body(1))
    assert writer.ping() is False


def test_connection_is_kept_alive(fake: FakeInflux) -> None:
    fake.databases.add("iot")
    writer = writer_for(fake)
    for _ in range(5):
        writer.write(body(2))
    assert writer.ping()
    assert len(fake.stored) == 10


def test_backoff_doubles_with_jitter_up_to_the_cap() -> None:
    backoff = Backoff(0.5, 4.0, rng=random.Random(1))
    delays = [backoff.next_delay() for _ in range(6)]
    ceilings = [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    assert all(c / 2 <= d <= c for d, c in zip(delays, ceilings, strict=True))
    backoff.reset()
    assert backoff.next_delay() <= 0.5
