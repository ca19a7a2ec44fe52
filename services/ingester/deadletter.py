"""The dead-letter store: what could not be stored, with the topic, raw payload, reason and time.

Records are JSON lines (to a file, to an MQTT topic, or both)::

    {"time": "2024-05-01T12:00:00.123456Z", "topic": "/pot", "reason": "not_a_number",
     "detail": "'abc' is not a number", "payload": "abc"}

A payload that is not UTF-8 is given as ``"payload_b64"`` instead of ``"payload"``. A payload
longer than :data:`PAYLOAD_KEEP` bytes is cut to that prefix (at a character boundary), and the
record says so: ``"truncated": true`` with the whole payload's ``"payload_bytes"`` and
``"payload_sha256"``. ``detail`` is cut to :data:`DETAIL_KEEP` characters.

The file is flushed before the messages it records are acknowledged; when it passes
``max_bytes`` it is renamed to ``<name>.1`` (replacing the previous one) and a new file is
started. When a write fails (disk full), what was buffered is dropped with the file object and
the next ``add`` opens the file again, so one failure does not poison the records after it.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import stat
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from alertloop.services.ingester.errors import IngesterError

__all__ = ["DETAIL_KEEP", "PAYLOAD_KEEP", "DeadLetter", "DeadLetterStore"]

#: Most payload bytes a record keeps; longer payloads are cut and fingerprinted.
PAYLOAD_KEEP = 1024
#: Most characters of ``detail`` a record keeps.
DETAIL_KEEP = 300


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
            "detail": self.detail[:DETAIL_KEEP],
        }
        payload, cut = self.payload, len(self.payload) > PAYLOAD_KEEP
        if cut:
            payload = _prefix(payload, PAYLOAD_KEEP)
        try:
            record["payload"] = payload.decode("utf-8")
        except UnicodeDecodeError:
            record["payload_b64"] = base64.b64encode(payload).decode("ascii")
        if cut:
            record["truncated"] = True
            record["payload_bytes"] = len(self.payload)
            record["payload_sha256"] = hashlib.sha256(self.payload).hexdigest()
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
        self._regular = True
        self.count = 0

    def open(self) -> DeadLetterStore:
        """Open (append to) the file. Raises IngesterError when it cannot be opened."""
        if self.path is not None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._open_locked()
            except OSError as exc:
                raise IngesterError(f"cannot open dead-letter file {self.path}: {exc}") from exc
        return self

    def add(self, letter: DeadLetter) -> None:
        """Record one dead letter (buffered; call ``flush`` before acknowledging).

        The MQTT copy is published first, so it goes out even when the file fails. Raises
        IngesterError when the file cannot be written.
        """
        data = letter.to_json()
        if self.topic and self._publish is not None:
            self._publish(self.topic, data)
        with self._lock:
            self.count += 1
            if self.path is None:
                return
            try:
                if self._file is None:  # dropped after a failure: try again
                    self._open_locked()
                assert self._file is not None
                if self._regular and self._size + len(data) + 1 > self.max_bytes and self._size > 0:
                    self._rotate()
                self._file.write(data + b"\n")
                self._size += len(data) + 1
            except OSError as exc:
                self._drop_locked()
                raise IngesterError(f"cannot write dead-letter file {self.path}: {exc}") from exc

    def flush(self) -> None:
        """Hand buffered records to the operating system. Raises IngesterError on failure (the
        records buffered since the last flush are then dropped)."""
        with self._lock:
            if self._file is not None:
                try:
                    self._file.flush()
                except OSError as exc:
                    self._drop_locked()
                    raise IngesterError(
                        f"cannot flush dead-letter file {self.path}: {exc}"
                    ) from exc

    def close(self) -> None:
        """Flush and close the file; a failing flush is not raised here (``flush`` reports it)."""
        with self._lock:
            if self._file is not None:
                with contextlib.suppress(OSError):
                    self._file.close()
                self._file = None

    def _open_locked(self) -> None:
        assert self.path is not None
        self._file = open(self.path, "ab")  # noqa: SIM115
        self._size = self._file.tell()
        # only a regular file is rotated (never rename a device such as /dev/stderr)
        self._regular = stat.S_ISREG(os.fstat(self._file.fileno()).st_mode)

    def _drop_locked(self) -> None:
        """Forget the file object and what it buffered.

        Closing would write the buffered records again (and fail again), so the descriptor is
        first pointed at /dev/null: the close then discards them and releases the descriptor
        exactly once. (Closing the descriptor by hand before the file object would close it
        twice, and the second close can hit another file that took the same number.)"""
        if self._file is not None:
            with contextlib.suppress(OSError, ValueError):
                null = os.open(os.devnull, os.O_WRONLY)
                try:
                    os.dup2(null, self._file.fileno())
                finally:
                    os.close(null)
            with contextlib.suppress(OSError, ValueError):
                self._file.close()
            self._file = None

    def _rotate(self) -> None:
        assert self._file is not None and self.path is not None
        self._file.close()
        self.path.replace(self.path.with_name(self.path.name + ".1"))
        self._file = open(self.path, "ab")  # noqa: SIM115
        self._size = 0


def _prefix(payload: bytes, size: int) -> bytes:
    """At most ``size`` bytes of ``payload``, not ending inside a UTF-8 character of text."""
    head = payload[:size]
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start >= size - 3 and exc.reason == "unexpected end of data":
            return head[: exc.start]
    return head
