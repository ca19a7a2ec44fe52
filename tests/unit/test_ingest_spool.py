"""The on-disk spool: order, bound, segments, and recovery after a crash or a restart."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path
from typing import Any

import pytest

from alertloop.services.ingester.errors import LockHeld, SpoolError, SpoolFull
from alertloop.services.ingester.spool import Spool


def lines(start: int, count: int) -> bytes:
    return b"".join(b"pot value=%di %d\n" % (i % 100, i) for i in range(start, start + count))


def crash(spool: Spool) -> None:
    """What the kernel does for a killed process: the files close, so the lock is released."""
    spool._owner.release()


def drain(spool: Spool, max_lines: int = 1000) -> bytes:
    out = b""
    while (batch := spool.read_batch(max_lines)) is not None:
        out += batch.data
        spool.commit(batch)
    return out


def test_reads_back_in_order_in_bounded_batches(tmp_path: Path) -> None:
    spool = Spool(tmp_path).open()
    spool.append(lines(0, 10), 10)
    spool.append(lines(10, 5), 5)
    assert spool.pending_lines == 15
    batch = spool.read_batch(max_lines=4)
    assert batch is not None and batch.lines == 4 and batch.data == lines(0, 4)
    spool.commit(batch)
    assert drain(spool) == lines(4, 11)
    assert spool.read_batch(10) is None
    assert (spool.pending_bytes, spool.pending_lines) == (0, 0)
    spool.close()


def test_batches_respect_the_byte_limit_on_line_boundaries(tmp_path: Path) -> None:
    spool = Spool(tmp_path).open()
    spool.append(lines(0, 100), 100)
    batch = spool.read_batch(1000, max_bytes=100)
    assert batch is not None and batch.data.endswith(b"\n") and 0 < len(batch.data) <= 100
    spool.commit(batch)
    assert lines(0, 100) == batch.data + drain(spool)


@pytest.mark.parametrize("max_lines", [1, 2, 7, 99, 100, 101, 5000], ids=lambda n: f"max{n}")
def test_a_batch_is_the_first_max_lines_lines_whatever_their_lengths(
    tmp_path: Path, max_lines: int
) -> None:
    data = b"".join(
        b"pot,device=d%d value=%di %d\n" % (i % 7, i % 100, i * 10**i % 97) for i in range(300)
    )
    spool = Spool(tmp_path).open()
    spool.append(data, 300)
    expected = data.splitlines(keepends=True)
    batch = spool.read_batch(max_lines)
    assert batch is not None
    assert batch.data == b"".join(expected[: batch.lines])
    assert batch.lines == min(max_lines, 300)  # the mean line length plus a quarter is enough
    spool.commit(batch)
    assert batch.data + drain(spool, max_lines) == data
    spool.close()


def test_a_backlog_is_read_in_batch_sized_reads_not_max_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """During a backlog each read is about what ``max_lines`` lines take: a read of
    ``max_bytes`` per batch, cut down, leaves malloc holding megabytes after the drain."""
    spool = Spool(tmp_path).open()
    spool.append(lines(0, 20_000), 20_000)  # about 400 KB
    reads: list[int] = []
    real_pread = os.pread

    def pread(fd: int, size: int, offset: int) -> bytes:
        reads.append(size)
        return real_pread(fd, size, offset)

    monkeypatch.setattr("alertloop.services.ingester.spool.os.pread", pread)
    batch = spool.read_batch(100)
    assert batch is not None and batch.lines == 100 and batch.data == lines(0, 100)
    assert reads and max(reads) <= 4096  # 100 lines of about 20 bytes: one page
    reads.clear()
    spool.commit(batch)
    batch = spool.read_batch(5000)
    assert batch is not None and batch.lines == 5000 and batch.data == lines(100, 5000)
    mean = spool.pending_bytes / spool.pending_lines
    assert sum(reads) <= 5000 * mean * 1.25 + 1
    spool.close()


def test_full_spool_refuses_until_room_is_made(tmp_path: Path) -> None:
    data = lines(0, 10)
    spool = Spool(tmp_path, max_bytes=len(data) * 2).open()
    spool.append(data, 10)
    spool.append(data, 10)
    with pytest.raises(SpoolFull):
        spool.append(data, 10)
    assert not spool.wait_for_room(len(data), 0.01)
    batch = spool.read_batch(10)
    assert batch is not None
    spool.commit(batch)
    assert spool.wait_for_room(len(data), 0.01)
    spool.append(data, 10)


def test_empty_spool_takes_one_oversized_append(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=10).open()
    spool.append(lines(0, 10), 10)
    assert drain(spool) == lines(0, 10)


def test_segments_rotate_and_are_deleted_once_written(tmp_path: Path) -> None:
    spool = Spool(tmp_path, segment_bytes=200).open()
    for i in range(10):
        spool.append(lines(i * 10, 10), 10)
    assert spool.segments > 5
    assert drain(spool) == lines(0, 100)
    assert len(list(tmp_path.glob("seg-*.lp"))) == 1  # only the open one remains
    spool.close()


def test_restart_resumes_after_the_cursor(tmp_path: Path) -> None:
    spool = Spool(tmp_path, segment_bytes=300, cursor_interval=0).open()
    for i in range(6):
        spool.append(lines(i * 10, 10), 10)
    done = 0
    for _ in range(4):
        batch = spool.read_batch(7)  # a batch never spans two segments
        assert batch is not None
        spool.commit(batch)
        done += batch.lines
    spool.close()
    again = Spool(tmp_path, segment_bytes=300).open()
    assert again.recovered_lines == 60 - done
    assert drain(again) == lines(done, 60 - done)
    again.append(lines(60, 2), 2)
    assert drain(again) == lines(60, 2)


def test_crash_without_cursor_repeats_but_never_loses(tmp_path: Path) -> None:
    spool = Spool(tmp_path, cursor_interval=3600).open()
    spool.append(lines(0, 10), 10)
    batch = spool.read_batch(5)
    assert batch is not None
    spool.commit(batch)  # cursor not saved yet (interval), as after a SIGKILL
    crash(spool)
    again = Spool(tmp_path).open()
    assert drain(again) == lines(0, 10)


def test_partial_last_line_is_cut_at_recovery(tmp_path: Path) -> None:
    spool = Spool(tmp_path).open()
    spool.append(lines(0, 3), 3)
    spool.close()
    segment = sorted(tmp_path.glob("seg-*.lp"))[0]
    with open(segment, "ab") as handle:
        handle.write(b"pot value=9")  # a write cut short by a crash: never acknowledged
    again = Spool(tmp_path).open()
    assert again.recovered_lines == 3
    assert drain(again) == lines(0, 3)


def test_cursor_file_is_json(tmp_path: Path) -> None:
    spool = Spool(tmp_path, cursor_interval=0).open()
    spool.append(lines(0, 2), 2)
    batch = spool.read_batch(1)
    assert batch is not None
    spool.commit(batch)
    cursor = json.loads((tmp_path / "cursor.json").read_text())
    assert cursor["offset"] == batch.end


def test_out_of_order_commit_is_refused(tmp_path: Path) -> None:
    spool = Spool(tmp_path).open()
    spool.append(lines(0, 4), 4)
    first = spool.read_batch(2)
    assert first is not None
    spool.commit(first)
    with pytest.raises(SpoolError, match="out of order"):
        spool.commit(first)


def test_unusable_directory_raises(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(SpoolError):
        Spool(blocker / "spool").open()


def test_a_second_open_of_the_directory_is_refused_and_touches_nothing(tmp_path: Path) -> None:
    first = Spool(tmp_path).open(client_id="one")
    first.append(lines(0, 3), 3)
    before = sorted((p.name, p.stat().st_size) for p in tmp_path.iterdir())
    with pytest.raises(LockHeld, match=rf"spool directory {tmp_path} is in use.*pid {os.getpid()}"):
        Spool(tmp_path).open(client_id="two")
    assert sorted((p.name, p.stat().st_size) for p in tmp_path.iterdir()) == before
    first.close()
    again = Spool(tmp_path).open()  # released by close
    assert drain(again) == lines(0, 3)
    again.close()


def test_the_lock_file_names_the_holder(tmp_path: Path) -> None:
    spool = Spool(tmp_path).open(client_id="one")
    with pytest.raises(LockHeld) as caught:
        Spool(tmp_path).open()
    assert caught.value.holder["pid"] == os.getpid()
    assert caught.value.holder["client_id"] == "one"
    assert json.loads((tmp_path / "lock").read_text())["spool"] == str(tmp_path)
    spool.close()


class FailingFile:
    """A segment file that takes ``room`` more bytes, then fails like a full disk."""

    def __init__(self, real: Any, room: int) -> None:
        self.real, self.room = real, room

    def write(self, data: memoryview) -> int:
        if self.room <= 0:
            raise OSError(errno.ENOSPC, "No space left on device")
        taken = self.real.write(data[: self.room])
        self.room -= taken
        return int(taken)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


def test_a_failed_append_leaves_no_partial_run_behind(tmp_path: Path) -> None:
    spool = Spool(tmp_path).open()
    spool.append(lines(0, 2), 2)
    real = spool._out
    spool._out = FailingFile(real, room=7)  # type: ignore[assignment]
    with pytest.raises(SpoolError, match="No space left"):
        spool.append(lines(2, 3), 3)
    assert spool.pending_lines == 2
    spool._out = real
    spool.append(lines(2, 3), 3)  # the retry
    assert drain(spool) == lines(0, 5)
    spool.close()
    again = Spool(tmp_path).open()  # nothing of the failed run is recovered either
    assert again.recovered_lines == 0
    again.close()
