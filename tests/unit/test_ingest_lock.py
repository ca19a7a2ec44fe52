"""ProcessLock: one holder at a time, the holder named, released with the file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from alertloop.services.ingester.errors import LockHeld
from alertloop.services.ingester.lock import ProcessLock


def test_one_holder_and_the_refusal_names_it(tmp_path: Path) -> None:
    first = ProcessLock(tmp_path / "lock").acquire("the thing", client_id="a")
    with pytest.raises(
        LockHeld, match=rf"^the thing is in use by another ingester \(pid {os.getpid()}\)$"
    ):
        ProcessLock(tmp_path / "lock").acquire("the thing")
    first.release()
    ProcessLock(tmp_path / "lock").acquire("the thing").release()


def test_a_lock_of_another_process_is_seen_and_freed_when_it_dies(tmp_path: Path) -> None:
    path = tmp_path / "lock"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, pathlib; from alertloop.services.ingester.lock import ProcessLock; "
            f"ProcessLock(pathlib.Path({str(path)!r})).acquire('x', client_id='other'); "
            "print('held', flush=True); sys.stdin.read()",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        with pytest.raises(LockHeld) as caught:
            ProcessLock(path).acquire("x")
        assert caught.value.holder["pid"] == holder.pid
        assert caught.value.holder["client_id"] == "other"
    finally:
        holder.kill()  # no clean-up in the holder: the kernel releases the lock
        holder.wait(10)
    ProcessLock(path).acquire("x").release()


def test_a_removable_lock_leaves_no_file_and_a_stale_handle_starts_over(tmp_path: Path) -> None:
    path = tmp_path / "client.lock"
    lock = ProcessLock(path, remove_on_release=True).acquire("the id")
    lock.release()
    assert not path.exists()
    lock.acquire("the id")
    os.replace(tmp_path / "client.lock", tmp_path / "moved")  # its file is no longer at path
    again = ProcessLock(path, remove_on_release=True).acquire("the id")  # a new file
    assert again.held and path.exists()
    lock.release()  # the file at path is not its own: left alone
    assert path.exists()
    again.release()
    assert not path.exists()
