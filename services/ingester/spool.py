"""A bounded, append-only, on-disk queue of line-protocol lines that survives restarts.

Layout of the spool directory: segment files ``seg-<n>.lp`` (lines, each ending in ``\\n``)
and ``cursor.json`` (segment and offset up to which lines are stored in InfluxDB). Appends go to
the newest segment, which is closed at ``segment_bytes``; reads start at the cursor. A segment
that has been read and written entirely is deleted.

One process at a time: ``open`` takes an OS lock on ``lock`` in the directory (see
:mod:`alertloop.services.ingester.lock`) before it recovers anything, and ``close`` releases it; a second
``open`` of the same directory raises LockHeld and touches nothing.

Durability: ``append`` writes and flushes to the operating system before it returns, so a
killed process loses nothing it acknowledged. ``fsync`` runs every ``fsync_interval`` seconds
(0: on every append), which bounds what a power loss can take. The cursor is not fsynced: after
a crash a few batches may be written again, which InfluxDB stores once (same series and time).
The cursor is saved at most every ``cursor_interval`` seconds and at ``close``, so a crash
repeats at most that much.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from alertloop.services.ingester.errors import LockHeld, SpoolError, SpoolFull
from alertloop.services.ingester.lock import ProcessLock

__all__ = ["Batch", "Spool"]

_PREFIX, _SUFFIX = "seg-", ".lp"
_CURSOR = "cursor.json"
_LOCK = "lock"
_PAGE = 4096  # smallest read of read_batch (bytes)


@dataclass(frozen=True, slots=True)
class Batch:
    """Lines read from one segment, ``start``..``end`` bytes; give it back to ``commit``."""

    segment: int
    start: int
    end: int
    data: bytes
    lines: int


@dataclass
class _Segment:
    number: int
    path: Path
    size: int
    lines: int
    closed: bool


class Spool:
    """The on-disk queue. ``open()`` before use (it recovers what a previous run left)."""

    def __init__(
        self,
        directory: Path,
        *,
        max_bytes: int = 256 * 1024 * 1024,
        segment_bytes: int = 8 * 1024 * 1024,
        fsync_interval: float = 1.0,
        cursor_interval: float = 0.5,
    ) -> None:
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self.segment_bytes = segment_bytes
        self.fsync_interval = fsync_interval
        self.cursor_interval = cursor_interval
        self._lock = threading.Lock()
        self._data_ready = threading.Condition(self._lock)
        self._room = threading.Condition(self._lock)
        self._segments: list[_Segment] = []
        self._offset = 0  # read cursor inside self._segments[0]
        self._lines_before_offset = 0
        self._out: BinaryIO | None = None
        self._read_fd: tuple[int, int] | None = None  # (segment number, fd)
        self._last_sync = self._cursor_saved = time.monotonic()
        self._dirty = False
        self.recovered_lines = 0
        self._owner = ProcessLock(self.directory / _LOCK)

    # -- lifecycle -----------------------------------------------------------------------
    def open(self, **owner: object) -> Spool:
        """Lock the directory for this process, then create or recover the spool.

        ``owner`` (for example the client id) is written into the lock file next to the pid, so
        a second process can be told who holds it. Raises LockHeld when another process (or
        another open ``Spool``) has the directory, SpoolError when it is unusable.
        """
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._owner.acquire(
                f"the spool directory {self.directory}", spool=str(self.directory), **owner
            )
            self._recover()
            self._start_segment(self._segments[-1].number + 1 if self._segments else 1)
        except LockHeld:
            raise
        except OSError as exc:
            self._owner.release()
            raise SpoolError(f"cannot open spool in {self.directory}: {exc}") from exc
        self.recovered_lines = self.pending_lines
        return self

    def close(self) -> None:
        """Flush, fsync and close the files, then release the directory. Pending lines stay
        for the next ``open``. Raises SpoolError when the cursor cannot be saved (the files are
        closed and the directory released all the same)."""
        try:
            if self._segments and self._owner.held:
                self._save_cursor()
        finally:
            with self._lock:
                try:
                    self._sync_locked()
                finally:
                    if self._out is not None:
                        with contextlib.suppress(OSError):
                            self._out.close()
                        self._out = None
                    self._close_read_fd()
                    self._owner.release()

    # -- state ---------------------------------------------------------------------------
    @property
    def pending_bytes(self) -> int:
        """Bytes appended but not yet committed."""
        return sum(seg.size for seg in self._segments) - self._offset

    @property
    def pending_lines(self) -> int:
        """Lines appended but not yet committed."""
        total = sum(seg.lines for seg in self._segments)
        return total - self._lines_before_offset

    @property
    def segments(self) -> int:
        return len(self._segments)

    def has_room(self, size: int) -> bool:
        """Whether ``size`` more bytes fit under ``max_bytes`` (always true for an empty spool)."""
        pending = self.pending_bytes
        return pending == 0 or pending + size <= self.max_bytes

    # -- appending (one thread) ----------------------------------------------------------
    def append(self, data: bytes, lines: int) -> None:
        """Append whole lines. Raises SpoolFull when they do not fit, SpoolError on I/O errors."""
        if not data:
            return
        with self._lock:
            if not self.has_room(len(data)):
                raise SpoolFull(f"spool holds {self.pending_bytes} of {self.max_bytes} bytes")
            active, out = self._segments[-1], self._out
        if out is None:
            raise SpoolError("the spool is not open")
        try:
            view = memoryview(data)
            while view:  # an unbuffered file: a short write is possible
                view = view[out.write(view) or 0 :]
        except OSError as exc:
            # nothing of this run counts: cut what reached the file, so a retry or the next
            # run starts on a line boundary (and a recovery cannot read it back)
            with contextlib.suppress(OSError):
                os.ftruncate(out.fileno(), active.size)
            raise SpoolError(f"cannot append to {active.path}: {exc}") from exc
        with self._lock:
            active.size += len(data)
            active.lines += lines
            self._dirty = True
            if self.fsync_interval == 0:
                self._sync_locked()
            if active.size >= self.segment_bytes:
                self._sync_locked()
                out.close()
                active.closed = True
                self._start_segment(active.number + 1)
            self._data_ready.notify_all()

    def maybe_sync(self) -> None:
        """fsync if ``fsync_interval`` has passed since the last one and something was written.

        Raises SpoolError when the fsync fails (it is tried again after the interval)."""
        if self._dirty and time.monotonic() - self._last_sync >= self.fsync_interval:
            with self._lock:
                self._sync_locked()

    def wait_for_room(self, size: int, timeout: float) -> bool:
        """Wait until ``size`` bytes fit; False on timeout."""
        with self._room:
            return self._room.wait_for(lambda: self.has_room(size), timeout)

    # -- reading (one thread) ------------------------------------------------------------
    def wait_for_data(self, timeout: float) -> bool:
        """Wait until something is pending; False on timeout."""
        with self._data_ready:
            return self._data_ready.wait_for(lambda: self.pending_bytes > 0, timeout)

    def wake(self) -> None:
        """Wake a thread blocked in ``wait_for_data`` or ``wait_for_room``."""
        with self._lock:
            self._data_ready.notify_all()
            self._room.notify_all()

    def read_batch(self, max_lines: int, max_bytes: int = 4 * 1024 * 1024) -> Batch | None:
        """The oldest uncommitted lines (at most ``max_lines``, about ``max_bytes``), or None.

        It reads about what ``max_lines`` lines take (from the segment's mean line length, a
        quarter more, at least a page), not ``max_bytes``: during a backlog every batch would
        otherwise be a read of ``max_bytes``, cut down, and malloc keeps such buffers' memory
        (docs/performance.md, "Ingester memory across outages"). Raises SpoolError on I/O errors.
        """
        with self._lock:
            self._drop_consumed()
            seg = self._segments[0]
            start = self._offset
            available = seg.size - start
            number = seg.number
            path = seg.path
            mean_line = seg.size / seg.lines if seg.lines else 0.0
        if available <= 0:
            return None
        size = min(available, max_bytes, max(_PAGE, int(max_lines * mean_line * 1.25) + 1))
        try:
            fd = self._fd_for(number, path)
            data = os.pread(fd, size, start)
            cut = data.rfind(b"\n") + 1
            while cut == 0:  # one line longer than the read: read on to its end
                more = os.pread(fd, max(size, _PAGE), start + len(data))
                if not more:
                    raise SpoolError(f"{path} ends without a newline at byte {start + len(data)}")
                data += more
                cut = data.rfind(b"\n") + 1
        except OSError as exc:
            raise SpoolError(f"cannot read {path}: {exc}") from exc
        lines = data.count(b"\n", 0, cut)
        if lines > max_lines:
            cut = _cut_after(data, cut, lines, max_lines)
            lines = max_lines
        if cut < len(data):
            data = data[:cut]
        return Batch(number, start, start + len(data), data, lines)

    def commit(self, batch: Batch) -> None:
        """Mark ``batch`` as stored: advance the cursor, delete finished segments, persist it.

        Raises SpoolError when ``batch`` is not the oldest uncommitted one.
        """
        with self._lock:
            seg = self._segments[0]
            if seg.number != batch.segment or self._offset != batch.start:
                raise SpoolError(f"commit out of order: {batch.segment}:{batch.start}")
            self._offset = batch.end
            self._lines_before_offset += batch.lines
            self._drop_consumed()
            self._room.notify_all()
        if time.monotonic() - self._cursor_saved >= self.cursor_interval:
            self._save_cursor()

    def _save_cursor(self) -> None:
        with self._lock:
            cursor = {"segment": self._segments[0].number, "offset": self._offset}
        try:
            tmp = self.directory / (_CURSOR + ".tmp")
            tmp.write_text(json.dumps(cursor))
            os.replace(tmp, self.directory / _CURSOR)
        except OSError as exc:
            raise SpoolError(f"cannot save the spool cursor: {exc}") from exc
        self._cursor_saved = time.monotonic()

    # -- internals -----------------------------------------------------------------------
    def _recover(self) -> None:
        found = sorted(
            (int(p.name[len(_PREFIX) : -len(_SUFFIX)]), p)
            for p in self.directory.glob(f"{_PREFIX}*{_SUFFIX}")
            if p.name[len(_PREFIX) : -len(_SUFFIX)].isdigit()
        )
        cursor = {"segment": 0, "offset": 0}
        with contextlib.suppress(OSError, ValueError):  # no cursor: start at the beginning
            cursor.update(json.loads((self.directory / _CURSOR).read_text()))
        for number, path in found:
            if number < cursor["segment"]:
                path.unlink()
                continue
            data = path.read_bytes()
            keep = data.rfind(b"\n") + 1
            if keep != len(data):  # a partial last line: its message was never acknowledged
                with open(path, "r+b") as handle:
                    handle.truncate(keep)
                data = data[:keep]
            self._segments.append(_Segment(number, path, keep, data.count(b"\n"), closed=True))
            if number == cursor["segment"] and len(self._segments) == 1:
                self._offset = min(int(cursor["offset"]), keep)
                self._lines_before_offset = data.count(b"\n", 0, self._offset)
        with self._lock:
            while self._segments and self._segments[0].size <= self._offset:
                self._segments.pop(0).path.unlink()
                self._offset = self._lines_before_offset = 0

    def _start_segment(self, number: int) -> None:
        path = self.directory / f"{_PREFIX}{number:012d}{_SUFFIX}"
        # unbuffered: a run is written with one write(), and a failed one leaves no buffer behind
        self._out = open(path, "ab", buffering=0)  # noqa: SIM115
        self._segments.append(_Segment(number, path, 0, 0, closed=False))

    def _drop_consumed(self) -> None:
        while len(self._segments) > 1:
            seg = self._segments[0]
            if not (seg.closed and self._offset >= seg.size):
                break
            self._segments.pop(0)
            if self._read_fd and self._read_fd[0] == seg.number:
                self._close_read_fd()
            seg.path.unlink(missing_ok=True)
            self._offset = self._lines_before_offset = 0

    def _fd_for(self, number: int, path: Path) -> int:
        if self._read_fd and self._read_fd[0] == number:
            return self._read_fd[1]
        self._close_read_fd()
        fd = os.open(path, os.O_RDONLY)
        self._read_fd = (number, fd)
        return fd

    def _close_read_fd(self) -> None:
        if self._read_fd:
            os.close(self._read_fd[1])
            self._read_fd = None

    def _sync_locked(self) -> None:
        """fsync the active segment if written since the last time. Raises SpoolError."""
        self._last_sync = time.monotonic()
        if self._out is not None and self._dirty:
            try:
                self._out.flush()
                os.fsync(self._out.fileno())
            except OSError as exc:
                raise SpoolError(f"cannot fsync {self._segments[-1].path}: {exc}") from exc
            self._dirty = False


def _cut_after(data: bytes, end: int, lines: int, keep: int) -> int:
    """The offset just after the ``keep``-th line of ``data[:end]``, which holds ``lines``
    lines (``keep < lines``), found without splitting ``data``: back from ``end`` when fewer
    lines are to be dropped than kept, else forward from the start."""
    if lines - keep < keep:
        for _ in range(lines - keep):
            end = data.rfind(b"\n", 0, end - 1) + 1
        return end
    pos = 0
    for _ in range(keep):
        pos = data.find(b"\n", pos) + 1
    return pos
