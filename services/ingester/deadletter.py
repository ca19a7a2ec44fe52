"""The dead-letter store: what could not be stored, with the topic, raw payload, reason and time.

Records are JSON lines (to a file, to an MQTT topic, or both)::

    {"time": "2024-05-01T12:00:00.123456Z", "topic": "/pot", "reason": "not_a_number",
     "detail": "'abc' is not a number", "payload": "abc"}

A payload that is not UTF-8 is given as ``"payload_b64"`` instead of ``"payload"``. The file is
flushed before the messages it records are acknowledged; when it passes ``max_bytes`` it is
renamed to ``<name>.1`` (replacing the previous one) and a new file is started.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from services.ingester.errors import IngesterError

__all__ = ["DeadLetter", "DeadLetterStore"]


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One rejected message or point."""

    topic: str | None
    payload: bytes
    reason: str
    detail: str
    time_ns: int

    def to_dict(self) -> dict[str, object]:
        """The JSON record (see the module docstring)."""
        stamp = datetime.fromtimestamp(self.time_ns / 1e9, tz=UTC)
        record: dict[str, object] = {
            "time": stamp.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "topic": self.topic,
            "reason": self.reason,
            "detail": self.detail,
        }
        try:
            record["payload"] = self.payload.decode("utf-8")
        except UnicodeDecodeError:
            record["payload_b64"] = base64.b64encode(self.payload).decode("ascii")
        return record

    def to_json(self) -> bytes:
        return json.dumps(self.to_dict(), ensure_ascii=False).encode("utf-8")


class DeadLetterStore:
    """Appends dead letters to a JSONL file and/or publishes them to an MQTT topic.

    ``publish(topic, payload)`` is called for each record when ``topic`` is set; it must not block.
    """

    def __init__(
        self,
        path: Path | None,
        *,
        max_bytes: int = 64 * 1024 * 1024,
        topic: str | None = None,
        publish: Callable[[str, bytes], None] | None = None,
    ) -> None:
        self.path = Path(path) if path else None
        self.max_bytes = max_bytes
        self.topic = topic
        self._publish = publish
        self._lock = threading.Lock()
        self._file: BinaryIO | None = None
        self._size = 0
        self.count = 0

    def open(self) -> DeadLetterStore:
        """Open (append to) the file. Raises IngesterError when it cannot be opened."""
        if self.path is not None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._file = open(self.path, "ab")  # noqa: SIM115
                self._size = self._file.tell()
            except OSError as exc:
                raise IngesterError(f"cannot open dead-letter file {self.path}: {exc}") from exc
        return self

    def add(self, letter: DeadLetter) -> None:
        """Record one dead letter (buffered; call ``flush`` before acknowledging).

        Raises IngesterError when the file cannot be written.
        """
        data = letter.to_json()
        with self._lock:
            self.count += 1
            if self._file is not None:
                try:
                    if self._size + len(data) + 1 > self.max_bytes and self._size > 0:
                        self._rotate()
                    self._file.write(data + b"\n")
                    self._size += len(data) + 1
                except OSError as exc:
                    raise IngesterError(
                        f"cannot write dead-letter file {self.path}: {exc}"
                    ) from exc
        if self.topic and self._publish is not None:
            self._publish(self.topic, data)

    def flush(self) -> None:
        """Hand buffered records to the operating system. Raises IngesterError on failure."""
        with self._lock:
            if self._file is not None:
                try:
                    self._file.flush()
                except OSError as exc:
                    raise IngesterError(
                        f"cannot flush dead-letter file {self.path}: {exc}"
                    ) from exc

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None

    def _rotate(self) -> None:
        assert self._file is not None and self.path is not None
        self._file.close()
        self.path.replace(self.path.with_name(self.path.name + ".1"))
        self._file = open(self.path, "ab")  # noqa: SIM115
        self._size = 0
