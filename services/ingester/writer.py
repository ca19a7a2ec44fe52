"""Writing line protocol to InfluxDB 1.x over HTTP (keep-alive), isolating points the server refuses.

Errors are classified the way Telegraf's InfluxDB output does it, except that nothing is
dropped wholesale: connection errors, timeouts, 5xx and authentication failures raise
:class:`WriteFailed` (retry later, the batch stays in the spool); a 4xx about the data itself
(parse error, field type conflict) raises :class:`WriteRejected`, and
:meth:`InfluxWriter.write_isolating` then splits the batch in halves until the refused lines are
found, so only those are dead-lettered. A missing database is created and the write repeated.
"""

from __future__ import annotations

import gzip as gzip_module
import http.client
import json
import random
from dataclasses import dataclass, field
from urllib.parse import urlencode

from alertloop.services.common.config import InfluxSettings
from alertloop.services.ingester.errors import WriteFailed, WriteRejected

__all__ = ["Backoff", "InfluxWriter", "Rejected"]


@dataclass
class Backoff:
    """Capped exponential backoff with jitter: each delay is drawn from [d/2, d], d doubling."""

    initial: float = 0.5
    maximum: float = 30.0
    attempts: int = 0
    rng: random.Random = field(default_factory=random.Random)

    def next_delay(self) -> float:
        """The next delay in seconds (and count the attempt)."""
        ceiling = min(self.maximum, self.initial * (2 ** min(self.attempts, 30)))
        self.attempts += 1
        return ceiling / 2 + self.rng.uniform(0, ceiling / 2)

    def reset(self) -> None:
        self.attempts = 0


@dataclass(frozen=True, slots=True)
class Rejected:
    """A line InfluxDB refused, and its answer."""

    line: bytes
    error: str


class InfluxWriter:
    """Posts line protocol to ``/write`` over one keep-alive HTTP connection.

    It uses ``http.client`` directly: a ``requests`` call costs about 0.7 ms of Python per
    write, which at tens of thousands of points a second is a large share of the CPU.
    """

    def __init__(
        self,
        settings: InfluxSettings,
        *,
        timeout: float = 5.0,
        gzip: bool = False,
        precision: str = "ns",
    ) -> None:
        self.settings = settings
        self.timeout = timeout
        self.gzip = gzip
        self._auth = {}
        if settings.username:
            self._auth = {"u": settings.username, "p": settings.password or ""}
        self._write_path = "/write?" + urlencode(
            {"db": settings.database, "precision": precision, **self._auth}
        )
        self._conn: http.client.HTTPConnection | None = None
        self.requests = 0

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def ping(self) -> bool:
        """Whether the server answers ``/ping``."""
        try:
            return self._request("GET", "/ping")[0] < 300
        except WriteFailed:
            return False

    def ensure_database(self) -> None:
        """``CREATE DATABASE`` (a no-op when it exists). Raises WriteFailed when it cannot."""
        query = urlencode({"q": f'CREATE DATABASE "{self.settings.database}"', **self._auth})
        status, text = self._request("POST", f"/query?{query}")
        if status >= 300:
            raise WriteFailed(f"CREATE DATABASE answered {status}: {text[:200]}")

    def write(self, body: bytes) -> None:
        """Write one batch of lines.

        Raises WriteFailed (may succeed later) or WriteRejected (4xx about the data).
        """
        status, text = self._post(body)
        if status == 404 and "database not found" in text:
            self.ensure_database()
            status, text = self._post(body)
        if status < 300:
            return
        message = _error_text(text)
        if status in (401, 403, 404) or status >= 500:
            raise WriteFailed(f"InfluxDB answered {status}: {message}")
        raise WriteRejected(status, message)

    def write_isolating(self, body: bytes) -> list[Rejected]:
        """Write ``body``; when InfluxDB rejects it, bisect until the refused lines are found.

        Returns the refused lines (every other line is stored). Raises WriteFailed when the
        server stops answering; the whole body can then be written again (same points).
        """
        try:
            self.write(body)
            return []
        except WriteRejected as exc:
            lines = body.splitlines(keepends=True)
            if len(lines) == 1:
                return [Rejected(lines[0].rstrip(b"\n"), exc.message)]
        middle = len(lines) // 2
        return self.write_isolating(b"".join(lines[:middle])) + self.write_isolating(
            b"".join(lines[middle:])
        )

    def _post(self, body: bytes) -> tuple[int, str]:
        headers = {"Content-Type": "text/plain; charset=utf-8"}
        if self.gzip:
            body = gzip_module.compress(body, compresslevel=1)
            headers["Content-Encoding"] = "gzip"
        return self._request("POST", self._write_path, body, headers)

    def _request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, str]:
        """One request on the kept-alive connection (reopened once if the server closed it).

        Raises WriteFailed on connection errors and timeouts.
        """
        self.requests += 1
        for attempt in (1, 2):
            conn = self._conn
            if conn is None:
                cls = (
                    http.client.HTTPSConnection if self.settings.ssl else http.client.HTTPConnection
                )
                conn = self._conn = cls(
                    self.settings.host, self.settings.port, timeout=self.timeout
                )
            try:
                conn.request(method, path, body=body, headers=headers or {})
                answer = conn.getresponse()
                text = answer.read().decode("utf-8", "replace")
                if answer.will_close:
                    self.close()
                return answer.status, text
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as exc:
                self.close()  # a kept-alive connection the server closed: try a fresh one once
                if attempt == 2:
                    raise WriteFailed(
                        f"InfluxDB at {self.settings.url} closed the connection: {exc}"
                    ) from exc
            except (OSError, http.client.HTTPException) as exc:
                self.close()
                raise WriteFailed(f"cannot reach InfluxDB at {self.settings.url}: {exc}") from exc
        raise AssertionError("unreachable")


def _error_text(text: str) -> str:
    try:
        return str(json.loads(text).get("error", text))[:500]
    except (ValueError, AttributeError):
        return text[:500]
