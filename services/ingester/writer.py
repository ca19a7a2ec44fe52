"""Writing line protocol to InfluxDB 1.x over HTTP, isolating points the server refuses.

Errors are classified the way Telegraf's InfluxDB output does it, except that nothing is
dropped wholesale: connection errors, timeouts, 5xx and authentication failures raise
:class:`WriteFailed` (retry later, the batch stays in the spool); a 4xx about the data itself
(parse error, field type conflict) raises :class:`WriteRejected`, and
:meth:`InfluxWriter.write_isolating` then splits the batch in halves until the refused lines are
found, so only those are dead-lettered. A missing database is created and the write repeated.
"""

from __future__ import annotations

import gzip as gzip_module
import random
from dataclasses import dataclass, field

import requests

from services.common.config import InfluxSettings
from services.ingester.errors import WriteFailed, WriteRejected

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
    """Posts line protocol to ``/write`` over one keep-alive ``requests.Session``."""

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
        self._session = requests.Session()
        self._params = {"db": settings.database, "precision": precision}
        if settings.username:
            self._params.update(u=settings.username, p=settings.password or "")
        self._write_url = f"{settings.url}/write"
        self.requests = 0

    def close(self) -> None:
        self._session.close()

    def ping(self) -> bool:
        """Whether the server answers ``/ping``."""
        try:
            return self._session.get(f"{self.settings.url}/ping", timeout=self.timeout).ok
        except requests.RequestException:
            return False

    def ensure_database(self) -> None:
        """``CREATE DATABASE`` (a no-op when it exists). Raises WriteFailed when it cannot."""
        params = {"q": f'CREATE DATABASE "{self.settings.database}"'}
        if self.settings.username:
            params.update(u=self.settings.username, p=self.settings.password or "")
        try:
            answer = self._session.post(
                f"{self.settings.url}/query", params=params, timeout=self.timeout
            )
        except requests.RequestException as exc:
            raise WriteFailed(f"cannot reach InfluxDB at {self.settings.url}: {exc}") from exc
        if not answer.ok:
            raise WriteFailed(f"CREATE DATABASE answered {answer.status_code}: {answer.text[:200]}")

    def write(self, body: bytes) -> None:
        """Write one batch of lines.

        Raises WriteFailed (may succeed later) or WriteRejected (4xx about the data).
        """
        answer = self._post(body)
        if answer.status_code == 404 and "database not found" in answer.text:
            self.ensure_database()
            answer = self._post(body)
        status = answer.status_code
        if status < 300:
            return
        message = _error_text(answer)
        if status in (401, 403) or status >= 500 or status == 404:
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

    def _post(self, body: bytes) -> requests.Response:
        headers = {"Content-Type": "text/plain; charset=utf-8"}
        if self.gzip:
            body = gzip_module.compress(body, compresslevel=1)
            headers["Content-Encoding"] = "gzip"
        self.requests += 1
        try:
            return self._session.post(
                self._write_url,
                params=self._params,
                data=body,
                headers=headers,
                timeout=self.timeout,
            )
        except requests.RequestException as exc:
            raise WriteFailed(f"cannot write to InfluxDB at {self.settings.url}: {exc}") from exc


def _error_text(answer: requests.Response) -> str:
    try:
        return str(answer.json().get("error", answer.text))[:500]
    except ValueError:
        return answer.text[:500]
